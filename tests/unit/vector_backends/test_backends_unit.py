"""URL dispatch, shared validation, and the Qdrant store's maintenance and error paths."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_infra.errors import AlreadyExistsError, ConfigError, ExternalError, ValidationError, VectorError
from llm_infra.vector import CompressionConfig, Distance, VectorRecord, VectorStoreConfig, open_store
from llm_infra.vector._backends import as_matrix, as_vector, open_backend, prepare_batch, search_batch_of
from llm_infra.vector._base import Columns

qdrant_client = pytest.importorskip("qdrant_client")

from llm_infra.vector._qdrant import QdrantVectorStore, _qdrant_error, point_id  # noqa: E402


def test_as_vector_rejects_bad_input() -> None:
    for bad in ("text", None, [[1.0, 2.0]], ["a", "b"], [1 + 2j, 1j], object()):
        with pytest.raises(VectorError) as info:
            as_vector(bad, 2, "insert")
        assert info.value.code in ("vector.invalid_vector", "vector.dimension_mismatch")
    assert as_vector([1, 2], 2, "insert").dtype == np.float32
    with pytest.raises(VectorError) as info:
        as_matrix(np.ones((2, 3)), 2, "search_batch")
    assert info.value.code == "vector.dimension_mismatch"
    with pytest.raises(VectorError) as info:
        as_matrix("nope", 2, "search_batch")
    assert info.value.code == "vector.invalid_vector"
    assert as_matrix([], 2, "search_batch").shape == (0, 2)
    assert as_matrix([[1, 2]], 2, "search_batch").shape == (1, 2)


def test_prepare_batch_argument_errors() -> None:
    with pytest.raises(ValidationError) as info:
        prepare_batch([("a", [1.0])], Columns(["a"]), 1, "insert_batch")
    assert info.value.code == "vector.invalid_batch"
    with pytest.raises(ValidationError) as info:
        prepare_batch(None, Columns(["a"]), 1, "insert_batch")
    assert info.value.code == "vector.invalid_batch"
    with pytest.raises(ValidationError) as info:
        prepare_batch(None, Columns(["a"], np.ones((1, 1)), [None, None]), 1, "insert_batch")
    assert info.value.code == "vector.invalid_batch"
    with pytest.raises(ValidationError) as info:
        prepare_batch(None, Columns(["a", "b"], np.ones((1, 1))), 1, "insert_batch")
    assert info.value.code == "vector.invalid_batch"
    odd = prepare_batch(None, Columns(["a"], [[object()]]), 1, "insert_batch")
    assert odd.errors[0] is not None
    assert odd.errors[0].code == "vector.invalid_vector"
    prepared = prepare_batch(
        ["junk", VectorRecord(id="r", vector=None), ("", [1.0]), (5, [1.0])],
        Columns(),
        1,
        "insert_batch",
    )
    codes = [e.code for e in prepared.errors if e is not None]
    assert codes == [
        "vector.invalid_batch",
        "vector.invalid_vector",
        "vector.invalid_id",
        "vector.invalid_id",
    ]


def test_search_batch_of_falls_back_to_a_loop() -> None:
    class OnlySearch:
        def search(self, v: Any, k: int, f: Any, ef: Any, **kw: Any) -> list[Any]:
            return [(float(v[0]), k, f, ef, kw)]

    out = search_batch_of(OnlySearch(), [[1.0], [2.0]], 3, None, ef_search=9, min_score=0.1)
    assert out == [[(1.0, 3, None, 9, {"min_score": 0.1})], [(2.0, 3, None, 9, {"min_score": 0.1})]]


def test_open_backend_urls(tmp_path: Path) -> None:
    cfg = VectorStoreConfig(collection="u", dimensions=3)
    assert open_backend(str(tmp_path), cfg) is None
    assert open_backend("sqlite:///x", cfg) is None
    mem = open_backend("qdrant+local://:memory:", cfg)
    assert isinstance(mem, QdrantVectorStore)
    mem.close()
    disk = open_backend(f"qdrant+local://{tmp_path / 'q'}", cfg)
    assert isinstance(disk, QdrantVectorStore)
    disk.insert("a", [1.0, 2.0, 3.0])
    disk.close()
    again = open_backend(f"qdrant+local://{tmp_path / 'q'}", None, collection="u")
    assert again is not None
    assert again.count() == 1
    again.close()
    for url in ("qdrant://host-only:6333", "qdrant:///coll"):
        with pytest.raises(ConfigError) as info:
            open_backend(url, cfg)
        assert info.value.code == "vector.invalid_url"
    with pytest.raises(ExternalError) as einfo:
        open_backend("qdrant://127.0.0.1:1/other", cfg, timeout=2)
    assert einfo.value.code == "vector.qdrant_unavailable"
    assert einfo.value.retryable


def test_qdrant_maintenance_and_errors(tmp_path: Path) -> None:
    cfg = VectorStoreConfig(collection="m", dimensions=3, distance=Distance.L2, indexed_fields=("a",))
    store = QdrantVectorStore(cfg, path=tmp_path / "q")
    store.insert_batch([(f"p{i}", [float(i), 1.0, 0.0], {"a": i}) for i in range(5)])
    stats = store.stats()
    assert stats.count == 5
    assert stats.path == "qdrant:m"
    assert store.verify().ok
    store.rebuild(progress=lambda d, t: None)
    store.flush()
    assert store.config is cfg
    assert store.dimensions == 3
    with pytest.raises(AlreadyExistsError) as exists:
        store.snapshot(tmp_path / "q")  # not empty: the live qdrant directory itself
    assert exists.value.code == "vector.snapshot_exists"
    page, cursor = store.scan(None, 2)
    assert len(page) == 2
    assert cursor is not None
    assert store.search_batch([], k=1) == []
    assert "open" in repr(store)
    store.close()
    store.close()
    with pytest.raises(VectorError) as info:
        store.count()
    assert info.value.code == "vector.closed"
    with pytest.raises(VectorError) as info:
        store.search([1.0, 2.0, 3.0])
    assert info.value.code == "vector.closed"
    with pytest.raises(ConfigError) as cinfo:
        QdrantVectorStore(cfg.with_options(dimensions=4), path=tmp_path / "q")
    assert cinfo.value.code == "vector.config_mismatch"
    with pytest.raises(VectorError) as info:
        QdrantVectorStore(path=tmp_path / "q", collection="absent")
    assert info.value.code == "vector.collection_missing"
    with pytest.raises(VectorError) as info:
        QdrantVectorStore(path=tmp_path / "q")
    assert info.value.code == "vector.collection_missing"
    reopened = QdrantVectorStore(cfg.with_options(indexed_fields=("a", "b")), path=tmp_path / "q")
    assert reopened.search([4.0, 1.0, 0.0], k=1)[0].id == "p4"
    reopened.drop()
    reopened.close()


@pytest.mark.parametrize("tier", ["f16", "int8", "binary"])
def test_qdrant_compression_tiers(tier: str) -> None:
    cfg = VectorStoreConfig(collection="t", dimensions=4, compression=CompressionConfig(tier=tier))  # type: ignore[arg-type]
    with QdrantVectorStore(cfg, path=":memory:") as store:
        store.upsert("a", [1.0, 0.0, 0.0, 0.0])
        assert store.search([1.0, 0.0, 0.0, 0.0], k=1)[0].id == "a"


def test_foreign_qdrant_collection_and_shared_client() -> None:
    client = qdrant_client.QdrantClient(location=":memory:")
    models = qdrant_client.models
    client.create_collection(
        "raw", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
    )
    with pytest.raises(ConfigError) as info:
        QdrantVectorStore(client=client, collection="raw")
    assert info.value.code == "vector.config_mismatch"
    store = QdrantVectorStore(VectorStoreConfig(collection="mine", dimensions=3), client=client)
    store.insert("x", [0.0, 1.0, 0.0])
    store.close()
    assert client.count("mine").count == 1  # the caller's client stays open
    client.close()


def test_error_mapping_and_ids() -> None:
    class Unexpected(Exception):
        status_code = 400

    class Down(Exception):
        status_code = 503

    assert _qdrant_error(Unexpected(), "search").code == "vector.qdrant_error"
    assert not _qdrant_error(Unexpected(), "search").retryable
    assert _qdrant_error(Down(), "search").code == "vector.qdrant_unavailable"
    assert _qdrant_error(ConnectionRefusedError(), "open").retryable
    assert point_id("a") == point_id("a") != point_id("b")


def test_qdrant_collection_follows_url(tmp_path: Path) -> None:
    cfg = VectorStoreConfig(collection="local-name", dimensions=3)
    with open_store(tmp_path / "e", cfg) as local:
        local.insert("a", [1.0, 0.0, 0.0])
    with pytest.raises(ExternalError) as info:
        open_backend("qdrant://127.0.0.1:1/url-name", cfg, timeout=1)
    assert info.value.code == "vector.qdrant_unavailable"


def test_qdrant_search_batch_equals_search() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    cfg = VectorStoreConfig(collection="b", dimensions=8)
    with QdrantVectorStore(cfg, path=":memory:") as store:
        store.insert_batch(
            ids=[str(i) for i in range(300)], vectors=vectors, metadatas=[{"g": i % 5} for i in range(300)]
        )
        queries = vectors[:6] + 0.05
        for flt in (None, {"g": 2}, {"g": {"$in": [1, 3]}}):
            batch = store.search_batch(queries, k=4, filter=flt, min_score=-1.0)
            for q, hits in zip(queries, batch, strict=True):
                single = store.search(q, k=4, filter=flt)
                assert [h.id for h in hits] == [h.id for h in single]
                np.testing.assert_allclose([h.score for h in hits], [h.score for h in single], rtol=1e-5)
        with_v = store.search_batch(queries[:1], k=1, with_vectors=True)
        np.testing.assert_allclose(with_v[0][0].vector, vectors[0], rtol=1e-5)  # type: ignore[arg-type]
        with pytest.raises(VectorError) as info:
            store.search_batch(np.ones((1, 9), np.float32))
        assert info.value.code == "vector.dimension_mismatch"


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql://u@h/db", "psycopg_pool", "vector-pg"),
        ("qdrant+local://:memory:", "qdrant_client", "vector-qdrant"),
    ],
)
def test_missing_extra_names_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(ConfigError) as info:
        open_backend(url, VectorStoreConfig(collection="x", dimensions=2))
    assert info.value.code == "config.missing_extra"
    assert f"llm-infra[{extra}]" in str(info.value)
