"""Error codes of the ``json`` area (``json.<reason>``), one constant each."""

from __future__ import annotations

from typing import Final

INVALID: Final = "json.invalid"
TOO_DEEP: Final = "json.too_deep"
TOO_LARGE: Final = "json.too_large"
INVALID_LIMIT: Final = "json.invalid_limit"
NON_FINITE: Final = "json.non_finite"
UNSERIALIZABLE: Final = "json.unserializable"
INVALID_POINTER: Final = "json.invalid_pointer"
POINTER_NOT_FOUND: Final = "json.pointer_not_found"

DESCRIPTIONS: Final[dict[str, str]] = {
    INVALID: "the input is not valid JSON (the error carries the 1-based line and column)",
    TOO_DEEP: "the document nests arrays/objects deeper than max_depth",
    TOO_LARGE: "the document is longer than max_bytes (UTF-8 bytes)",
    INVALID_LIMIT: "loads got a max_depth outside 1..1024 or a negative max_bytes",
    NON_FINITE: "a NaN or Infinity was to be encoded (the error carries its JSON Pointer)",
    UNSERIALIZABLE: "a value cannot be encoded (unsupported type, non-str key, int beyond 64 bits, cycle)",
    INVALID_POINTER: "a JSON Pointer or one of its array indexes is malformed",
    POINTER_NOT_FOUND: "a JSON Pointer names a member or index that does not exist",
}

__all__ = [
    "DESCRIPTIONS",
    "INVALID",
    "INVALID_LIMIT",
    "INVALID_POINTER",
    "NON_FINITE",
    "POINTER_NOT_FOUND",
    "TOO_DEEP",
    "TOO_LARGE",
    "UNSERIALIZABLE",
]
