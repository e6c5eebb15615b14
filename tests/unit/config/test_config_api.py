"""The ``Config`` snapshot: reading, sections, immutability, explain, validate, diff."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from llm_infra.config import (
    DESIGN_KEYS,
    HTTP_TIMEOUT_SECS,
    OTEL_RESOURCE_ATTRIBUTES,
    VECTOR_COLLECTION,
    VECTOR_DIMENSIONS,
    VECTOR_DISTANCE,
    VECTOR_HNSW_M,
    Config,
    ConfigLoader,
    Key,
    load_config,
)
from llm_infra.errors import ConfigError


@pytest.fixture
def cfg() -> Config:
    """A config with defaults, nested sections, a list and an env value."""
    return (
        ConfigLoader()
        .with_defaults(DESIGN_KEYS)
        .with_overrides({"vector": {"collection": "docs", "dimensions": 384}, "tags": ["a", {"b": [1]}]})
        .with_env(environ={"LLM_VECTOR__HNSW__M": "32"})
        .load()
    )


def test_get_by_name_and_key(cfg: Config) -> None:
    """Dotted names give raw values; keys give converted values; unset names give None or the default."""
    assert cfg.get("vector.dimensions") == 384
    assert cfg.get(VECTOR_DIMENSIONS) == 384
    assert cfg.get(VECTOR_HNSW_M) == 32
    assert cfg.get(VECTOR_DISTANCE) == "cosine"
    assert cfg.get("nope.nothing") is None
    assert cfg.get("nope.nothing", 5) == 5
    assert cfg.get(Key("nope.required", cast=int), 7) == 7
    assert cfg.get(HTTP_TIMEOUT_SECS) == 30.0
    assert cfg.get(OTEL_RESOURCE_ATTRIBUTES) == {}


def test_key_default_when_unset() -> None:
    """An unset key with a default returns the default; a required one raises missing_key."""
    empty = Config()
    assert empty.get(HTTP_TIMEOUT_SECS) == 30.0
    with pytest.raises(ConfigError) as info:
        empty.get(VECTOR_COLLECTION)
    assert info.value.code == "config.missing_key"
    assert "(Collection name for the vector store.)" in info.value.message


def test_require_and_getitem(cfg: Config) -> None:
    """``require``/``[]`` return values (sections as dicts) and raise missing_key when unset."""
    assert cfg["vector.collection"] == "docs"
    assert cfg.require("vector.hnsw") == {"m": 32, "ef_construction": 200, "ef_search": 100}
    with pytest.raises(ConfigError) as info:
        cfg["vector.nope"]
    assert info.value.code == "config.missing_key"
    assert info.value.key == "vector.nope"


def test_contains(cfg: Config) -> None:
    """``in`` accepts names and keys, for values and sections."""
    assert "vector.dimensions" in cfg
    assert "vector" in cfg
    assert VECTOR_DIMENSIONS in cfg
    assert "vector.nope" not in cfg
    assert Key("zzz", cast=int) not in cfg
    assert 3 not in cfg
    assert VECTOR_DIMENSIONS in cfg.section("vector")
    assert HTTP_TIMEOUT_SECS not in cfg.section("vector")


def test_snapshot_is_immutable(cfg: Config) -> None:
    """Attributes cannot be set; lists come back as tuples; sections as fresh copies."""
    with pytest.raises(AttributeError):
        cfg.anything = 1  # type: ignore[attr-defined]
    tags = cfg.get("tags")
    assert tags == ("a", MappingProxyType({"b": (1,)}))
    with pytest.raises(TypeError):
        tags[1]["b"] = 2
    section = cfg.get("vector")
    section["dimensions"] = 1
    section["hnsw"]["m"] = 1
    assert cfg.get("vector.dimensions") == 384
    assert cfg.get("vector.hnsw.m") == 32
    exported = cfg.to_dict()
    exported["vector"]["dimensions"] = 2
    assert cfg.get("vector.dimensions") == 384


def test_section(cfg: Config) -> None:
    """A section is a Config of its own that keeps provenance and absolute key names."""
    vector = cfg.section("vector")
    assert vector.get("dimensions") == 384
    assert vector.get(VECTOR_DIMENSIONS) == 384
    assert vector.section("hnsw").get(VECTOR_HNSW_M) == 32
    explanation = vector.explain("hnsw.m")
    assert explanation.key == "vector.hnsw.m"
    assert explanation.origin is not None
    assert explanation.origin.env_var == "LLM_VECTOR__HNSW__M"
    with pytest.raises(ConfigError) as info:
        vector.get(HTTP_TIMEOUT_SECS)
    assert info.value.code == "config.key_outside_section"
    with pytest.raises(ConfigError) as info:
        vector.require("nope")
    assert info.value.key == "vector.nope"
    assert cfg.section("absent").to_dict() == {}
    with pytest.raises(ConfigError) as info:
        cfg.section("vector.dimensions")
    assert info.value.code == "config.not_a_section"


def test_section_of_cast_mapping() -> None:
    """A key converted to a mapping (``str_map``) is still usable as a section."""
    cfg = ConfigLoader().with_overrides({"otel.resource.attributes": "a=1,b=2"}).load()
    assert cfg.section("otel.resource.attributes").to_dict() == {"a": "1", "b": "2"}


def test_keys_len_iter_eq(cfg: Config) -> None:
    """``keys()``, ``len``, iteration and equality describe the leaves."""
    names = cfg.keys()
    assert "vector.hnsw.m" in names
    assert "tags" in names
    assert len(cfg) == len(names)
    assert list(cfg) == names
    assert cfg == cfg.merge(Config())
    assert cfg != Config({"x": 1})
    assert cfg.__eq__(1) is NotImplemented


def test_dotted_segment_display() -> None:
    """A key that itself contains a dot is quoted in dotted names and reachable through its section."""
    cfg = Config({"otel": {"resource": {"attributes": {"service.name": "svc"}}}})
    assert cfg.keys() == ['otel.resource.attributes."service.name"']
    assert cfg.get("otel.resource.attributes") == {"service.name": "svc"}


def test_explain_details(cfg: Config) -> None:
    """Explain reports the winner, shadowed sources, defaults, and a hint when unset."""
    dims = cfg.explain(VECTOR_DIMENSIONS)
    assert dims.is_set
    assert dims.value == 384
    assert str(dims) == "vector.dimensions = 384  [override]"
    m = cfg.explain("vector.hnsw.m")
    assert str(m) == "vector.hnsw.m = 32  [env LLM_VECTOR__HNSW__M] overrides default"
    unset = cfg.explain("otel.service.name")
    assert not unset.is_set
    assert unset.value is None
    assert "LLM_OTEL__SERVICE__NAME" in str(unset)
    key_default = Config().explain(HTTP_TIMEOUT_SECS)
    assert key_default.value == 30.0
    assert str(key_default.origin) == "default (key default)"
    section = cfg.explain("vector")
    assert section.value == cfg.get("vector")
    assert {e.key for e in cfg.explain_all()} == set(cfg.keys())


def test_validate_reports_all(cfg: Config) -> None:
    """``validate`` checks presence and type of several keys and reports every problem together."""
    cfg.validate(VECTOR_DIMENSIONS, VECTOR_COLLECTION, HTTP_TIMEOUT_SECS)
    bad = Key("tags", cast=int)
    with pytest.raises(ConfigError) as info:
        cfg.validate(VECTOR_DIMENSIONS, Key("otel.service.name", cast=str), bad)
    assert info.value.code == "config.invalid"
    err = info.value
    assert err.code == "config.invalid"
    assert "2 configuration problems" in err.message
    assert "otel.service.name: missing (required)" in err.message
    assert "config key 'tags': expected int, got tuple" in err.message


def test_changed_keys() -> None:
    """``changed_keys`` lists added, removed and changed values."""
    old = Config({"a": 1, "b": {"c": 2}, "d": 3})
    new = Config({"a": 1, "b": {"c": 5}, "e": 4})
    assert old.changed_keys(new) == {"b.c", "d", "e"}
    assert old.changed_keys(old) == frozenset()


def test_info_and_declared_keys(tmp_path: Any) -> None:
    """The snapshot remembers the files tried, env prefixes, load time and declared keys."""
    path = tmp_path / "c.json"
    path.write_text("{}", encoding="utf-8")
    cfg = load_config(path, environ={})
    assert cfg.info.files == ((str(path), True),)
    assert cfg.info.env_prefixes == ("LLM_",)
    assert cfg.info.loaded_at > 0
    assert cfg.declared_keys["vector.dimensions"] is VECTOR_DIMENSIONS
    assert "defaults" in cfg.sources


def test_repr_shows_masked_values() -> None:
    """The repr shows the values (for debug logging), with secrets masked."""
    cfg = ConfigLoader(keys=[Key("a.pw", cast=str, secret=True)]).with_overrides({"a.pw": "x", "b": 1}).load()
    assert repr(cfg) == "Config({'a': {'pw': '**********'}, 'b': 1})"


def test_loader_is_immutable_and_reports() -> None:
    """Loaders are immutable; each ``with_*`` returns a new one; keys/files/repr describe it."""
    base = ConfigLoader(keys=[])
    derived = base.with_file("a.toml", required=False).with_keys(VECTOR_DIMENSIONS)
    assert base.files == ()
    assert derived.files == ("a.toml",)
    assert list(derived.keys) == ["vector.dimensions"]
    assert "FileSource('a.toml'" in repr(derived)
    with pytest.raises(AttributeError):
        base._keys = {}  # type: ignore[misc]
    with pytest.raises(ConfigError) as raised:
        ConfigLoader(keys=["vector.dimensions"])  # type: ignore[list-item]
    assert raised.value.code == "config.invalid_key"
    with pytest.raises(ConfigError) as raised:
        ConfigLoader().with_defaults(["x"])  # type: ignore[list-item]
    assert raised.value.code == "config.invalid_source"
