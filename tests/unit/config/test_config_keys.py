"""Typed keys, strict casts, the design's keys and the generated key table."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any, assert_type

import pytest

import llm_infra
import llm_infra.config as config_pkg
from llm_infra.config import (
    DESIGN_KEYS,
    HTTP_TIMEOUT_SECS,
    MISSING,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_TYPE,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SERVICE_VERSION,
    VECTOR_DIMENSIONS,
    VECTOR_DISTANCE,
    Config,
    ConfigLoader,
    Key,
    float_range,
    int_range,
    list_of,
    one_of,
    str_map,
)
from llm_infra.config._casts import CastError, strict_cast, to_bool, to_float, to_int, to_str, type_name
from llm_infra.config._gen_keys import main
from llm_infra.config._keys import TABLE_END, TABLE_START, key_table, render_doc
from llm_infra.errors import ConfigError
from llm_infra.secrets import Secret

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def test_key_types_are_inferred() -> None:
    """Overloads give ``Key[T]`` from ``cast``/``default``/``secret`` so ``cfg.get(KEY)`` is typed."""
    cfg = Config({"a": 1, "b": 2.5, "c": "x", "d": "s"})
    a = Key("a", cast=int)
    b = Key("b", default=3.0)
    c = Key("c", cast=str, default=None)
    d = Key("d", cast=str, secret=True)
    e = Key("e", cast=str, default=None, secret=True)
    f = Key[int]("f")
    assert_type(a, Key[int])
    assert_type(b, Key[float])
    assert_type(c, Key[str | None])
    assert_type(d, Key[Secret[str]])
    assert_type(e, Key[Secret[str] | None])
    assert_type(cfg.get(a), int)
    assert_type(cfg.get(a, None), int | None)
    design = Config({"vector.dimensions": 3})
    assert_type(design.get(VECTOR_DIMENSIONS), int)
    assert_type(design.get(VECTOR_DISTANCE), str)
    assert_type(design.get(HTTP_TIMEOUT_SECS), float)
    assert_type(design.get(OTEL_SERVICE_VERSION), str | None)
    assert_type(design.get(OTEL_EXPORTER_OTLP_HEADERS), Secret[Mapping[str, str]] | None)
    assert_type(design.get(OTEL_RESOURCE_ATTRIBUTES), Mapping[str, str])
    assert_type(cfg.get("a"), Any)
    assert_type(cfg.get(a), int)
    assert cfg.get(a) == 1
    assert cfg.get(b) == 2.5
    assert cfg.get(c) == "x"
    assert cfg.get(d) == Secret("s")
    assert cfg.get(e) is None
    assert f.default is MISSING


def test_key_properties() -> None:
    """A key knows whether it is required, its type name, env vars and repr."""
    assert VECTOR_DIMENSIONS.required
    assert VECTOR_DIMENSIONS.type_name == "int in [1, 65536]"
    assert VECTOR_DIMENSIONS.env_var() == "LLM_VECTOR__DIMENSIONS"
    assert VECTOR_DIMENSIONS.short_env_var("APP_") == "APP_VECTOR_DIMENSIONS"
    assert repr(VECTOR_DIMENSIONS) == "Key('vector.dimensions', int in [1, 65536], required)"
    assert repr(HTTP_TIMEOUT_SECS) == "Key('http.timeout_secs', float in [0.0, inf], default=30.0)"
    assert OTEL_EXPORTER_OTLP_HEADERS.type_name == "Secret[map[str, str]]"
    assert Key("x", default=[1]).type_name == "any"
    assert repr(MISSING) == "MISSING"
    with pytest.raises(AttributeError):
        VECTOR_DIMENSIONS.name = "x"
    with pytest.raises(LookupError):
        VECTOR_DIMENSIONS.default_value()


def test_key_conversion_is_strict() -> None:
    """``cast=bool`` reads ``"false"`` as False and refuses ``"maybe"``; a bool is not an int."""
    flag = Key("f", cast=bool)
    assert flag.convert("false") is False
    assert flag.convert("ON") is True
    with pytest.raises(CastError):
        flag.convert("maybe")
    with pytest.raises(CastError):
        Key("n", cast=int).convert(True)


@pytest.mark.parametrize(
    ("cast", "value", "expected"),
    [
        (to_int, 3, 3),
        (to_int, " 42 ", 42),
        (to_float, 1, 1.0),
        (to_float, "2.5", 2.5),
        (to_bool, 1, True),
        (to_bool, "no", False),
        (to_str, "s", "s"),
    ],
)
def test_strict_casts_accept(cast: Any, value: object, expected: object) -> None:
    """Strict casts accept unambiguous spellings."""
    assert cast(value) == expected


@pytest.mark.parametrize(
    ("cast", "value"),
    [
        (to_int, True),
        (to_int, 1.5),
        (to_int, "1.5"),
        (to_int, None),
        (to_float, False),
        (to_float, "x"),
        (to_float, []),
        (to_bool, 2),
        (to_bool, "yes please"),
        (to_bool, 1.0),
        (to_str, 1.10),
    ],
)
def test_strict_casts_refuse(cast: Any, value: object) -> None:
    """Strict casts refuse values the builtins would silently accept or mangle."""
    with pytest.raises(CastError):
        cast(value)


def test_cast_helpers() -> None:
    """``one_of``, ranges, ``list_of`` and ``str_map`` convert and describe themselves."""
    distance = one_of("cosine", "l2", aliases={"euclidean": "l2"})
    assert distance("COSINE") == "cosine"
    assert distance("euclidean") == "l2"
    assert type_name(distance) == "'cosine' | 'l2'"
    with pytest.raises(CastError):
        distance("dot")
    with pytest.raises(CastError):
        distance(1)
    with pytest.raises(ValueError, match="at least one"):
        one_of()
    assert int_range(1, 3)(2) == 2
    assert int_range()(-(10**9)) == -(10**9)
    assert type_name(int_range(min=0)) == "int in [0, inf]"
    with pytest.raises(CastError):
        int_range(1, 3)(4)
    assert float_range(0, 1)(0.5) == 0.5
    assert type_name(float_range(max=2)) == "float in [-inf, 2.0]"
    with pytest.raises(CastError):
        float_range(0, 1)(float("nan"))
    with pytest.raises(CastError):
        float_range(0, 1)(-1)
    ints = list_of(int)
    assert ints([1, "2"]) == (1, 2)
    assert ints("1, 2,,3") == (1, 2, 3)
    assert type_name(ints) == "list[int]"
    with pytest.raises(CastError, match="item 1"):
        ints([1, "x"])
    with pytest.raises(CastError):
        ints(5)
    assert dict(str_map("a=1, b = 2,")) == {"a": "1", "b": "2"}
    assert dict(str_map({"a": 1, "b": True})) == {"a": "1", "b": "true"}
    for bad in ("novalue", "=x", {"a": [1]}, 3):
        with pytest.raises(CastError):
            str_map(bad)
    assert strict_cast(len) is len
    assert type_name(len) == "len"

    class Color(enum.Enum):
        RED = "red"

    assert Key("c", cast=Color).convert("red") is Color.RED
    assert type_name(object()).startswith("<object")


def test_shared_keys_carry_their_documented_defaults() -> None:
    """The shared keys carry their documented defaults and are all exported."""
    defaults = {key.name: key.default for key in DESIGN_KEYS}
    assert defaults["vector.distance"] == "cosine"
    assert defaults["vector.hnsw.m"] == 16
    assert defaults["vector.hnsw.ef_construction"] == 200
    assert defaults["vector.hnsw.ef_search"] == 100
    assert defaults["vector.compression.enabled"] is False
    assert defaults["http.timeout_secs"] == 30.0
    # The HTTP client's own defaults: three attempts, 100 ms base delay, llm-infra's User-Agent.
    assert defaults["http.max_retries"] == 2
    assert defaults["http.retry_delay_ms"] == 100
    assert defaults["http.user_agent"] == f"llm-infra/{llm_infra.__version__}"
    assert defaults["otel.environment"] == "development"
    assert defaults["otel.exporter.type"] == "otlp"
    assert defaults["otel.exporter.otlp.endpoint"] == "http://localhost:4318"
    assert defaults["otel.exporter.otlp.protocol"] == "http/protobuf"
    assert defaults["otel.exporter.otlp.timeout_secs"] == 10.0
    assert defaults["otel.exporter.otlp.compression"] == "none"
    assert defaults["otel.exporter.stdout.pretty"] is True
    assert defaults["otel.metrics.export_interval_secs"] == 60.0
    for required in ("vector.collection", "vector.dimensions", "otel.service.name"):
        assert defaults[required] is MISSING
    exported = {getattr(config_pkg, name) for name in config_pkg.__all__ if name.isupper()}
    assert set(DESIGN_KEYS) <= exported
    assert len({key.name for key in DESIGN_KEYS}) == len(DESIGN_KEYS)
    assert OTEL_EXPORTER_TYPE.convert("console") == "stdout"


def test_design_defaults_load_and_validate() -> None:
    """Loading the design defaults passes their own validation."""
    cfg = ConfigLoader().with_defaults(DESIGN_KEYS).load()
    assert cfg.get("vector.hnsw.m") == 16
    assert "otel.service.version" not in cfg


def test_key_table_lists_every_key() -> None:
    """The generated table has one row per key with its env var, type and default."""
    table = key_table()
    assert len(table.strip().splitlines()) == len(DESIGN_KEYS) + 2
    assert "| `vector.dimensions` | `LLM_VECTOR__DIMENSIONS` | int in [1, 65536] | required |" in table
    assert "`'cosine'`" in table
    assert "'otlp' \\| 'jaeger'" in table
    assert "| `otel.service.version` | `LLM_OTEL__SERVICE__VERSION` | str | unset |" in table


def test_docs_key_table_is_up_to_date() -> None:
    """docs/config.md holds the current table (regenerate: ``python -m llm_infra.config._gen_keys``)."""
    text = DOC.read_text(encoding="utf-8")
    assert TABLE_START in text
    assert TABLE_END in text
    assert render_doc(text) == text, "run: .venv/bin/python -m llm_infra.config._gen_keys docs/config.md"


def test_table_generator_cli(tmp_path: Path) -> None:
    """The generator rewrites a stale table and ``--check`` reports staleness."""
    page = tmp_path / "page.md"
    page.write_text(f"# Keys\n{TABLE_START}\nold\n{TABLE_END}\nafter\n", encoding="utf-8")
    assert main(["--check", str(page)]) == 1
    assert main([str(page)]) == 0
    assert main(["--check", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "old" not in text
    assert text.endswith(f"{TABLE_END}\nafter\n")


def test_invalid_defaults_source_entry() -> None:
    """A defaults source refuses things that are neither keys nor mappings."""
    with pytest.raises(ConfigError) as raised:
        ConfigLoader().with_defaults([VECTOR_DIMENSIONS, 3])  # type: ignore[list-item]
    assert raised.value.code == "config.invalid_source"
