"""Error codes of the ``validation`` area (``validation.<reason>``), one constant each."""

from __future__ import annotations

from typing import Final

TYPE: Final = "validation.type"
EMPTY: Final = "validation.empty"
TOO_LONG: Final = "validation.too_long"
TOO_SHORT: Final = "validation.too_short"
INVALID_EMAIL: Final = "validation.invalid_email"
INVALID_URL: Final = "validation.invalid_url"
OUT_OF_RANGE: Final = "validation.out_of_range"

DESCRIPTIONS: Final[dict[str, str]] = {
    TYPE: "a validated type got a value of the wrong Python type (not a str; a bool or float for an int)",
    EMPTY: "a NonEmptyString got an empty or whitespace-only string",
    TOO_LONG: "a BoundedString is longer than max_length characters",
    TOO_SHORT: "a BoundedString is shorter than min_length characters",
    INVALID_EMAIL: "an Email is not a valid address (WHATWG rule, ASCII, <= 254 characters)",
    INVALID_URL: "a Url is not absolute, has a scheme not allowed, no host, port 0 or is too long",
    OUT_OF_RANGE: "a Dimensions value is outside 1..65536",
}

__all__ = [
    "DESCRIPTIONS",
    "EMPTY",
    "INVALID_EMAIL",
    "INVALID_URL",
    "OUT_OF_RANGE",
    "TOO_LONG",
    "TOO_SHORT",
    "TYPE",
]
