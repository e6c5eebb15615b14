"""Binding sections onto pydantic models and dataclasses, with every problem reported at once."""

from __future__ import annotations

import dataclasses
import enum
import pathlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest

from llm_infra.config import Config, ConfigLoader, Key
from llm_infra.errors import ConfigError
from llm_infra.secrets import MASK, Secret


class Thing:
    pass


@dataclasses.dataclass
class Holder:
    thing: Thing
    distance: Distance


class Distance(enum.Enum):
    COSINE = "cosine"
    L2 = "l2"


@dataclasses.dataclass(frozen=True)
class Hnsw:
    m: int = 16
    ef_search: int = 100


@dataclasses.dataclass(frozen=True)
class VectorSettings:
    collection: str
    dimensions: int
    distance: Distance = Distance.COSINE
    hnsw: Hnsw = dataclasses.field(default_factory=Hnsw)
    tags: tuple[str, ...] = ()
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    mode: Literal["fast", "exact"] = "fast"
    api_key: Secret[str] | None = None
    path: pathlib.Path | None = None
    extra: Any = None


class HnswModel(pydantic.BaseModel):
    m: int = 16
    ef_search: int = 100


class VectorModel(pydantic.BaseModel):
    collection: str
    dimensions: int = pydantic.Field(gt=0)
    hnsw: HnswModel = HnswModel()
    api_key: pydantic.SecretStr | None = None
    token: Secret[str] | None = None

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)


def _cfg(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return ConfigLoader(keys=[]).with_file(path).with_env(environ=environ or {}).load()


GOOD = (
    '[vector]\ncollection = "docs"\ndimensions = 384\ndistance = "L2"\ntags = ["a"]\n'
    'weights = {a = 1, b = 0.5}\nmode = "exact"\napi_key = "${env:K}"\npath = "/tmp/x"\n'
    "[vector.hnsw]\nm = 32\n"
)


def test_bind_dataclass(tmp_path: Path) -> None:
    """A section binds onto nested frozen dataclasses with enums, literals, tuples, dicts and secrets."""
    cfg = _cfg(tmp_path, GOOD, {"K": "k"})
    settings = cfg.bind(VectorSettings, "vector")
    assert settings.collection == "docs"
    assert settings.distance is Distance.L2
    assert settings.hnsw == Hnsw(m=32)
    assert settings.tags == ("a",)
    assert settings.weights == {"a": 1.0, "b": 0.5}
    assert settings.mode == "exact"
    assert isinstance(settings.api_key, Secret)
    assert settings.api_key.reveal() == "k"
    assert settings.path == pathlib.Path("/tmp/x")


def test_bind_dataclass_reports_all_problems(tmp_path: Path) -> None:
    """Every bad field is reported in one error, with the key, the expectation and file:line:column."""
    text = (
        '[vector]\ndimensions = "many"\ndistance = "hamming"\ntags = "a"\nmode = "slow"\n'
        "weights = {a = 'x'}\n[vector.hnsw]\nm = 1.5\n"
    )
    cfg = _cfg(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        cfg.bind(VectorSettings, "vector")
    assert info.value.code == "config.validation"
    err = info.value
    assert err.code == "config.validation"
    keys = [e["key"] for e in err.attributes["errors"]]
    assert keys == [
        "vector.collection",
        "vector.dimensions",
        "vector.distance",
        "vector.hnsw.m",
        "vector.tags",
        "vector.weights.a",
        "vector.mode",
    ]
    path = tmp_path / "c.toml"
    assert "7 problems binding configuration to VectorSettings" in err.message
    assert (
        "vector.collection: missing (required); set it in a file or as LLM_VECTOR__COLLECTION" in err.message
    )
    assert f"vector.dimensions: expected int, got str 'many' (from file {path}:2:1)" in err.message
    assert "vector.distance: expected one of 'cosine' | 'l2'" in err.message
    assert f"vector.hnsw.m: expected int, got float 1.5 (from file {path}:8:1)" in err.message
    assert "vector.mode: expected one of 'fast' | 'exact', got str 'slow'" in err.message


def test_bind_dataclass_post_init_errors(tmp_path: Path) -> None:
    """A dataclass that validates itself in ``__post_init__`` has its message reported."""

    @dataclasses.dataclass
    class Limits:
        low: int
        high: int

        def __post_init__(self) -> None:
            if self.low > self.high:
                raise ConfigError("low must not exceed high")

    cfg = Config({"limits": {"low": 5, "high": 1}})
    with pytest.raises(ConfigError) as info:
        cfg.bind(Limits, "limits")
    assert info.value.code == "config.validation"
    assert "Limits rejected the values: low must not exceed high" in info.value.message


def test_bind_dataclass_shapes() -> None:
    """Unions, fixed tuples, sets, sequences, mappings and nested errors are handled."""

    @dataclasses.dataclass
    class Shapes:
        either: int | str
        pair: tuple[int, str]
        uniq: set[int]
        frozen: frozenset[str]
        seq: Sequence[int]
        listed: list[int]
        mapping: Mapping[str, int]
        maybe: int | None = None
        nothing: None = None

    cfg = Config(
        {
            "s": {
                "either": "x",
                "pair": [1, "a"],
                "uniq": [1, 1, 2],
                "frozen": ["a"],
                "seq": [1],
                "listed": [2],
                "mapping": {"a": 1},
            }
        }
    )
    shapes = cfg.bind(Shapes, "s")
    assert shapes.either == "x"
    assert shapes.pair == (1, "a")
    assert shapes.uniq == {1, 2}
    assert shapes.frozen == frozenset({"a"})
    assert shapes.seq == (1,)
    assert shapes.listed == [2]
    assert shapes.mapping == {"a": 1}
    bad = Config(
        {
            "s": {
                "either": [1],
                "pair": [1],
                "uniq": 3,
                "frozen": ["a"],
                "seq": [1],
                "listed": ["x"],
                "mapping": 3,
                "maybe": "no",
                "nothing": 1,
            }
        }
    )
    with pytest.raises(ConfigError) as info:
        bad.bind(Shapes, "s")
    assert info.value.code == "config.validation"
    message = info.value.message
    assert "s.either: expected int | str, got tuple" in message
    assert "s.pair: expected 2 items, got 1" in message
    assert "s.uniq: expected a list, got int 3" in message
    assert "s.listed.0: expected int, got str 'x'" in message
    assert "s.mapping: expected a mapping, got int 3" in message
    assert "s.maybe: expected int | NoneType, got str 'no'" in message
    assert "s.nothing: expected None, got int 1" in message


def test_bind_dataclass_section_not_a_mapping() -> None:
    """A nested dataclass field given a scalar is reported."""

    @dataclasses.dataclass
    class Outer:
        hnsw: Hnsw

    with pytest.raises(ConfigError) as info:
        Config({"o": {"hnsw": 3}}).bind(Outer, "o")
    assert info.value.code == "config.validation"
    assert "o.hnsw: expected a section for Hnsw, got int 3" in info.value.message


def test_bind_dataclass_other_types() -> None:
    """Fields of other classes accept instances only; enums accept member names too."""

    with pytest.raises(ConfigError) as info:
        Config({"h": {"thing": "x", "distance": "cosine"}}).bind(Holder, "h")
    assert info.value.code == "config.validation"
    assert "h.thing: expected Thing, got str 'x'" in info.value.message
    assert (
        Config({"h": {"thing": Thing(), "distance": "COSINE"}}).bind(Holder, "h").distance is Distance.COSINE
    )


def test_bind_whole_config_and_unresolvable_hints() -> None:
    """Without a section the whole config binds; unresolvable annotations are a ConfigError."""
    assert Config({"m": 4}).bind(Hnsw) == Hnsw(m=4)

    @dataclasses.dataclass
    class Broken:
        x: UndefinedName  # type: ignore[name-defined]  # noqa: F821 - deliberately unresolvable

    with pytest.raises(ConfigError) as info:
        Config({}).bind(Broken)
    assert info.value.code == "config.invalid_model"


def test_bind_rejects_other_targets() -> None:
    """Only pydantic models and dataclasses can be bound."""
    with pytest.raises(ConfigError) as info:
        Config({}).bind(dict)
    assert info.value.code == "config.invalid_model"


def test_bind_pydantic(tmp_path: Path) -> None:
    """A pydantic model binds; SecretStr fields receive the revealed value, Secret fields the Secret."""
    cfg = _cfg(
        tmp_path,
        '[vector]\ncollection = "docs"\ndimensions = 3\napi_key = "${env:K}"\ntoken = "${env:K}"\n'
        "[vector.hnsw]\nm = 8\n",
        {"K": "sekrit-value"},
    )
    model = cfg.bind(VectorModel, "vector")
    assert model.collection == "docs"
    assert model.hnsw.m == 8
    assert model.api_key is not None
    assert model.api_key.get_secret_value() == "sekrit-value"
    assert isinstance(model.token, Secret)
    assert "sekrit" not in repr(model)


def test_bind_pydantic_reports_all_problems(tmp_path: Path) -> None:
    """Pydantic's errors are all reported with dotted keys and sources; secret inputs are not shown."""
    key = Key("vector.secret_dims", cast=str, secret=True)

    class WithSecret(pydantic.BaseModel):
        collection: str
        dimensions: int = pydantic.Field(gt=0)
        hnsw: HnswModel = HnswModel()
        secret_dims: int = 0

    path = tmp_path / "c.toml"
    path.write_text(
        '[vector]\ndimensions = -1\nsecret_dims = "s3cr3t"\n[vector.hnsw]\nm = "x"\n', encoding="utf-8"
    )
    cfg = ConfigLoader(keys=[key]).with_file(path).load()
    with pytest.raises(ConfigError) as info:
        cfg.bind(WithSecret, "vector")
    assert info.value.code == "config.validation"
    err = info.value
    assert [e["key"] for e in err.attributes["errors"]] == [
        "vector.collection",
        "vector.dimensions",
        "vector.hnsw.m",
        "vector.secret_dims",
    ]
    assert (
        f"vector.dimensions: Input should be greater than 0, got int -1 (from file {path}:2:1)" in err.message
    )
    assert "a secret value (not shown)" in err.message
    assert "s3cr3t" not in err.message
    assert MASK not in err.message or "s3cr3t" not in err.message


def test_bind_pydantic_single_problem_fields(tmp_path: Path) -> None:
    """With one problem, the error's key and source are set."""
    cfg = _cfg(tmp_path, "[vector]\ncollection = 1\ndimensions = 3\n")
    with pytest.raises(ConfigError) as info:
        cfg.bind(VectorModel, "vector")
    assert info.value.code == "config.validation"
    assert info.value.key == "vector.collection"
    assert info.value.source == f"file {tmp_path / 'c.toml'}:2:1"
