"""Tests of llm_infra.json loads/dumps: limits, errors with positions, types, secrets, NaN."""

from __future__ import annotations

import dataclasses
import enum
import json as stdjson
import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra import json
from llm_infra.errors import ConfigError, InfraError, SerializationError, ValidationError
from llm_infra.secrets import MASK, Secret

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values)
@settings(max_examples=150)
def test_round_trip(value: Any) -> None:
    """loads(dumps(v)) == v for any JSON value, and dumps_canonical is stable."""
    assert json.loads(json.dumps(value)) == value
    assert json.loads(json.dumps(value, sort_keys=True, indent=True)) == value
    assert json.dumps_canonical(json.loads(json.dumps_canonical(value))) == json.dumps_canonical(value)


@given(json_values)
@settings(max_examples=100)
def test_agrees_with_stdlib(value: Any) -> None:
    """Our decoder reads the stdlib encoder's output identically."""
    assert json.loads(stdjson.dumps(value)) == value


def test_loads_accepts_bytes_str_bytearray_memoryview() -> None:
    """All common input types decode."""
    for data in (b'{"a":1}', '{"a":1}', bytearray(b'{"a":1}'), memoryview(b'{"a":1}')):
        assert json.loads(data) == {"a": 1}
    big = b"[" + b"[1]," * 600 + b"2]"
    for data in (big, bytearray(big), memoryview(big)):
        assert len(json.loads(data)) == 601


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("[1,\n 2,\n x]", 3, 2),
        ('{"a": 1,}', 1, 8),
        ("", 1, 1),
        ('{"a": 1} {}', 1, 10),
        ('["é", x]', 1, 7),
    ],
)
def test_decode_errors_carry_line_and_column(text: str, line: int, column: int) -> None:
    """Malformed input raises SerializationError with 1-based line and column."""
    with pytest.raises(SerializationError) as info:
        json.loads(text)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert err.code == "json.invalid"
    assert err.format == "json"
    assert f"line {line}, column {column}" in err.message
    assert isinstance(err, ValueError)
    assert not err.retryable


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "[-Infinity]", "[1e400]", '{"a": NaN}'])
def test_nan_and_infinity_rejected_on_input(text: str) -> None:
    """NaN/Infinity literals and overflowing numbers are refused."""
    with pytest.raises(SerializationError) as info:
        json.loads(text)
    assert info.value.code == "json.invalid"


def test_invalid_utf8_rejected() -> None:
    """Bytes that are not UTF-8 raise SerializationError."""
    with pytest.raises(SerializationError) as info:
        json.loads(b'"\xff"')
    assert info.value.code == "json.invalid"


def nested(depth: int, pad: int = 0) -> str:
    return "[" * depth + "]" * depth + " " * pad


@pytest.mark.parametrize("pad", [0, 3000, 40_000])
@pytest.mark.parametrize("as_bytes", [True, False])
def test_default_depth_limit_is_512(pad: int, as_bytes: bool) -> None:
    """Depth 512 is accepted and 513 refused, whatever the document size and type."""

    def conv(text: str) -> bytes | str:
        return text.encode() if as_bytes else text

    assert json.loads(conv(nested(512, pad))) == json.loads(nested(512))
    assert json.loads(conv("[" + "[1]," * 20_000 + "2]")) is not None
    with pytest.raises(SerializationError) as info:
        json.loads(conv(nested(513, pad)))
    assert info.value.code == "json.too_deep"
    assert info.value.line == 1
    assert info.value.column == 513


@pytest.mark.parametrize("as_bytes", [True, False])
def test_depth_limit_with_objects_and_strings(as_bytes: bool) -> None:
    """Objects count as levels; brackets inside strings do not."""
    deep = '{"a":' * 10 + "1" + "}" * 10
    text = '["[[[[[[[[[[[[", ' + deep + "]"
    data: bytes | str = text.encode() if as_bytes else text
    assert json.loads(data, max_depth=11)
    with pytest.raises(SerializationError) as info:
        json.loads(data, max_depth=10)
    assert info.value.code == "json.too_deep"


def test_custom_depth_limits() -> None:
    """max_depth of 1 admits a flat array; 1024 is orjson's own limit."""
    assert json.loads("[1, 2]", max_depth=1) == [1, 2]
    with pytest.raises(SerializationError) as info:
        json.loads("[[1]]", max_depth=1)
    assert info.value.code == "json.too_deep"
    assert json.loads(nested(1024), max_depth=1024)
    with pytest.raises(SerializationError) as info:
        json.loads(nested(1025), max_depth=1024)
    assert info.value.code == "json.too_deep"
    assert (info.value.line, info.value.column) == (1, 1025)


@pytest.mark.parametrize("max_depth", [10, 512, 1024])
@pytest.mark.parametrize("as_bytes", [True, False])
def test_nesting_beyond_orjson_limit_is_too_deep(max_depth: int, as_bytes: bool) -> None:
    """Regression: past 1024 levels the error was json.invalid ("depth limit exceeded"), whatever max_depth.

    It is json.too_deep, pointing at the first bracket deeper than max_depth.
    """
    text = '{"a": ' + nested(1500) + "}"
    with pytest.raises(SerializationError) as info:
        json.loads(text.encode() if as_bytes else text, max_depth=max_depth)
    assert info.value.code == "json.too_deep"
    assert info.value.context.attributes["max_depth"] == max_depth
    # The object is level 1, so the max_depth-th "[" (column 6 + max_depth) is the first too deep.
    assert (info.value.line, info.value.column) == (1, 6 + max_depth)


@pytest.mark.parametrize("limit", [0, 1025, -3])
def test_bad_depth_limit_is_a_config_error(limit: int) -> None:
    """A max_depth outside 1..1024 raises ConfigError."""
    with pytest.raises(ConfigError) as info:
        json.loads("[]", max_depth=limit)
    assert info.value.code == "json.invalid_limit"
    assert info.value.key == "max_depth"


def test_negative_max_bytes_is_a_config_error() -> None:
    """A negative max_bytes raises ConfigError."""
    with pytest.raises(ConfigError) as info:
        json.loads("[]", max_bytes=-1)
    assert info.value.code == "json.invalid_limit"
    assert info.value.key == "max_bytes"


def test_invalid_document_that_looks_deep_reports_its_own_error() -> None:
    """A bracket-heavy invalid document reports its syntax error, not a depth error."""
    with pytest.raises(SerializationError) as info:
        json.loads("1],[2" + "[" * 700)
    assert info.value.code == "json.invalid"
    with pytest.raises(SerializationError) as info:
        json.loads("[1]]," + "[" * 600 + "]" * 600 + "[")
    assert info.value.code == "json.invalid"
    with pytest.raises(SerializationError) as info:
        json.loads(b"[" * 700 + b"x" + b"]" * 700)
    assert info.value.code == "json.invalid"


def test_document_closing_wrapper_levels_is_refused() -> None:
    """A non-value that balances inside the depth wrapper is still rejected."""
    sneaky = "0]" + ",[" + "[]," * 600 + "1"
    with pytest.raises(SerializationError) as info:
        json.loads(sneaky)
    assert info.value.code == "json.invalid"


@pytest.mark.parametrize("data", [b"[1, 2, 3]", "[1, 2, 3]", '["ééé"]'])
def test_max_bytes(data: bytes | str) -> None:
    """Documents over max_bytes (UTF-8 length) raise json.too_large; at the limit they pass."""
    size = len(data.encode() if isinstance(data, str) else data)
    assert json.loads(data, max_bytes=size) is not None
    with pytest.raises(SerializationError) as info:
        json.loads(data, max_bytes=size - 1)
    assert info.value.code == "json.too_large"


def test_dumps_compact_sorted_indented() -> None:
    """dumps is compact by default; sort_keys and indent work alone and together."""
    doc = {"b": 1, "a": [1, 2]}
    assert json.dumps(doc) == b'{"b":1,"a":[1,2]}'
    assert json.dumps(doc, sort_keys=True) == b'{"a":[1,2],"b":1}'
    assert json.dumps(doc, indent=True) == b'{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}'
    assert json.dumps(doc, sort_keys=True, indent=True).startswith(b'{\n  "a"')


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: float
    y: float
    label: str | None = None


def test_dumps_extended_types() -> None:
    """numpy, dataclasses, datetimes, UUIDs, enums, sets, Decimal and paths encode."""
    doc = {
        "arr": np.array([[1.0, 2.5], [3.0, 4.0]], dtype=np.float32),
        "ints": np.arange(3),
        "strided": np.arange(6)[::2],
        "objects": np.array(["a", "b"], dtype=object),
        "scalar": np.float64(0.5),
        "i": np.int16(7),
        "point": Point(1.0, 2.0),
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "id": uuid.UUID(int=1),
        "color": Color.RED,
        "set": {3, 1, 2},
        "mixed": {1, "a"},
        "price": Decimal("1.10"),
        "path": PurePosixPath("/tmp/x"),
    }
    out = json.loads(json.dumps(doc))
    assert out["arr"] == [[1.0, 2.5], [3.0, 4.0]]
    assert out["ints"] == [0, 1, 2]
    assert out["strided"] == [0, 2, 4]
    assert out["objects"] == ["a", "b"]
    assert out["scalar"] == 0.5
    assert out["i"] == 7
    assert out["point"] == {"x": 1.0, "y": 2.0, "label": None}
    assert out["when"] == "2026-01-02T03:04:05+00:00"
    assert out["day"] == "2026-01-02"
    assert out["id"] == "00000000-0000-0000-0000-000000000001"
    assert out["color"] == "red"
    assert out["set"] == [1, 2, 3]
    assert sorted(map(str, out["mixed"])) == ["1", "a"]
    assert out["price"] == "1.10"
    assert out["path"] == "/tmp/x"


def test_dumps_pydantic_models_and_errors() -> None:
    """Objects with model_dump and InfraErrors encode through their dict forms."""
    import pydantic

    class Model(pydantic.BaseModel):
        name: str
        key: pydantic.SecretStr

    out = json.loads(json.dumps({"m": Model(name="n", key=pydantic.SecretStr("hunter2"))}))
    assert out["m"]["name"] == "n"
    assert "hunter2" not in json.dumps(Model(name="n", key=pydantic.SecretStr("hunter2"))).decode()
    err = json.loads(json.dumps(ValidationError("bad", field="f")))
    assert err["code"] == "validation.invalid"
    assert err["fields"]["field"] == "f"


def test_secret_is_masked_everywhere_in_dumps() -> None:
    """A Secret at any position (top level, nested, in a dataclass) encodes as the mask."""

    @dataclasses.dataclass
    class Creds:
        user: str
        password: Secret[str]

    doc = {"token": Secret("s3cr3t"), "nested": [Secret(b"raw")], "creds": Creds("u", Secret("hunter2"))}
    out = json.dumps(doc)
    assert b"s3cr3t" not in out
    assert b"hunter2" not in out
    assert b"raw" not in out
    assert json.loads(out) == {"token": MASK, "nested": [MASK], "creds": {"user": "u", "password": MASK}}
    assert json.dumps(Secret("x")) == b'"**********"'


@pytest.mark.parametrize(
    "value",
    [object(), {1: "int key"}, 2**64, b"bytes", {"k": {1, object()}}],
    ids=["object", "int-key", "big-int", "bytes", "unsortable-set-of-objects"],
)
def test_unserializable_values(value: Any) -> None:
    """Unsupported values raise SerializationError json.unserializable."""
    with pytest.raises(SerializationError) as info:
        json.dumps(value)
    assert info.value.code == "json.unserializable"
    assert info.value.remediation if hasattr(info.value, "remediation") else info.value.context.remediation


def test_cycles_are_refused() -> None:
    """A self-referencing list raises SerializationError instead of crashing."""
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerializationError) as info:
        json.dumps(loop)
    assert info.value.code == "json.unserializable"


@pytest.mark.parametrize(
    "value",
    [
        np.array([1.0, np.nan]),
        np.array([np.inf], dtype=np.float32),
        np.float32("nan"),
        np.float64("-inf"),
        Decimal("NaN"),
        {"a": [np.array([1.0, np.inf])]},
    ],
)
def test_non_finite_numpy_and_decimal_always_rejected(value: Any) -> None:
    """numpy and Decimal NaN/Infinity raise json.non_finite even without check_finite."""
    with pytest.raises(SerializationError) as info:
        json.dumps(value)
    assert info.value.code == "json.non_finite"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (math.nan, ""),
        ([1.0, math.inf], "/1"),
        ({"a": {"b/c": [0, -math.inf]}}, "/a/b~1c/1"),
        ((1, (2, math.nan)), "/1/1"),
        (Point(1.0, math.nan), "/y"),
    ],
)
def test_check_finite_and_canonical_reject_python_nan(value: Any, path: str) -> None:
    """dumps(check_finite=True) and dumps_canonical reject float NaN/Infinity with their path."""
    for encode in (lambda v: json.dumps(v, check_finite=True), json.dumps_canonical):
        with pytest.raises(SerializationError) as info:
            encode(value)
        assert info.value.code == "json.non_finite"
        assert info.value.path == path
    assert json.find_non_finite(value) == path


def test_find_non_finite_on_subclasses() -> None:
    """Float, list and mapping subclasses are walked too."""

    class F(float):
        pass

    class L(list[Any]):
        pass

    assert json.find_non_finite(L([F("nan")])) == "/0"
    assert json.find_non_finite({"ok": [1.0, 2, "x", None]}) is None


def test_canonical_form() -> None:
    """Canonical output is sorted, whitespace-free and identical for equal inputs."""
    a = {"b": [1, {"d": 1, "c": 2}], "a": "é"}
    b = {"a": "é", "b": [1, {"c": 2, "d": 1}]}
    assert json.dumps_canonical(a) == json.dumps_canonical(b) == '{"a":"é","b":[1,{"c":2,"d":1}]}'.encode()


def test_serialization_errors_are_infra_errors() -> None:
    """The json errors belong to the InfraError tree with kind serialization."""
    with pytest.raises(InfraError) as info:
        json.loads("{")
    assert info.value.code == "json.invalid"
    assert info.value.kind == "serialization"


def test_default_writes_null_for_nan_and_check_passes_real_nulls() -> None:
    """By default NaN becomes null (orjson); with check_finite real None values still encode."""
    assert json.dumps([math.nan]) == b"[null]"
    doc = {"a": None, "b": 1.5, "c": "null"}
    assert json.dumps(doc, check_finite=True) == b'{"a":null,"b":1.5,"c":"null"}'
