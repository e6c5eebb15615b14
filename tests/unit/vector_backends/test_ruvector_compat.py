"""The ruvector-core compatibility shim: calls, distances, error mapping with operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_infra.errors import AlreadyExistsError, ConfigError, ValidationError, VectorError
from llm_infra.vector import Distance, HnswConfig
from llm_infra.vector.compat.ruvector import Collection, VectorOperation, into_infra_error, map_infra_err


def test_ruvector_calls_map_onto_the_store(tmp_path: Path) -> None:
    with Collection("embeddings", 4, "Cosine", {"m": 8, "ef_construct": 64}, location=tmp_path / "s") as col:
        col.insert("id-1", [1.0, 0.0, 0.0, 0.0], {"category": "tech"})
        col.insert("id-2", [0.0, 1.0, 0.0, 0.0], None)
        col.upsert("id-3", [0.9, 0.1, 0.0, 0.0], {"category": "art"})
        hits = col.search([1.0, 0.0, 0.0, 0.0], 10, {"category": "tech"})
        assert [h.id for h in hits] == ["id-1"]
        assert len(col) == 3
        rec = col.get("id-1")
        assert rec is not None
        assert rec.vector is not None
        col.update_metadata("id-2", {"category": "x"})
        assert col.delete("id-2")
        assert col.count() == 2
        assert col.store.config.hnsw.m == 8
        assert "Collection('embeddings'" in repr(col)


@pytest.mark.parametrize(
    ("name", "want"),
    [("euclidean", Distance.L2), ("DotProduct", Distance.DOT), (Distance.COSINE, Distance.COSINE)],
)
def test_distance_names(name: str | Distance, want: Distance) -> None:
    col = Collection("c", 3, name, HnswConfig(m=4))
    assert col.store.config.distance is want
    col.close()


def test_errors_name_their_operation() -> None:
    col = Collection("c", 3)
    col.insert("a", [1.0, 2.0, 3.0])
    with pytest.raises(AlreadyExistsError) as info:
        col.insert("a", [1.0, 2.0, 3.0])
    assert info.value.code == "vector.already_exists"
    assert info.value.attributes["vector.operation"] == "insert"
    with pytest.raises(VectorError) as vinfo:
        col.search([1.0, 2.0], 3)
    assert vinfo.value.code == "vector.dimension_mismatch"
    assert vinfo.value.attributes["vector.operation"] == "search"
    with pytest.raises(ValidationError) as sinfo:
        col.search([1.0, 2.0, 3.0], 3, {"x": {"$bad": 1}})
    assert sinfo.value.code == "vector.invalid_filter"
    col.close()
    with pytest.raises(VectorError) as vinfo:
        Collection("c", 3, "manhattan")
    assert vinfo.value.code == "vector.invalid_distance"
    assert vinfo.value.operation == "create_collection"
    with pytest.raises(ConfigError) as cinfo:
        Collection("bad name!", 3)
    assert cinfo.value.code == "config.invalid_value"


def test_foreign_errors_become_vector_errors() -> None:
    err = into_infra_error(RuntimeError("boom with data"), "search")
    assert isinstance(err, VectorError)
    assert err.code == "vector.ruvector_error"
    assert err.operation == "search"
    assert "boom with data" not in str(err)

    @map_infra_err(VectorOperation.DELETE)
    def broken() -> None:
        raise KeyError("x")

    with pytest.raises(VectorError) as info:
        broken()
    assert info.value.operation == "delete"
    assert info.value.code == "vector.ruvector_error"
    plain = VectorError("x", code="vector.error")
    assert into_infra_error(plain, VectorOperation.GET).operation == "get"  # type: ignore[attr-defined]
