"""``loads``/``dumps`` over orjson with limits, line/column errors and secret masking."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from decimal import Decimal
from itertools import accumulate, repeat
from operator import getitem
from pathlib import PurePath
from typing import Any, Final

import orjson

try:  # numpy is optional (the `vector` extra); without it no numpy value can reach the encoder
    import numpy as np
except ImportError:  # pragma: no cover - exercised by the no-extras subprocess test
    np = None  # type: ignore[assignment]

from llm_infra.errors import ConfigError, InfraError, SerializationError
from llm_infra.json import _codes
from llm_infra.json._patch import escape_token
from llm_infra.secrets import MASK, Secret

ORJSON_MAX_DEPTH: Final = 1024
"""orjson's own nesting limit; ``max_depth`` cannot exceed it."""

DEFAULT_MAX_DEPTH: Final = 512

_loads = orjson.loads
_dumps = orjson.dumps
_DecodeError = orjson.JSONDecodeError
_EncodeError = orjson.JSONEncodeError
_OPTIONS = (0, orjson.OPT_SORT_KEYS, orjson.OPT_INDENT_2, orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
_NUMPY_OPTION = orjson.OPT_SERIALIZE_NUMPY
_DEPTH_EXCEEDED = "depth limit exceeded"  # the message of orjson's JSONDecodeError at 1025 levels
_NUMPY_COUNT_THRESHOLD = 16_384  # above this many bytes numpy counts brackets faster than bytes.count


def _non_finite_error(path: str) -> SerializationError:
    return SerializationError(
        f"NaN and Infinity are not valid JSON (at {path or 'the document root'})",
        format="json",
        path=path or "",
        code=_codes.NON_FINITE,
        remediation=["Replace non-finite numbers (e.g. with None) before encoding."],
    )


def _default(obj: Any) -> Any:
    """Encode what orjson does not: secrets (masked), numpy, sets, Decimal, paths, models, errors."""
    if isinstance(obj, Secret):
        return MASK
    if np is not None and isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc" and not np.isfinite(obj).all():
            raise _non_finite_error("")
        try:
            return orjson.Fragment(_dumps(obj, option=_NUMPY_OPTION))
        except _EncodeError:
            return obj.tolist()  # non-contiguous or exotic dtypes: orjson encodes the list
    if np is not None and isinstance(obj, np.generic):
        value = obj.item()
        if isinstance(value, float) and not math.isfinite(value):
            raise _non_finite_error("")
        return value
    if isinstance(obj, set | frozenset):
        try:
            return sorted(obj)
        except TypeError:
            return list(obj)
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise _non_finite_error("")
        return str(obj)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, InfraError):
        return obj.to_dict()
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):  # pydantic models, without importing pydantic
        return model_dump(mode="json")
    raise TypeError(f"Type is not JSON serializable: {type(obj).__module__}.{type(obj).__qualname__}")


def find_non_finite(obj: Any) -> str | None:
    """Return the JSON Pointer of the first NaN/Infinity float in ``obj``, or None.

    Walks dicts, lists, tuples and dataclasses (what orjson encodes natively); numpy values are
    checked by the encoder itself.
    """
    stack: list[tuple[Any, str]] = [(obj, "")]
    isfinite = math.isfinite
    while stack:
        value, path = stack.pop()
        kind = type(value)
        if kind is float:
            if not isfinite(value):
                return path
        elif kind is dict or isinstance(value, Mapping):
            stack.extend((v, f"{path}/{escape_token(str(k))}") for k, v in value.items())
        elif kind is list or kind is tuple or isinstance(value, list | tuple):
            stack.extend((v, f"{path}/{i}") for i, v in enumerate(value))
        elif isinstance(value, float):
            if not isfinite(value):
                return path
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            stack.extend((getattr(value, f.name), f"{path}/{f.name}") for f in dataclasses.fields(value))
    return None


def _encode_error(exc: Exception) -> SerializationError:
    cause = exc.__cause__
    if isinstance(cause, SerializationError):
        return cause
    message = str(exc)
    return SerializationError(
        f"cannot encode as JSON: {message}",
        format="json",
        code=_codes.UNSERIALIZABLE,
        remediation=[
            "Pass dicts with str keys, lists, str, int (64-bit), float, bool, None, dataclasses, "
            "datetimes, UUIDs, enums or numpy arrays; convert anything else first.",
        ],
    )


def dumps(obj: Any, *, sort_keys: bool = False, indent: bool = False, check_finite: bool = False) -> bytes:
    """Encode ``obj`` as compact UTF-8 JSON bytes (orjson underneath).

    Beyond orjson's native types (dict, list, tuple, str, int, float, bool, None, dataclasses,
    datetimes as RFC 3339, UUIDs, enums) this encodes numpy arrays and scalars, sets (sorted
    when possible), ``Decimal`` (as a string), paths, pydantic models (``model_dump(mode="json")``)
    and ``InfraError`` (``to_dict()``). A ``Secret`` is written as ``"**********"``.

    Args:
        obj: the value to encode.
        sort_keys: sort object keys (by code point).
        indent: pretty-print with two spaces.
        check_finite: reject a Python ``float`` NaN/Infinity, which orjson otherwise writes as
            ``null`` (orjson's own behaviour, which users of it expect). Off by default because
            the check walks the document in Python whenever the output contains ``null``, which
            costs far more than the encoding; ``dumps_canonical`` always checks. numpy and
            ``Decimal`` values are always checked (nearly free).

    Raises:
        SerializationError: ``json.unserializable`` (unsupported type, non-str key, integer
            beyond 64 bits, cycle) or ``json.non_finite`` (NaN/Infinity, with its ``path``).

    .. versionadded:: 0.1.0
    """
    try:
        if sort_keys or indent:
            out: bytes = _dumps(obj, default=_default, option=_OPTIONS[sort_keys + 2 * indent])
        else:
            out = _dumps(obj, default=_default)
    except _EncodeError as exc:
        raise _encode_error(exc) from exc
    # orjson writes NaN/Infinity as null: no "null" in the output means no non-finite float.
    if check_finite and b"null" in out:
        path = find_non_finite(obj)
        if path is not None:
            raise _non_finite_error(path)
    return out


def dumps_canonical(obj: Any) -> bytes:
    """Encode ``obj`` deterministically, for hashing and signing.

    Keys are sorted by code point, there is no whitespace, floats use the shortest round-trip
    form, and NaN/Infinity are rejected. Equal inputs always give identical bytes. This is not
    RFC 8785 (JCS): JCS sorts keys by UTF-16 code units and formats numbers like ECMAScript,
    which differs for keys beyond U+FFFF and for large or tiny floats.

    Raises:
        SerializationError: as ``dumps``.

    .. versionadded:: 0.1.0
    """
    return dumps(obj, sort_keys=True, check_finite=True)


def _check_limits(max_depth: int, max_bytes: int | None) -> None:
    if not 1 <= max_depth <= ORJSON_MAX_DEPTH:
        raise ConfigError(
            f"max_depth must be in 1..{ORJSON_MAX_DEPTH}, got {max_depth}",
            key="max_depth",
            code=_codes.INVALID_LIMIT,
        )
    if max_bytes is not None and max_bytes < 0:
        raise ConfigError("max_bytes must be >= 0", key="max_bytes", code=_codes.INVALID_LIMIT)


def _decode_error(exc: orjson.JSONDecodeError) -> SerializationError:
    line, column = exc.lineno, exc.colno
    if exc.msg == _DEPTH_EXCEEDED:
        # orjson's own limit: past 1024 levels the document is too deep, not malformed. orjson
        # points just past the opening bracket that went too deep; report that bracket itself.
        return _too_deep(ORJSON_MAX_DEPTH, line, column - 1)
    return _located(f"invalid JSON at line {line}, column {column}: {exc.msg}", _codes.INVALID, line, column)


def _too_deep(max_depth: int, line: int, column: int) -> SerializationError:
    message = f"JSON nesting exceeds max_depth={max_depth} at line {line}, column {column}"
    return _located(message, _codes.TOO_DEEP, line, column, context={"max_depth": max_depth})


def _located(
    message: str, code: str, line: int, column: int, context: dict[str, object] | None = None
) -> SerializationError:
    """A decoding error at a 1-based line and column (in characters)."""
    return SerializationError(message, format="json", line=line, column=column, code=code, context=context)


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _opener_count(data: bytes | bytearray | str) -> int:
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    if np is not None and len(data) > _NUMPY_COUNT_THRESHOLD:
        # '[' (0x5B) and '{' (0x7B) are the only bytes that become 0x7B when bit 5 is set.
        return int(np.count_nonzero((np.frombuffer(data, np.uint8) | 32) == 0x7B))
    return data.count(b"[") + data.count(b"{")


def _loads_bounded(data: bytes | bytearray | str, max_depth: int) -> Any:
    # orjson refuses nesting deeper than 1024. Wrapping the document in (1024 - max_depth) arrays
    # makes that same check enforce max_depth, in C, without walking the result in Python.
    levels = ORJSON_MAX_DEPTH - max_depth
    if isinstance(data, str):
        wrapped: bytes | str = "[" * levels + data + "]" * levels
    else:
        wrapped = b"[" * levels + bytes(data) + b"]" * levels
    try:
        outer = _loads(wrapped)
    except _DecodeError as exc:
        try:
            _loads(data)
        except _DecodeError as own:
            if own.msg != _DEPTH_EXCEEDED:
                raise _decode_error(own) from own
        # The document alone is valid (or only deeper than orjson's 1024 levels), so the wrapper
        # failed on depth. orjson points just past the opening bracket that went too deep;
        # report that bracket itself.
        column = exc.colno - 1 - (levels if exc.lineno == 1 else 0)
        raise _too_deep(max_depth, exc.lineno, column) from exc
    # Each wrapper level must hold exactly one element, else the document closed a wrapper
    # bracket itself (it was not one JSON value) and is parsed alone to report its error.
    chain = list(accumulate(repeat(0, levels), getitem, initial=outer))
    if max(map(len, chain[:levels])) != 1:
        try:
            return _loads(data)
        except _DecodeError as own:
            raise _decode_error(own) from own
    return chain[levels]


def loads(
    data: bytes | bytearray | memoryview | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int | None = None,
) -> Any:
    """Decode JSON (RFC 8259) with limits.

    NaN, Infinity, trailing commas, comments and invalid UTF-8 are rejected. Integers beyond
    64 bits decode as floats (orjson's behaviour).

    Args:
        data: UTF-8 bytes or a str.
        max_depth: the deepest nesting of arrays/objects accepted (1..1024; ``[]`` is depth 1).
        max_bytes: the largest accepted document in UTF-8 bytes, or None for no limit.

    Raises:
        SerializationError: ``json.invalid`` with 1-based ``line`` and ``column`` (in characters);
            ``json.too_deep``; ``json.too_large``.
        ConfigError: on an out-of-range limit.

    .. versionadded:: 0.1.0
    """
    # A document of depth d has at least d openers and 2d bytes: short documents under the
    # default limits go straight to orjson.
    if max_bytes is None and max_depth == DEFAULT_MAX_DEPTH and len(data) <= 2 * DEFAULT_MAX_DEPTH:
        try:
            return _loads(data)
        except _DecodeError as exc:
            raise _decode_error(exc) from exc
    return _loads_checked(data, max_depth, max_bytes)


def _loads_checked(data: bytes | bytearray | memoryview | str, max_depth: int, max_bytes: int | None) -> Any:
    if isinstance(data, memoryview):
        data = data.tobytes()
    size = len(data)
    if max_bytes is not None:
        if max_bytes < 0:
            _check_limits(max_depth, max_bytes)
        if size > max_bytes or (
            isinstance(data, str) and size * 4 > max_bytes and _utf8_length(data) > max_bytes
        ):
            raise SerializationError(
                f"JSON document exceeds max_bytes={max_bytes}",
                format="json",
                code=_codes.TOO_LARGE,
                context={"max_bytes": max_bytes},
            )
    if max_depth != DEFAULT_MAX_DEPTH and not 1 <= max_depth <= ORJSON_MAX_DEPTH:
        _check_limits(max_depth, max_bytes)
    if max_depth < ORJSON_MAX_DEPTH and size > 2 * max_depth and _opener_count(data) > max_depth:
        return _loads_bounded(data, max_depth)
    try:
        return _loads(data)
    except _DecodeError as exc:
        raise _decode_error(exc) from exc
