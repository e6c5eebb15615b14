"""PgVectorStore beyond the contract: filtered recall, batch search, async twin, errors, migration."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest

from llm_infra.errors import ConfigError, ValidationError, VectorError
from llm_infra.vector import (
    CompressionConfig,
    Distance,
    Eq,
    Exists,
    HnswConfig,
    In,
    VectorStoreConfig,
    open_store,
)
from llm_infra.vector._backends import open_backend
from llm_infra.vector._migrate import migrate
from llm_infra.vector._pgvector import PgVectorStore
from llm_infra.vector._pgvector_async import AsyncPgVectorStore

pytestmark = pytest.mark.integration

DIMS = 32


def _data(n: int, seed: int = 1) -> tuple[np.ndarray, list[dict[str, int]]]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, DIMS)).astype(np.float32), [
        {"bucket": i % 100, "tenth": i % 10} for i in range(n)
    ]


def _exact(vectors: np.ndarray, mask: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ (q / np.linalg.norm(q))
    idx = np.flatnonzero(mask)
    return idx[np.argsort(-scores[idx])[:k]].tolist()


@pytest.mark.parametrize("force_graph", [False, True])
def test_filtered_recall_at_one_percent(pgvector_dsn: str, collection_name: str, force_graph: bool) -> None:
    """1% selectivity reaches 0.95: the exact subset plan, and Postgres's own plan (HNSW with iterative
    scans, or an index on the field) when the store does not force the exact one."""
    vectors, metas = _data(5000)
    extra = {"exact_scan_min_rows": 0, "exact_scan_fraction": 0.0} if force_graph else {}
    cfg = VectorStoreConfig(collection=collection_name, dimensions=DIMS, indexed_fields=("bucket",), **extra)
    with PgVectorStore(pgvector_dsn, cfg) as store, store.bulk_load():
        assert store.insert_batch(ids=[str(i) for i in range(5000)], vectors=vectors, metadatas=metas).ok
    with PgVectorStore(pgvector_dsn, collection=collection_name) as store:
        rng = np.random.default_rng(5)
        found = total = 0
        for t in range(20):
            q = rng.standard_normal(DIMS).astype(np.float32)
            want = _exact(vectors, np.array([m["bucket"] == t for m in metas]), q, 10)
            got = [int(h.id) for h in store.search(q, k=10, filter={"bucket": t})]
            found += len(set(want) & set(got))
            total += len(want)
        assert found / total >= 0.95
        store.drop()


def test_search_batch_equals_search(pgvector_dsn: str, collection_name: str) -> None:
    vectors, metas = _data(800)
    cfg = VectorStoreConfig(collection=collection_name, dimensions=DIMS)
    with PgVectorStore(pgvector_dsn, cfg) as store:
        store.insert_batch(ids=[str(i) for i in range(800)], vectors=vectors, metadatas=metas)
        queries = vectors[:12] + 0.01
        for flt in (None, {"tenth": 3}, In("bucket", (1, 2, 3))):
            batch = store.search_batch(queries, k=7, filter=flt)
            assert len(batch) == 12
            for q, hits in zip(queries, batch, strict=True):
                single = store.search(q, k=7, filter=flt)
                assert [h.id for h in hits] == [h.id for h in single]
                np.testing.assert_allclose([h.score for h in hits], [h.score for h in single], rtol=1e-5)
        with_v = store.search_batch(queries[:2], k=2, with_vectors=True, min_score=0.5)
        assert with_v[0][0].vector is not None
        assert all(h.score >= 0.5 for row in with_v for h in row)
        assert store.search_batch(np.empty((0, DIMS), np.float32)) == []
        with pytest.raises(VectorError) as info:
            store.search_batch(np.ones((2, DIMS + 1), np.float32))
        assert info.value.code == "vector.dimension_mismatch"
        store.drop()


@pytest.mark.parametrize("distance", [Distance.L2, Distance.DOT])
def test_f16_tier_uses_halfvec(pgvector_dsn: str, collection_name: str, distance: Distance) -> None:
    vectors, metas = _data(200)
    cfg = VectorStoreConfig(
        collection=collection_name,
        dimensions=DIMS,
        distance=distance,
        compression=CompressionConfig(tier="f16"),
    )
    with PgVectorStore(pgvector_dsn, cfg) as store:
        store.insert_batch(ids=[str(i) for i in range(200)], vectors=vectors, metadatas=metas)
        store.upsert("x", vectors[0])
        assert store.search(vectors[3], k=1)[0].id == "3"
        assert [h.id for h in store.search_batch(vectors[3:5], k=1)[1]] == ["4"]
        assert store.stats().compression_tier == "f16"
        rec = store.get("5", with_vector=True)
        assert rec is not None
        np.testing.assert_allclose(rec.vector, vectors[5], rtol=1e-2, atol=1e-2)  # type: ignore[arg-type]
        store.drop()


def test_dimension_limits_name_the_fix(pgvector_dsn: str, collection_name: str) -> None:
    with pytest.raises(VectorError) as info:
        PgVectorStore(pgvector_dsn, VectorStoreConfig(collection=collection_name, dimensions=3000))
    assert info.value.code == "vector.pg_dimensions_unsupported"
    assert any("f16" in r for r in info.value.context.remediation)


def test_missing_extension_is_a_clear_error(pgvector_dsn: str) -> None:
    db = f"noext_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pgvector_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        dsn = pgvector_dsn.replace("/postgres?", f"/{db}?")
        with pytest.raises(VectorError) as info:
            PgVectorStore(dsn, VectorStoreConfig(collection="x", dimensions=4), create_extension=False)
        assert info.value.code == "vector.pg_extension_missing"
        assert any("CREATE EXTENSION vector" in r for r in info.value.context.remediation)
    finally:
        with psycopg.connect(pgvector_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{db}"')


def test_open_errors(pgvector_dsn: str, collection_name: str) -> None:
    with pytest.raises(VectorError) as info:
        PgVectorStore(pgvector_dsn, collection=collection_name)
    assert info.value.code == "vector.collection_missing"
    with pytest.raises(VectorError) as info:
        PgVectorStore(pgvector_dsn)
    assert info.value.code == "vector.collection_missing"
    with pytest.raises(ConfigError) as cinfo:
        PgVectorStore(pgvector_dsn, VectorStoreConfig(collection="x" * 60, dimensions=4))
    assert cinfo.value.code == "vector.pg_collection_name"
    cfg = VectorStoreConfig(collection=collection_name, dimensions=4)
    with PgVectorStore(pgvector_dsn, cfg) as store:
        with pytest.raises(ConfigError) as cinfo:
            PgVectorStore(pgvector_dsn, cfg.with_options(dimensions=5))
        assert cinfo.value.code == "vector.config_mismatch"
        store.drop()
        store.close()
        with pytest.raises(VectorError) as info:
            store.count()
        assert info.value.code == "vector.closed"
    with pytest.raises(Exception) as einfo:
        PgVectorStore("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", cfg)
    assert getattr(einfo.value, "code", "") == "vector.postgres_unavailable"


def test_hostile_names_and_values_stay_parameters(pgvector_dsn: str) -> None:
    """Quotes in collection names, field names and values never reach SQL as text."""
    name = f"Q.x-{uuid.uuid4().hex[:6]}"  # upper case, dot and dash: quoted everywhere
    cfg = VectorStoreConfig(collection=name, dimensions=4, indexed_fields=("it's", "a.b"))
    with PgVectorStore(pgvector_dsn, cfg) as store:
        store.insert("a'; DROP TABLE x; --", np.ones(4, np.float32), {"it's": "v'); --", "a": {"b": 1}})
        assert [h.id for h in store.search(np.ones(4, np.float32), filter={"it's": "v'); --"})] == [
            "a'; DROP TABLE x; --"
        ]
        assert len(store.search(np.ones(4, np.float32), filter=Eq("a.b", 1))) == 1
        assert store.verify().ok
        store.rebuild(progress=lambda d, t: None)
        stats = store.stats()
        assert stats.count == 1
        assert stats.disk_bytes > 0
        assert store.table.startswith("lvs_")
        store.drop()


def test_open_backend_dispatch(pgvector_dsn: str, collection_name: str) -> None:
    cfg = VectorStoreConfig(collection=collection_name, dimensions=4)
    store = open_backend(pgvector_dsn, cfg)
    assert isinstance(store, PgVectorStore)
    store.insert("a", np.ones(4, np.float32))
    store.close()
    again = open_backend(pgvector_dsn, None, collection=collection_name)
    assert isinstance(again, PgVectorStore)
    assert again.count() == 1
    again.drop()
    again.close()
    assert open_backend("/some/dir", cfg) is None


@pytest.mark.anyio
async def test_async_twin(pgvector_dsn: str, collection_name: str, tmp_path: Path) -> None:
    vectors, metas = _data(300)
    cfg = VectorStoreConfig(collection=collection_name, dimensions=DIMS)
    store = await AsyncPgVectorStore.open(pgvector_dsn, cfg)
    async with store:
        result = await store.insert_batch(ids=[str(i) for i in range(300)], vectors=vectors, metadatas=metas)
        assert result.ok
        await store.insert("extra", vectors[0], {"x": 1})
        with pytest.raises(Exception) as info:
            await store.insert("extra", vectors[0])
        assert getattr(info.value, "code", "") == "vector.already_exists"
        await store.upsert("extra", vectors[1], {"x": 2})
        assert (await store.get("extra")).metadata == {"x": 2}  # type: ignore[union-attr]
        await store.update_metadata("extra", {"x": 3})
        assert await store.count() == 301
        hits = await store.search(vectors[7], k=3, filter={"tenth": 7})
        assert hits[0].id == "7"
        batch = await store.search_batch(vectors[:3], k=2)
        assert [b[0].id for b in batch] == ["0", "1", "2"]
        assert [h.id for h in await store.query(vectors[9]).limit(1).execute()] == ["9"]
        assert await store.delete("extra") is True
        assert (await store.upsert_batch([("n1", vectors[2])])).ok
        assert (await store.stats()).count == 301
        assert (await store.verify()).ok
        await store.rebuild()
        await store.flush()
        page, cursor = await store.scan(None, 100)
        assert len(page) == 100
        assert cursor == page[-1].id
        await store.snapshot(tmp_path / "snap")
        with open_store(tmp_path / "snap") as snap:
            assert snap.count() == 301
        reopened = await AsyncPgVectorStore.open(pgvector_dsn, collection=collection_name)
        assert await reopened.count() == 301
        await reopened.aclose()
        await store.drop()
    with pytest.raises(VectorError) as verr:
        await AsyncPgVectorStore.open(pgvector_dsn, collection=collection_name)
    assert verr.value.code == "vector.collection_missing"


def test_bad_search_arguments(pgvector_dsn: str, collection_name: str) -> None:
    with PgVectorStore(pgvector_dsn, VectorStoreConfig(collection=collection_name, dimensions=4)) as store:
        for kwargs in ({"k": 0}, {"ef_search": 0}, {"min_score": "x"}):
            with pytest.raises(ValidationError) as info:
                store.search(np.ones(4, np.float32), **kwargs)  # type: ignore[arg-type]
            assert info.value.code.startswith("vector.invalid_")
        store.drop()


@pytest.mark.slow
def test_migration_embedded_pgvector_embedded_20k(
    pgvector_dsn: str, collection_name: str, tmp_path: Path
) -> None:
    """20k vectors: embedded -> pgvector -> embedded gives identical search results."""
    n = 20_000
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((n, DIMS)).astype(np.float32)
    cfg = VectorStoreConfig(
        collection="mig", dimensions=DIMS, exact_scan_fraction=1.0, hnsw=HnswConfig(ef_construction=64)
    )
    with open_store(tmp_path / "a", cfg) as a:
        a.insert_batch(
            ids=[f"v{i:06d}" for i in range(n)], vectors=vectors, metadatas=[{"g": i % 10} for i in range(n)]
        )
        with PgVectorStore(pgvector_dsn, cfg.with_options(collection=collection_name)) as pg:
            assert migrate(a, pg, batch_size=2000).ok
            with open_store(tmp_path / "b", cfg) as b:
                report = migrate(pg, b, batch_size=2000, checkpoint=tmp_path / "ck.json")
                assert report.ok
                assert report.copied == n
                queries = rng.standard_normal((10, DIMS)).astype(np.float32)
                for q in queries:
                    want = a.search(q, k=10, filter=Exists("g"))
                    got = b.search(q, k=10, filter=Exists("g"))
                    assert [h.id for h in got] == [h.id for h in want]
                    np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-5)
                    assert [h.id for h in pg.search(q, k=10, filter=Exists("g"))] == [h.id for h in want]
            pg.drop()


def test_bulk_load_builds_the_index_once(pgvector_dsn: str, collection_name: str) -> None:
    vectors, metas = _data(500)
    cfg = VectorStoreConfig(collection=collection_name, dimensions=DIMS)
    with PgVectorStore(pgvector_dsn, cfg) as store:
        with store.bulk_load():
            store.insert_batch(ids=[str(i) for i in range(500)], vectors=vectors, metadatas=metas)
            report = store.verify()
            assert not report.ok  # no index inside the block: searches are exact
            assert store.search(vectors[4], k=1)[0].id == "4"
        assert store.verify().ok
        assert store.search(vectors[9], k=1)[0].id == "9"
        store.drop()
