"""Environment mapping: prefix, ``__`` nesting, the single-``_`` rule, its ambiguity error, values."""

from __future__ import annotations

import os
from typing import Any

import pytest

from llm_infra.config import (
    DESIGN_KEYS,
    VECTOR_COLLECTION,
    VECTOR_DIMENSIONS,
    VECTOR_HNSW_EF_CONSTRUCTION,
    ConfigLoader,
    EnvSource,
    Key,
    list_of,
    load_config,
)
from llm_infra.config._sources import EnvIndex, parse_env_value
from llm_infra.errors import ConfigError


def _env(environ: dict[str, str], *keys: Key[Any]) -> dict[str, object]:
    return ConfigLoader(keys=keys).with_env(environ=environ).load().to_dict()


def test_double_underscore_nests() -> None:
    """``LLM_A__B__C`` sets ``a.b.c``; names are lower-cased and other prefixes are ignored."""
    assert _env({"LLM_A__B__C": "x", "OTHER_A": "y", "LLM_": "z"}) == {"a": {"b": {"c": "x"}}}


def test_single_underscore_maps_onto_declared_key() -> None:
    """``LLM_VECTOR_DIMENSIONS`` works as the troubleshooting guide says, because the key is declared."""
    cfg = ConfigLoader().with_env(environ={"LLM_VECTOR_DIMENSIONS": "1536"}).load()
    assert cfg.get(VECTOR_DIMENSIONS) == 1536
    origin = cfg.explain(VECTOR_DIMENSIONS).origin
    assert origin is not None
    assert origin.env_var == "LLM_VECTOR_DIMENSIONS"


def test_single_underscore_inside_segment_names() -> None:
    """``LLM_VECTOR_HNSW_EF_CONSTRUCTION`` resolves to ``vector.hnsw.ef_construction`` (underscore kept)."""
    cfg = ConfigLoader().with_env(environ={"LLM_VECTOR_HNSW_EF_CONSTRUCTION": "400"}).load()
    assert cfg.get(VECTOR_HNSW_EF_CONSTRUCTION) == 400


def test_mixed_spelling_resolves() -> None:
    """``LLM_VECTOR__HNSW_EF_SEARCH`` mixes both separators and still finds the declared key."""
    cfg = ConfigLoader().with_env(environ={"LLM_VECTOR__HNSW_EF_SEARCH": "50"}).load()
    assert cfg.get("vector.hnsw.ef_search") == 50


def test_undeclared_single_underscore_is_literal() -> None:
    """Without a declared key to match, ``_`` is part of the name."""
    assert _env({"LLM_FEATURE_FLAGS__NEW_UI": "true"}) == {"feature_flags": {"new_ui": True}}


def test_double_underscore_must_be_a_dot_in_the_key() -> None:
    """A ``__`` never stands for an underscore inside a segment: ``LLM_A__B__C`` is not ``a.b_c``."""
    key = Key("a.b_c", cast=int)
    assert _env({"LLM_A__B__C": "1"}, key) == {"a": {"b": {"c": 1}}}
    assert _env({"LLM_A_B_C": "1"}, key) == {"a": {"b_c": 1}}


def test_ambiguity_error() -> None:
    """A single-``_`` name spelling two declared keys fails, naming both and their ``__`` spellings."""
    keys = (Key("a.b_c", cast=int), Key("a.b.c", cast=int))
    with pytest.raises(ConfigError) as info:
        _env({"LLM_A_B_C": "1"}, *keys)
    assert info.value.code == "config.ambiguous_env"
    err = info.value
    assert err.code == "config.ambiguous_env"
    assert "LLM_A_B_C" in err.message
    assert "'a.b.c'" in err.message
    assert "'a.b_c'" in err.message
    assert "LLM_A__B__C" in err.message
    assert "LLM_A__B_C" in err.message
    assert err.attributes["candidates"] == ["a.b.c", "a.b_c"]


def test_exact_double_underscore_spelling_beats_ambiguity() -> None:
    """With colliding declared keys, each one is still reachable through its exact ``__`` spelling."""
    keys = (Key("a.b_c", cast=int), Key("a.b.c", cast=int))
    assert _env({"LLM_A__B_C": "1"}, *keys) == {"a": {"b_c": 1}}
    assert _env({"LLM_A__B__C": "2"}, *keys) == {"a": {"b": {"c": 2}}}


def test_design_keys_short_forms_are_unambiguous() -> None:
    """Every design key can be set with its single-underscore variable."""
    index = EnvIndex(key.name for key in DESIGN_KEYS)
    for key in DESIGN_KEYS:
        assert index.is_short_form_unambiguous(key.name), key.name
        assert index.resolve(key.short_env_var(), key.short_env_var()[4:], "LLM_") == key.path


def test_defaults_mapping_declares_names() -> None:
    """Leaves of a defaults mapping count as declared keys for the single-``_`` rule."""
    cfg = (
        ConfigLoader(keys=[])
        .with_defaults({"cache.max_size": 10})
        .with_env(environ={"LLM_CACHE_MAX_SIZE": "20"})
    )
    assert cfg.load().get("cache.max_size") == 20


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1536", 1536),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", "null"),
        ("[1, 2, 3]", [1, 2, 3]),
        ('["a", "b"]', ["a", "b"]),
        ('{"k": 1}', {"k": 1}),
        ('"quoted"', "quoted"),
        ("007", "007"),
        ("[draft] notes", "[draft] notes"),
        ("hello", "hello"),
        ("True", "True"),
        ("", ""),
        ("-v", "-v"),
    ],
)
def test_json_looking_values_are_parsed(raw: str, expected: object) -> None:
    """Numbers, booleans, arrays, objects and quoted strings parse as JSON; the rest (null too) stays text."""
    assert parse_env_value(raw) == expected


def test_json_array_becomes_tuple_in_config() -> None:
    """An env array is an immutable tuple in the snapshot and a list in ``to_dict``."""
    cfg = ConfigLoader(keys=[]).with_env(environ={"LLM_HOSTS": '["a", "b"]'}).load()
    assert cfg.get("hosts") == ("a", "b")
    assert cfg.to_dict() == {"hosts": ["a", "b"]}


def test_null_env_value_never_deletes_a_key(tmp_path: os.PathLike[str]) -> None:
    """``null`` is text: it neither unsets a declared key nor deletes a value set by a file."""
    key = Key("x.y", default=5)
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[key]).with_env(environ={"LLM_X__Y": "null"}).load()
    assert info.value.code == "config.wrong_type"
    path = os.path.join(os.fspath(tmp_path), "c.toml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('[x]\nname = "file"\n')
    loaded = ConfigLoader(keys=[]).with_file(path).with_env(environ={"LLM_X__NAME": "null"}).load()
    assert loaded.get("x.name") == "null"


@pytest.mark.parametrize(
    ("raw", "key", "expected"),
    [
        ("1.0", Key("vector.collection", cast=str), "1.0"),
        ("007", Key("a.name", cast=str), "007"),
        ("true", Key("a.label", cast=str), "true"),
        ("[1]", Key("a.title", cast=str), "[1]"),
        ("null", Key("a.text", cast=str), "null"),
        ("1536", Key("a.dims", cast=int), 1536),
        ("yes", Key("a.flag", cast=bool), True),
        ("2", Key("a.ratio", cast=float), 2.0),
        ("a,b", Key("a.hosts", cast=list_of(str), default=()), ("a", "b")),
        ('["a", "b"]', Key("a.more", cast=list_of(str), default=()), ("a", "b")),
    ],
)
def test_declared_keys_cast_env_values_by_their_type(raw: str, key: Key[Any], expected: object) -> None:
    """A declared scalar key converts the raw text with its own type, never a JSON guess first."""
    env_var = "LLM_" + key.name.replace(".", "__").upper()
    cfg = ConfigLoader(keys=[key]).with_env(environ={env_var: raw}).load()
    assert cfg.get(key) == expected


def test_vector_collection_from_env_is_text() -> None:
    """``LLM_VECTOR_COLLECTION=1.0`` gives the string ``"1.0"`` (a declared key of type str)."""
    cfg = ConfigLoader().with_env(environ={"LLM_VECTOR_COLLECTION": "1.0"}).load()
    assert cfg.get(VECTOR_COLLECTION) == "1.0"


def test_every_shared_key_reads_its_env_value() -> None:
    """Every shared key's cast (one_of with aliases, ranges, maps) takes its env text."""
    environ = {
        "LLM_VECTOR_DISTANCE": "euclidean",
        "LLM_VECTOR_HNSW_M": "32",
        "LLM_OTEL_SAMPLING_RATIO": "0.5",
        "LLM_OTEL_EXPORTER_OTLP_HEADERS": "k=v",
        "LLM_VECTOR_COMPRESSION_ENABLED": "on",
    }
    cfg = ConfigLoader().with_env(environ=environ).load()
    by_name = {key.name: key for key in DESIGN_KEYS}
    assert cfg.get(by_name["vector.distance"]) == "l2"
    assert cfg.get(by_name["vector.hnsw.m"]) == 32
    assert cfg.get(by_name["otel.sampling_ratio"]) == 0.5
    assert cfg.get(by_name["vector.compression.enabled"]) is True
    headers = cfg.get(by_name["otel.exporter.otlp.headers"])
    assert headers is not None
    assert dict(headers.reveal()) == {"k": "v"}


def test_env_section_and_value_conflict() -> None:
    """``LLM_A=1`` with ``LLM_A__B=2`` is a conflict naming both variables."""
    with pytest.raises(ConfigError) as info:
        _env({"LLM_A": "1", "LLM_A__B": "2"})
    assert info.value.code == "config.type_conflict"
    assert "LLM_A" in info.value.message
    assert "LLM_A__B" in info.value.message


def test_env_value_over_file_section_conflict(tmp_path: os.PathLike[str]) -> None:
    """An env scalar where a file has a section is a conflict naming both sources."""
    path = os.path.join(os.fspath(tmp_path), "c.toml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[db]\nhost = 'h'\n")
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[]).with_file(path).with_env(environ={"LLM_DB": "x"}).load()
    assert info.value.code == "config.type_conflict"
    assert path in info.value.message
    assert "LLM_DB" in info.value.message


@pytest.mark.parametrize("var", ["LLM_A__", "LLM___A", "LLM_A____B"])
def test_empty_segment_is_an_error(var: str) -> None:
    """A leading, trailing or doubled ``__`` leaves an empty segment: reported, not guessed at."""
    with pytest.raises(ConfigError) as info:
        _env({var: "1"})
    assert info.value.code == "config.invalid_env"
    assert var in info.value.message


def test_custom_prefix() -> None:
    """Another prefix reads only its own variables."""
    cfg = ConfigLoader(keys=[]).with_env(prefix="APP_", environ={"APP_PORT": "80", "LLM_PORT": "1"}).load()
    assert cfg.to_dict() == {"port": 80}
    assert cfg.info.env_prefixes == ("APP_",)


def test_empty_prefix_rejected() -> None:
    """An empty prefix would read the whole environment; it is refused."""
    with pytest.raises(ConfigError) as raised:
        EnvSource(prefix="")
    assert raised.value.code == "config.invalid_source"


def test_environ_none_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """``with_env(environ=None)`` reads ``os.environ`` at load time."""
    monkeypatch.setenv("LLMCFGTEST_VALUE", "42")
    loader = ConfigLoader(keys=[]).with_env(prefix="LLMCFGTEST_")
    assert loader.load().get("value") == 42
    monkeypatch.setenv("LLMCFGTEST_VALUE", "43")
    assert loader.load().get("value") == 43
    assert loader.environ() is os.environ


def test_load_config_reads_env_and_defaults() -> None:
    """``load_config()`` stacks the design defaults, files and the environment."""
    cfg = load_config(environ={"LLM_HTTP_MAX_RETRIES": "5"})
    assert cfg.get("http.max_retries") == 5
    assert cfg.get("http.timeout_secs") == 30.0
    assert load_config(environ={}, overrides={"http.max_retries": 7}).get("http.max_retries") == 7
