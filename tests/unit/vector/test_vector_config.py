"""VectorStoreConfig, its builder, from_config, and normalize / EmbeddingNormalizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.config import ConfigLoader
from llm_infra.errors import ConfigError
from llm_infra.vector import (
    CompressionConfig,
    Distance,
    EmbeddingNormalizer,
    HnswConfig,
    VectorStoreConfig,
    normalize,
)


def test_defaults_and_roundtrip() -> None:
    """Defaults are the documented ones; to_dict/from_dict round-trip; with_options revalidates."""
    cfg = VectorStoreConfig(collection="docs", dimensions=384)
    assert cfg.distance is Distance.COSINE
    assert cfg.hnsw == HnswConfig(m=16, ef_construction=200, ef_search=100)
    assert cfg.compression.tier == "none"
    assert VectorStoreConfig.from_dict(cfg.to_dict()) == cfg
    assert VectorStoreConfig.from_dict({**cfg.to_dict(), "future_option": 1}) == cfg
    assert cfg.with_options(distance="l2").distance is Distance.L2
    with pytest.raises(ConfigError) as exc_info:
        cfg.with_options(dimensions=0)
    assert exc_info.value.code == "config.invalid_value"
    with pytest.raises(ConfigError) as exc_info:
        VectorStoreConfig.from_dict({"collection": "x", "dimensions": 3, "hnsw": {"bogus": 1}})
    assert exc_info.value.code == "config.invalid_value"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"collection": "", "dimensions": 3}, "collection"),
        ({"collection": "a b", "dimensions": 3}, "collection"),
        ({"collection": "a", "dimensions": 0}, "dimensions"),
        ({"collection": "a", "dimensions": 65_537}, "dimensions"),
        ({"collection": "a", "dimensions": True}, "dimensions"),
        ({"collection": "a", "dimensions": 3, "distance": "manhattan"}, "distance"),
        ({"collection": "a", "dimensions": 3, "hnsw": {"m": 16}}, "hnsw"),
        ({"collection": "a", "dimensions": 3, "compression": "f16"}, "compression"),
        ({"collection": "a", "dimensions": 3, "indexed_fields": "tags"}, "indexed_fields"),
        ({"collection": "a", "dimensions": 3, "indexed_fields": [""]}, "indexed_fields"),
        ({"collection": "a", "dimensions": 3, "durability": "paranoid"}, "durability"),
        ({"collection": "a", "dimensions": 3, "background_indexing": "yes"}, "background_indexing"),
        ({"collection": "a", "dimensions": 3, "exact_scan_fraction": 1.5}, "exact_scan_fraction"),
        ({"collection": "a", "dimensions": 3, "compaction_threshold": True}, "compaction_threshold"),
        ({"collection": "a", "dimensions": 3, "exact_scan_min_rows": -1}, "exact_scan_min_rows"),
        ({"collection": "a", "dimensions": 3, "chunk_size": 0}, "chunk_size"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], key: str) -> None:
    """Invalid options raise ConfigError naming the key."""
    with pytest.raises(ConfigError) as info:
        VectorStoreConfig(**kwargs)
    assert info.value.code in ("config.invalid", "config.invalid_value")
    assert info.value.key == key


@pytest.mark.parametrize(
    "kwargs",
    [
        {"m": 1},
        {"ef_construction": 0},
        {"ef_search": "64"},
    ],
)
def test_hnsw_validation(kwargs: dict[str, Any]) -> None:
    """HnswConfig validates its ranges."""
    with pytest.raises(ConfigError) as exc_info:
        HnswConfig(**kwargs)
    assert exc_info.value.code == "config.invalid_value"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tier": "pq"},
        {"tier": "auto"},
        {"rescore": "yes"},
        {"rescore_factor": 0},
        {"memory_budget_mb": 0},
        {"memory_budget_mb": True},
    ],
)
def test_compression_validation(kwargs: dict[str, Any]) -> None:
    """CompressionConfig validates tier, factor and budget (auto needs a budget)."""
    with pytest.raises(ConfigError) as exc_info:
        CompressionConfig(**kwargs)
    assert exc_info.value.code in ("config.invalid", "config.invalid_value", "config.missing_key")


def test_rescore_factors() -> None:
    """Rescoring fetches more candidates for lossier tiers; without rescore, exactly k."""
    c = CompressionConfig(tier="int8")
    assert [c.factor_for(t) for t in ("none", "f16", "int8", "binary")] == [1, 2, 4, 32]
    assert CompressionConfig(tier="f16", rescore_factor=7).factor_for("f16") == 7
    assert CompressionConfig(tier="f16", rescore=False).factor_for("f16") == 1


def test_builder() -> None:
    """The fluent builder builds the same config as the constructor and validates in build()."""
    cfg = (
        VectorStoreConfig.builder()
        .collection("embeddings")
        .dimensions(1536)
        .distance(Distance.DOT)
        .hnsw(m=32, ef_construction=400)
        .hnsw(ef_search=128)
        .compression(tier="auto")
        .compression(memory_budget_mb=512)
        .indexed_fields("lang", "year")
        .durability("full")
        .background_indexing(False)
        .build()
    )
    assert cfg == VectorStoreConfig(
        collection="embeddings",
        dimensions=1536,
        distance=Distance.DOT,
        hnsw=HnswConfig(m=32, ef_construction=400, ef_search=128),
        compression=CompressionConfig(tier="auto", memory_budget_mb=512),
        indexed_fields=("lang", "year"),
        durability="full",
        background_indexing=False,
    )
    built = (
        VectorStoreConfig.builder()
        .collection("c")
        .dimensions(3)
        .hnsw(HnswConfig(m=8))
        .compression(CompressionConfig(tier="f16"))
    )
    built.validate()
    assert built.build().hnsw.m == 8
    assert built.build().compression.tier == "f16"
    with pytest.raises(ConfigError) as info:
        VectorStoreConfig.builder().dimensions(3).build()
    assert info.value.code == "config.missing_key"
    assert info.value.key == "collection"
    with pytest.raises(ConfigError) as exc_info:
        VectorStoreConfig.builder().collection("c").dimensions(3).compression(tier="auto").build()
    assert exc_info.value.code == "config.missing_key"


def test_from_config_reads_vector_keys() -> None:
    """from_config reads vector.* from llm_infra.config, environment strings included."""
    env = {
        "LLM_VECTOR__COLLECTION": "docs",
        "LLM_VECTOR__DIMENSIONS": "384",
        "LLM_VECTOR__DISTANCE": "L2",
        "LLM_VECTOR__HNSW__M": "24",
        "LLM_VECTOR__HNSW__EF_SEARCH": "80",
        "LLM_VECTOR__COMPRESSION__TIER": "int8",
        "LLM_VECTOR__COMPRESSION__RESCORE": "false",
        "LLM_VECTOR__INDEXED_FIELDS": "lang, year",
        "LLM_VECTOR__DURABILITY": "full",
        "LLM_VECTOR__BACKGROUND_INDEXING": "0",
        "LLM_VECTOR__COMPACTION_THRESHOLD": "0.3",
    }
    cfg = VectorStoreConfig.from_config(ConfigLoader().with_env(environ=env).load())
    assert cfg.collection == "docs"
    assert cfg.dimensions == 384
    assert cfg.distance is Distance.L2
    assert cfg.hnsw == HnswConfig(m=24, ef_construction=200, ef_search=80)
    assert cfg.compression == CompressionConfig(tier="int8", rescore=False)
    assert cfg.indexed_fields == ("lang", "year")
    assert cfg.durability == "full"
    assert cfg.background_indexing is False
    assert cfg.compaction_threshold == 0.3


def test_from_config_mappings_and_errors() -> None:
    """Typed values from files work; enabled=false means no compression; missing keys are named."""
    overrides = {
        "vector": {
            "collection": "c",
            "dimensions": 8,
            "compression": {"enabled": False, "memory_budget_mb": 64.0, "rescore_factor": 3},
            "indexed_fields": ["a"],
        }
    }
    cfg = VectorStoreConfig.from_config(ConfigLoader().with_overrides(overrides).load())
    assert cfg.compression.tier == "none"
    assert cfg.compression.memory_budget_mb == 64.0
    assert cfg.indexed_fields == ("a",)
    missing = ConfigLoader().with_overrides({"vector": {"collection": "c"}}).load()
    with pytest.raises(ConfigError) as info:
        VectorStoreConfig.from_config(missing)
    assert info.value.code == "config.missing_key"
    assert info.value.key == "vector.dimensions"
    bad_values: tuple[dict[str, Any], ...] = (
        {"vector.dimensions": "many"},
        {"vector.dimensions": True},
        {"vector.hnsw.m": "x"},
        {"vector.compaction_threshold": "x"},
        {"vector.compaction_threshold": True},
        {"vector.background_indexing": "maybe"},
        {"vector.indexed_fields": 5},
    )
    for bad in bad_values:
        source = _Dict({"vector.collection": "c", "vector.dimensions": 8, **bad})
        with pytest.raises(ConfigError) as exc_info:
            VectorStoreConfig.from_config(source)
        assert exc_info.value.code == "config.invalid_value"


class _Dict:
    """A minimal config source over a flat dict of dotted keys."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def get(self, key: Any, default: Any = None, /) -> Any:
        return self.data.get(key, default)


class _Strict:
    """A config source that raises for unknown keys, like a typed Config."""

    def __init__(self, data: dict[str, Any], code: str = "config.missing_key") -> None:
        self.data = data
        self.code = code

    def get(self, key: Any, default: Any = None, /) -> Any:
        if key in self.data:
            return self.data[key]
        raise ConfigError(f"missing {key}", key=key, code=self.code)


def test_from_config_with_raising_sources() -> None:
    """A source that raises config.missing_key for optional keys works; other errors propagate."""
    cfg = VectorStoreConfig.from_config(_Strict({"store.collection": "c", "store.dimensions": 4}), "store")
    assert cfg.dimensions == 4
    with pytest.raises(ConfigError) as exc_info:
        VectorStoreConfig.from_config(_Strict({"vector.collection": "c"}, code="config.wrong_type"))
    assert exc_info.value.code == "config.wrong_type"


@given(st.lists(st.floats(-1000, 1000, width=32), min_size=1, max_size=1000))
@settings(max_examples=100, deadline=None)
def test_normalization_produces_unit_vectors(values: list[float]) -> None:
    """The normalization property: the result has norm 1 (1e-5) or the input was all zeros."""
    v = normalize(values)
    magnitude = float(np.linalg.norm(v.astype(np.float64)))
    assert abs(magnitude - 1.0) < 1e-5 or all(x == 0.0 for x in values)
    assert v.dtype == np.float32
    assert EmbeddingNormalizer.is_normalized(v)


def test_normalizer_variants() -> None:
    """2-D input normalizes rows; zero rows stay zero; in-place works; the input is not modified."""
    m = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    out = EmbeddingNormalizer.normalize(m)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert m[0, 0] == 3.0
    EmbeddingNormalizer.normalize_in_place(m)
    np.testing.assert_allclose(m, out)
    assert EmbeddingNormalizer.is_normalized([0.0, 0.0])
    assert not EmbeddingNormalizer.is_normalized([2.0, 0.0])
    np.testing.assert_array_equal(normalize([0, 0, 0]), [0, 0, 0])


def test_distance_names_agree_between_config_and_code() -> None:
    """'euclidean' and the other aliases mean the same in code, in configs and in config keys."""
    from llm_infra.config._keys import VECTOR_DISTANCE
    from llm_infra.vector._config import DISTANCE_ALIASES, DISTANCE_NAMES, config_keys

    assert Distance("euclidean") is Distance.L2
    assert Distance(" Inner_Product ") is Distance.DOT
    assert Distance("IP") is Distance.DOT
    assert VectorStoreConfig(collection="c", dimensions=2, distance="euclidean").distance is Distance.L2  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        VectorStoreConfig(collection="c", dimensions=2, distance="manhattan")  # type: ignore[arg-type]
    assert info.value.code == "config.invalid_value"
    # One table: the config key accepts exactly the names and aliases the code accepts.
    cast = VECTOR_DISTANCE.cast
    assert tuple(cast.choices) == DISTANCE_NAMES  # type: ignore[attr-defined]
    assert dict(cast.aliases) == DISTANCE_ALIASES  # type: ignore[attr-defined]
    assert config_keys()["distance"].convert("euclidean") == "l2"
    for alias in DISTANCE_ALIASES:
        env = {"LLM_VECTOR__COLLECTION": "c", "LLM_VECTOR__DIMENSIONS": "2", "LLM_VECTOR__DISTANCE": alias}
        loaded = VectorStoreConfig.from_config(ConfigLoader().with_env(environ=env).load())
        assert loaded.distance is Distance(alias)


def test_defaults_are_defined_once() -> None:
    """Unset keys take the dataclass defaults; the typed keys carry no second copy."""
    from llm_infra.vector._config import config_keys

    loaded = VectorStoreConfig.from_config(_Dict({"vector.collection": "c", "vector.dimensions": 3}))
    assert loaded == VectorStoreConfig(collection="c", dimensions=3)
    assert all(key.required for key in config_keys().values())
    with pytest.raises(ConfigError) as info:
        VectorStoreConfig.from_config(
            _Dict({"vector.collection": "c", "vector.dimensions": 3, "vector.hnsw.m": 1.5})
        )
    assert info.value.code == "config.invalid_value"
    assert info.value.key == "vector.hnsw.m"


def test_embedder_model_is_persisted_and_checked(tmp_path: Path) -> None:
    """The embedder model is stored with the collection; another model on reopen is refused."""
    from llm_infra.errors import VectorError
    from llm_infra.vector import open_store

    path = tmp_path / "s"
    base = VectorStoreConfig(collection="c", dimensions=4, embedder_model="minilm-l6")
    with open_store(path, base) as s:
        assert s.config.embedder_model == "minilm-l6"
        assert s.stats().embedder_model == "minilm-l6"
    with open_store(path) as s:
        assert s.config.embedder_model == "minilm-l6"
    with open_store(path, VectorStoreConfig(collection="c", dimensions=4)) as s:  # no model named: kept
        assert s.stats().embedder_model == "minilm-l6"
    with pytest.raises(VectorError) as info:
        open_store(path, VectorStoreConfig(collection="c", dimensions=4, embedder_model="bge-small"))
    assert info.value.code == "vector.embedder_mismatch"
    other = tmp_path / "t"
    with open_store(other, VectorStoreConfig(collection="c", dimensions=4)) as s:
        assert s.config.embedder_model is None
    with open_store(other, VectorStoreConfig(collection="c", dimensions=4, embedder_model="m")) as s:
        assert s.config.embedder_model == "m"  # recorded when the collection had none
    with pytest.raises(ConfigError) as bad:
        VectorStoreConfig(collection="c", dimensions=4, embedder_model="")
    assert bad.value.code == "config.invalid_value"


def test_import_without_the_vector_extra_names_the_pip_line() -> None:
    """Without numpy or faiss, importing llm_infra.vector is a ConfigError with the install line."""
    import subprocess
    import sys

    for missing in ("faiss", "numpy"):
        code = (
            "import sys\n"
            f"sys.modules[{missing!r}] = None\n"
            "from llm_infra.errors import ConfigError\n"
            "try:\n"
            "    import llm_infra.vector\n"
            "except ConfigError as exc:\n"
            "    print(exc.code, exc.message)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
        )
        assert out.stdout.startswith("config.missing_extra")
        assert "pip install 'llm-infra[vector]'" in out.stdout


def test_normalization_of_subnormal_vectors_is_unit_length() -> None:
    """Regression: two subnormal float32 values normalized to [1, 1] (norm 1.41) when the divisor
    was rounded to float32; dividing in float64 gives a unit vector."""
    tiny = np.array([1e-45, 1e-45], dtype=np.float32)
    v = normalize(tiny)
    assert abs(float(np.linalg.norm(v.astype(np.float64))) - 1.0) < 1e-5
