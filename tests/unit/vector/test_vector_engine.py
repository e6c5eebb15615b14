"""Local engine internals: planner, tail search, compaction, tiers, persistence, failure handling."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_infra.errors import (
    AlreadyExistsError,
    BatchError,
    ConfigError,
    IoError,
    ValidationError,
    VectorError,
)
from llm_infra.vector import (
    CompressionConfig,
    Distance,
    HnswConfig,
    LocalVectorStore,
    VectorStoreConfig,
    open_store,
)
from llm_infra.vector import _ann as ann_module
from llm_infra.vector._files import MANIFEST, read_manifest

D = 16


def cfg(**kw: Any) -> VectorStoreConfig:
    """A small test config (graph built at flush unless told otherwise)."""
    values: dict[str, Any] = {"collection": "t", "dimensions": D, "background_indexing": False}
    values.update(kw)
    return VectorStoreConfig(**values)


def data(n: int, d: int = D, seed: int = 0) -> np.ndarray:
    """Clustered random vectors (so that HNSW has structure to find)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 2), d))
    pick = rng.integers(0, centres.shape[0], n)
    return (centres[pick] + 0.3 * rng.standard_normal((n, d))).astype(np.float32)


def brute(
    x: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None = None, distance: str = "cosine"
) -> list[int]:
    """Exact top-k indices by score (higher is better)."""
    if distance == "cosine":
        s = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    elif distance == "dot":
        s = x @ q
    else:
        s = -np.linalg.norm(x - q, axis=1)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    order = np.argsort(-s, kind="stable")[:k]
    return [int(i) for i in order if np.isfinite(s[i])]


def recall(
    store: Any, x: np.ndarray, queries: np.ndarray, k: int = 10, flt: Any = None, mask: Any = None
) -> float:
    """Mean recall@k of the store against brute force."""
    total = 0.0
    for q in queries:
        got = {int(h.id) for h in store.search(q, k=k, filter=flt)}
        want = brute(x, q, k, mask)
        total += len(got & set(want)) / max(len(want), 1)
    return total / len(queries)


def fill(store: LocalVectorStore, x: np.ndarray, metas: list[Any] | None = None) -> None:
    """Insert x with ids "0".."n-1"."""
    result = store.insert_batch(ids=[str(i) for i in range(len(x))], vectors=x, metadatas=metas)
    assert result.ok


# --------------------------------------------------------------------- planner and recall


def test_planner_picks_exact_for_selective_filters() -> None:
    """Below the threshold the planner scans exactly, above it uses the graph; no filter uses the graph."""
    x = data(2000)
    metas = [{"c": i % 100, "half": i % 2} for i in range(2000)]
    with open_store(":memory:", cfg(exact_scan_min_rows=0, exact_scan_fraction=0.05)) as s:
        fill(s, x, metas)
        assert s.plan({"c": 1}) == "exact"  # nothing indexed yet
        s.flush()
        assert s.plan(None) == "graph"
        assert s.plan({"c": 1}) == "exact"  # 1%
        assert s.plan({"half": 1}) == "graph"  # 50%
        assert s.plan({"c": {"$lt": 5}}) == "exact"  # 5% == threshold
        assert s.plan({"c": {"$lt": 6}}) == "graph"  # 6%


MODULI = (100, 20, 10, 5, 3, 2)


@pytest.fixture(scope="module")
def selectivity_set() -> tuple[np.ndarray, list[dict[str, int]], np.ndarray]:
    """3000 clustered points with fields m100 .. m2 (selectivity 1% .. 50%) and 30 queries."""
    x = data(3000, seed=21)
    metas = [{f"m{m}": i % m for m in MODULI} for i in range(3000)]
    return x, metas, data(30, seed=99)


def _selectivity_store(selectivity_set: Any, **kw: Any) -> LocalVectorStore:
    x, metas, _ = selectivity_set
    s = open_store(":memory:", cfg(**kw))
    fill(s, x, metas)
    s.flush()
    return s


@pytest.fixture(scope="module")
def planned_store(selectivity_set: Any) -> Any:
    """The selectivity set behind the default planner."""
    s = _selectivity_store(selectivity_set, exact_scan_min_rows=0)
    yield s
    s.close()


@pytest.fixture(scope="module")
def graph_store(selectivity_set: Any) -> Any:
    """The selectivity set with the exact scan disabled (every filter goes through the graph)."""
    s = _selectivity_store(selectivity_set, exact_scan_min_rows=0, exact_scan_fraction=0.0)
    yield s
    s.close()


@pytest.mark.parametrize("modulus", MODULI)
def test_recall_holds_at_every_selectivity(planned_store: Any, selectivity_set: Any, modulus: int) -> None:
    """recall@10 >= 0.95 for filters keeping 1% .. 50% of the points (default planner)."""
    x, metas, queries = selectivity_set
    mask = np.array([m[f"m{modulus}"] == 1 for m in metas])
    assert recall(planned_store, x, queries, flt={f"m{modulus}": 1}, mask=mask) >= 0.95


@pytest.mark.parametrize("modulus", [5, 3, 2])
def test_graph_path_raises_ef_with_selectivity(graph_store: Any, selectivity_set: Any, modulus: int) -> None:
    """Forced onto the graph, filtered searches still reach recall 0.95 (ef grows as selectivity falls)."""
    x, metas, queries = selectivity_set
    assert graph_store.plan({f"m{modulus}": 1}) == "graph"
    mask = np.array([m[f"m{modulus}"] == 1 for m in metas])
    assert recall(graph_store, x, queries, flt={f"m{modulus}": 1}, mask=mask) >= 0.95


def test_unfiltered_recall_and_ef_override(planned_store: Any, selectivity_set: Any) -> None:
    """The graph reaches high recall; a larger ef_search per call is accepted."""
    x, _, queries = selectivity_set
    assert recall(planned_store, x, queries) >= 0.95
    hits = planned_store.search(queries[0], k=10, ef_search=400)
    assert [int(h.id) for h in hits][:5] == brute(x, queries[0], 5)


# --------------------------------------------------------------------- tail and background indexing


def test_unindexed_tail_is_searched_exactly() -> None:
    """Writes are searchable at once: pending vectors are scanned exactly and merged with the graph."""
    x = data(1200)
    with open_store(":memory:", cfg()) as s:
        fill(s, x[:1000])
        s.flush()
        s.insert_batch(ids=[str(i) for i in range(1000, 1200)], vectors=x[1000:])
        st = s.stats()
        assert (st.indexed, st.pending) == (1000, 200)
        assert not st.index_fresh
        for i in (3, 1100, 1199):
            assert s.search(x[i], k=1)[0].id == str(i)
        assert {h.id for h in s.search(x[1150], k=5, filter={"$not": {"zz": 1}})} >= {"1150"}
        s.delete("1100")
        assert s.search(x[1100], k=1)[0].id != "1100"
        s.flush()
        st = s.stats()
        assert (st.indexed, st.pending, st.tombstones) == (1200, 0, 1)
        assert st.index_fresh


def test_background_indexing_absorbs_tail() -> None:
    """With background indexing the graph absorbs new writes without flush()."""
    x = data(1500)
    with open_store(":memory:", cfg(background_indexing=True)) as s:
        fill(s, x)
        assert s.wait_indexed(timeout=60)
        assert s.stats().pending == 0
        assert s.search(x[7], k=1)[0].id == "7"
        assert s.worker_error is None


def test_background_compaction() -> None:
    """Deleting past the threshold compacts the graph in the background; ids survive."""
    x = data(600)
    with open_store(":memory:", cfg(background_indexing=True, compaction_threshold=0.2)) as s:
        fill(s, x)
        assert s.wait_indexed(timeout=60)
        for i in range(300):
            s.delete(str(i))

        def settled() -> bool:
            st = s.stats()
            # Deletes racing a compaction may leave tombstones below the threshold behind.
            return st.indexed < 600 and st.tombstones <= 0.2 * st.indexed and st.pending == 0

        deadline = time.monotonic() + 120
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the background indexer, bounded by the deadline
        assert settled()
        assert s.stats().indexed - s.stats().tombstones == 300
        assert s.search(x[450], k=1)[0].id == "450"
        assert s.count() == 300


def test_compaction_at_flush_preserves_everything(tmp_path: Path) -> None:
    """flush() compacts past the threshold; results, metadata, filters and reopen stay correct."""
    x = data(1000)
    metas = [{"c": i % 4} for i in range(1000)]
    with open_store(tmp_path / "s", cfg(indexed_fields=["c"])) as s:
        fill(s, x, metas)
        s.flush()
        for i in range(0, 1000, 3):
            s.delete(str(i))
        s.upsert("1", x[0], {"c": 9})
        assert s.stats().tombstones > 0
        s.flush()
        st = s.stats()
        assert st.tombstones == 0
        assert st.indexed == st.count == 666
        assert s.search(x[0], k=1)[0].id == "1"
        assert {h.id for h in s.search(x[0], k=1000, filter={"c": 9})} == {"1"}
        got = {h.id for h in s.search(x[5], k=1000, filter={"c": 1})}
        assert got == {str(i) for i in range(1000) if i % 3 and i % 4 == 1 and i != 1}
        assert "5" in s
        assert len(s) == 666
    with open_store(tmp_path / "s") as s2:
        assert s2.count() == 666
        assert s2.search(x[2], k=1)[0].id == "2"
        assert s2.stats().pending == 0


# --------------------------------------------------------------------- compression tiers


@pytest.mark.parametrize(("tier", "floor"), [("f16", 0.95), ("int8", 0.95), ("binary", 0.85)])
def test_compressed_tiers_recall(tier: str, floor: float) -> None:
    """Every tier, rescored with full vectors, keeps recall@10 high (binary: the lossy cold tier)."""
    x = data(2000, d=128)
    queries = data(20, d=128, seed=3)
    config = cfg(dimensions=128, compression=CompressionConfig(tier=tier), exact_scan_min_rows=0)  # type: ignore[arg-type]
    with open_store(":memory:", config) as s:
        fill(s, x)
        s.flush()
        assert s.stats().compression_tier == tier
        assert recall(s, x, queries) >= floor
        hit = s.search(x[11], k=1)[0]
        assert hit.id == "11"
        assert hit.score == pytest.approx(1.0, abs=1e-5)


def test_rescore_off_still_exact_scores() -> None:
    """Without rescoring, the k candidates still get exact full-precision scores."""
    x = data(800)
    config = cfg(compression=CompressionConfig(tier="int8", rescore=False))
    with open_store(":memory:", config) as s:
        fill(s, x)
        s.flush()
        hits = s.search(x[4], k=5)
        assert hits[0].id == "4"
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_auto_tier_follows_memory_budget() -> None:
    """tier="auto" picks the least lossy tier whose estimate fits the budget."""
    x = data(2000, d=64)
    for budget, expected in (
        (100.0, "none"),
        (0.6, "f16"),
        (0.45, "int8"),
        (0.35, "binary"),
        (0.001, "binary"),
    ):
        config = cfg(dimensions=64, compression=CompressionConfig(tier="auto", memory_budget_mb=budget))
        with open_store(":memory:", config) as s:
            fill(s, x)
            s.flush()
            assert s.stats().compression_tier == expected, budget
            assert s.search(x[9], k=1)[0].id == "9"


@pytest.mark.parametrize("tier", ["int8", "binary"])
def test_compressed_tier_on_disk_uses_mapped_vectors(tmp_path: Path, tier: str) -> None:
    """Compressed tiers persist full vectors in a checksummed, memory-mapped file and reopen from it."""
    x = data(700)
    with open_store(tmp_path / "s", cfg(compression=CompressionConfig(tier=tier))) as s:  # type: ignore[arg-type]
        fill(s, x)
        s.flush()
        s.insert("late", x[1] * 2)
    manifest = read_manifest(tmp_path / "s")
    assert manifest is not None
    assert manifest.vectors is not None
    assert (tmp_path / "s" / manifest.vectors.name).exists()
    with open_store(tmp_path / "s") as s2:
        assert isinstance(s2._slab.base, np.memmap)
        assert s2.stats().pending == 1
        assert s2.search(x[5], k=1)[0].id == "5"
        assert {h.id for h in s2.search(x[1], k=2)} == {"1", "late"}
        s2.flush()
        assert s2.stats().index_fresh


@pytest.mark.parametrize("distance", ["l2", "dot"])
@pytest.mark.parametrize("tier", ["none", "f16"])
def test_other_distances_match_brute_force(distance: str, tier: str) -> None:
    """L2 and dot searches (graph, tail and filtered paths) rank like brute force."""
    x = data(1500)
    config = cfg(distance=distance, compression=CompressionConfig(tier=tier))  # type: ignore[arg-type]
    with open_store(":memory:", config) as s:
        fill(s, x[:1000], [{"c": i % 2} for i in range(1000)])
        s.flush()
        s.insert_batch(ids=[str(i) for i in range(1000, 1500)], vectors=x[1000:])
        q = data(1, seed=77)[0]
        hits = s.search(q, k=5, ef_search=300)
        want = brute(x, q, 5, distance=distance)
        assert [int(h.id) for h in hits] == want
        expected = -np.linalg.norm(x[want[0]] - q) if distance == "l2" else float(x[want[0]] @ q)
        assert hits[0].score == pytest.approx(expected, rel=1e-4, abs=1e-4)
        mask = np.zeros(1500, dtype=bool)
        mask[1:1000:2] = True
        got = [int(h.id) for h in s.search(q, k=5, filter={"c": 1})]
        assert got == brute(x, q, 5, mask, distance)


# --------------------------------------------------------------------- persistence and integrity


def test_reopen_needs_no_config_and_checks_it(tmp_path: Path) -> None:
    """Reopening reads the stored config; a contradicting config is refused, options may change."""
    path = tmp_path / "s"
    with open_store(path, cfg(indexed_fields=["c"])) as s:
        s.insert("a", np.ones(D, np.float32), {"c": 1})
    with pytest.raises(ConfigError) as info:
        open_store(path, cfg(dimensions=D + 1))
    assert info.value.code == "vector.config_mismatch"
    with open_store(path, cfg(durability="full")) as s:
        assert s.config.durability == "full"
        assert s._points._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    with open_store(path) as s:
        assert s.config.durability == "full"
        assert s.config.indexed_fields == ()
    with pytest.raises(ConfigError) as info:
        open_store(tmp_path / "missing")
    assert info.value.code == "vector.config_required"


def test_changed_graph_parameters_rebuild_the_index(tmp_path: Path) -> None:
    """A new m/ef_construction/tier on reopen discards the old index and rebuilds it."""
    path = tmp_path / "s"
    x = data(500)
    with open_store(path, cfg()) as s:
        fill(s, x)
        s.flush()
    seen: list[tuple[int, int]] = []
    with open_store(path, cfg(hnsw=HnswConfig(m=8)), progress=lambda d, t: seen.append((d, t))) as s:
        assert s.stats().indexed == 500
        assert seen
        assert seen[-1][0] == 500
        assert s.search(x[3], k=1)[0].id == "3"
    manifest = read_manifest(path)
    assert manifest is not None
    assert manifest.params["m"] == 8


def test_one_open_store_per_directory(tmp_path: Path) -> None:
    """A second open of the same directory fails with vector.locked until the first closes."""
    s = open_store(tmp_path / "s", cfg())
    with pytest.raises(VectorError) as info:
        open_store(tmp_path / "s")
    assert info.value.code == "vector.locked"
    s.close()
    s.close()
    open_store(tmp_path / "s").close()


def test_corrupt_index_is_rebuilt_and_verify_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupted index file fails verify(), is never loaded, and is rebuilt from SQLite on open."""
    path = tmp_path / "s"
    x = data(400)
    with open_store(path, cfg()) as s:
        fill(s, x)
        s.flush()
        manifest = read_manifest(path)
        assert manifest is not None
        index_file = path / manifest.index.name
        raw = bytearray(index_file.read_bytes())
        raw[len(raw) // 2] ^= 0x40
        index_file.write_bytes(bytes(raw))
        report = s.verify()
        assert not report.ok
        assert any("checksum" in p for p in report.problems)
    progress: list[int] = []
    with open_store(path, progress=lambda d, t: progress.append(d)) as s:
        assert "checksum" in caplog.text
        assert progress[-1] == 400
        assert s.verify().ok
        assert s.search(x[8], k=1)[0].id == "8"


def test_unreadable_manifest_and_missing_index_rebuild(tmp_path: Path) -> None:
    """A garbled manifest or a missing index file means a rebuild, not a failure."""
    path = tmp_path / "s"
    x = data(300)
    with open_store(path, cfg()) as s:
        fill(s, x)
        s.flush()
    (path / MANIFEST).write_text("{not json")
    with open_store(path) as s:
        assert s.stats().indexed == 300
    manifest = read_manifest(path)
    assert manifest is not None
    (path / manifest.index.name).unlink()
    with open_store(path) as s:
        assert s.search(x[1], k=1)[0].id == "1"
    body = json.loads((path / MANIFEST).read_text())
    body["index"]["size"] = "x"
    (path / MANIFEST).write_text(json.dumps(body))
    with open_store(path) as s:
        assert s.count() == 300


def test_rebuild_and_verify(tmp_path: Path) -> None:
    """rebuild() reports progress and leaves a fresh, verified index; writes continue after."""
    x = data(900)
    for path in (":memory:", tmp_path / "s"):
        with open_store(path, cfg()) as s:
            fill(s, x[:800])
            s.delete("5")
            seen: list[tuple[int, int]] = []
            s.rebuild(progress=lambda d, t, seen=seen: seen.append((d, t)))
            assert seen[-1] == (799, 799)
            st = s.stats()
            assert (st.indexed, st.tombstones, st.count) == (799, 0, 799)
            assert s.verify().ok
            s.insert_batch(ids=[str(i) for i in range(800, 900)], vectors=x[800:])
            assert s.search(x[850], k=1)[0].id == "850"
            assert s.get("5") is None


def test_verify_detects_memory_database_divergence() -> None:
    """verify() notices when the database and memory disagree."""
    with open_store(":memory:", cfg()) as s:
        fill(s, data(20))
        s._points._db.execute("DELETE FROM points WHERE id = '3'")
        report = s.verify()
        assert not report.ok
        assert "memory holds 20 vectors, the database 19" in report.problems[0]


def test_snapshot_rules(tmp_path: Path) -> None:
    """Snapshots refuse a non-empty destination; an empty store snapshots and reopens."""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with open_store(":memory:", cfg()) as s:
        with pytest.raises(AlreadyExistsError) as exc_info:
            s.snapshot(tmp_path / "busy")
        assert exc_info.value.code == "vector.snapshot_exists"
        s.snapshot(tmp_path / "empty")
        s.insert("a", np.ones(D, np.float32))
    with open_store(tmp_path / "empty") as restored:
        assert restored.count() == 0


def test_closed_store_refuses_calls() -> None:
    """After close, every call raises vector.closed; close is idempotent."""
    s = open_store(":memory:", cfg())
    s.close()
    s.close()
    for call in (lambda: s.count(), lambda: s.search(np.ones(D)), lambda: s.insert("a", np.ones(D)), s.flush):
        with pytest.raises(VectorError) as info:
            call()
        assert info.value.code == "vector.closed"
    assert "closed" in repr(s)


# --------------------------------------------------------------------- failure handling


def test_memory_error_halves_the_indexing_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MemoryError while adding to the graph halves the step and retries."""
    real_add = ann_module.AnnIndex.add
    steps: list[int] = []

    def add(self: Any, x: np.ndarray) -> None:
        steps.append(x.shape[0])
        if x.shape[0] > 100:
            raise MemoryError
        real_add(self, x)

    monkeypatch.setattr(ann_module.AnnIndex, "add", add)
    x = data(700)
    with open_store(":memory:", cfg()) as s:
        fill(s, x)
        s.flush()
        assert s.stats().indexed == 700
        assert steps[:4] == [700, 350, 175, 87]
        assert s.search(x[600], k=1)[0].id == "600"


def test_memory_error_after_partial_add_rebuilds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MemoryError that left a partial add behind drops the graph and rebuilds it smaller."""
    real_add = ann_module.AnnIndex.add
    failed: list[bool] = []

    def add(self: Any, x: np.ndarray) -> None:
        if x.shape[0] > 100 and not failed:
            failed.append(True)
            real_add(self, x[:10])
            raise MemoryError
        real_add(self, x)

    monkeypatch.setattr(ann_module.AnnIndex, "add", add)
    x = data(400)
    with open_store(":memory:", cfg()) as s:
        fill(s, x[:200])
        s.flush()
        fill_more = s.insert_batch(ids=[str(i) for i in range(200, 400)], vectors=x[200:])
        assert fill_more.ok
        s.flush()
        st = s.stats()
        assert (st.indexed, st.pending) == (400, 0)
        assert s.search(x[399], k=1)[0].id == "399"
        assert s.search(x[10], k=1)[0].id == "10"


def test_persistent_memory_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """When even one vector cannot be added, flush raises vector.out_of_memory; searches still work."""

    def add(self: Any, x: np.ndarray) -> None:
        raise MemoryError

    monkeypatch.setattr(ann_module.AnnIndex, "add", add)
    x = data(50)
    with open_store(":memory:", cfg()) as s:
        fill(s, x)
        with pytest.raises(VectorError) as info:
            s.flush()
        assert info.value.code == "vector.out_of_memory"
        assert s.search(x[3], k=1)[0].id == "3"


def test_background_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """An indexer crash is kept in worker_error; searches stay exact and correct."""

    def add(self: Any, x: np.ndarray) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ann_module.AnnIndex, "add", add)
    x = data(100)
    with open_store(":memory:", cfg(background_indexing=True)) as s:
        fill(s, x)
        assert not s.wait_indexed(timeout=30)
        assert isinstance(s.worker_error, RuntimeError)
        assert s.search(x[42], k=1)[0].id == "42"


class _FailingDb:
    """A sqlite3 connection stand-in that fails writes."""

    def __init__(self, inner: sqlite3.Connection, error: type[sqlite3.Error]) -> None:
        self.inner = inner
        self.error = error

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith(("DELETE", "UPDATE")):
            raise self.error("disk I/O error")
        return self.inner.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        raise self.error("database or disk is full")

    @property
    def in_transaction(self) -> bool:
        return self.inner.in_transaction

    def close(self) -> None:
        self.inner.close()


def test_storage_failures_fail_the_items_not_the_process() -> None:
    """A SQLite failure fails the chunk's items with an error naming its cause; single ops raise it."""
    x = data(30)
    with open_store(":memory:", cfg(chunk_size=10)) as s:
        fill(s, x[:10])
        real = s._points._db
        s._points._db = _FailingDb(real, sqlite3.OperationalError)  # type: ignore[assignment]
        with pytest.raises(BatchError) as info:
            s.insert_batch(ids=[str(i) for i in range(10, 30)], vectors=x[10:])
        failures = info.value.failures
        assert len(failures) == 20
        assert all(isinstance(f.error, IoError) and f.error.code == "io.disk_full" for f in failures)
        assert "disk is full" in failures[0].error.message
        with pytest.raises(IoError) as dinfo:
            s.delete("3")
        assert dinfo.value.code == "vector.storage"
        assert dinfo.value.retryable
        with pytest.raises(IoError) as uinfo:
            s.update_metadata("3", {"a": 1})
        assert uinfo.value.code == "vector.storage"
        assert s.count() == 10
        s._points._db = _FailingDb(real, sqlite3.DatabaseError)  # type: ignore[assignment]
        with pytest.raises(VectorError) as vinfo:
            s.delete("3")
        assert vinfo.value.code == "vector.storage_corrupt"
        s._points._db = real


# --------------------------------------------------------------------- validation of calls


def test_search_argument_validation() -> None:
    """k, ef_search, min_score and the query vector are validated."""
    with open_store(":memory:", cfg()) as s:
        fill(s, data(10))
        q = np.ones(D, np.float32)
        for k in (0, -1, True, 1.5, 10_001):
            with pytest.raises(ValidationError) as exc_info:
                s.search(q, k=k)  # type: ignore[arg-type]
            assert exc_info.value.code == "vector.invalid_k"
        for ef in (0, True, "x"):
            with pytest.raises(ValidationError) as exc_info:
                s.search(q, ef_search=ef)  # type: ignore[arg-type]
            assert exc_info.value.code == "vector.invalid_ef"
        with pytest.raises(ValidationError) as exc_info:
            s.search(q, min_score="high")  # type: ignore[arg-type]
        assert exc_info.value.code == "vector.invalid_min_score"
        assert len(s.search(q.reshape(1, D), k=3)) == 3
        assert len(s.search(q.astype(np.float64), k=3)) == 3
        assert len(s.search(list(range(D)), k=3)) == 3
        for bad in (np.ones((2, D)), np.ones(D, np.complex64), ["a"] * D, [[1, 2], [3]], np.full(D, 1e300)):
            with pytest.raises(VectorError) as exc_info:
                s.search(bad)
            assert exc_info.value.code == "vector.invalid_vector"


def test_batch_argument_validation() -> None:
    """Batches validate their shape; malformed items fail alone."""
    x = data(5)
    with open_store(":memory:", cfg(chunk_size=2)) as s:
        with pytest.raises(ValidationError) as exc_info:
            s.insert_batch([("a", x[0])], ids=["a"], vectors=x[:1])
        assert exc_info.value.code == "vector.invalid_batch"
        with pytest.raises(ValidationError) as exc_info:
            s.insert_batch(ids=["a"])
        assert exc_info.value.code == "vector.invalid_batch"
        with pytest.raises(ValidationError) as exc_info:
            s.insert_batch(ids=["a", "b"], vectors=x[:2], metadatas=[None])
        assert exc_info.value.code == "vector.invalid_batch"
        with pytest.raises(ValidationError) as exc_info:
            s.insert_batch(ids=["a", "b"], vectors=x[:3])
        assert exc_info.value.code == "vector.invalid_batch"
        with pytest.raises(VectorError) as exc_info:
            s.insert_batch(ids=["a"], vectors=np.array([["x"] * D]))
        assert exc_info.value.code == "vector.invalid_vector"
        with pytest.raises(VectorError) as exc_info:
            s.insert_batch(ids=["a"], vectors=[[1, 2], [3]])
        assert exc_info.value.code == "vector.invalid_vector"
        result = s.insert_batch(
            [
                ("a", x[0]),
                "garbage",
                ("b", None),
                ("x" * 600, x[1]),
                (7, x[2]),
                ("c", x[3], {"deep": [[[[1]]]]}),
                ("d", x[4], {"big": 2**70}),
                ("e", x[4], {"t": (1, 2)}),
            ]
        )
        assert [f.item_id for f in result.failures] == ["#1", "b", "x" * 600, "#4", "d"]
        assert s.count() == 3
        rec = s.get("e")
        assert rec is not None
        assert rec.metadata == {"t": [1, 2]}
        nan = x.copy()
        nan[1, 0] = np.nan
        result = s.insert_batch(ids=["p", "q", "r", "s", "t"], vectors=nan)
        assert [f.item_id for f in result.failures] == ["q"]
        with pytest.raises(ValidationError) as exc_info:
            s.insert("deep", x[0], _nested(70))
        assert exc_info.value.code == "vector.invalid_metadata"
        with pytest.raises(ValidationError) as exc_info:
            s.insert("huge", x[0], {"s": "x" * (1 << 20)})
        assert exc_info.value.code == "vector.invalid_metadata"
        with pytest.raises(ValidationError) as exc_info:
            s.get(5)  # type: ignore[arg-type]
        assert exc_info.value.code == "vector.invalid_id"
        with pytest.raises(ValidationError) as exc_info:
            s.insert("nul\x00", x[0])
        assert exc_info.value.code == "vector.invalid_id"


def _nested(depth: int) -> dict[str, Any]:
    d: dict[str, Any] = {}
    cur = d
    for _ in range(depth):
        cur["n"] = {}
        cur = cur["n"]
    return d


def test_search_returns_stored_vectors_and_properties(tmp_path: Path) -> None:
    """with_vectors returns the original (un-normalized) vectors; properties describe the store."""
    x = data(50) * 3
    with open_store(tmp_path / "s", cfg(distance=Distance.COSINE)) as s:
        fill(s, x)
        hits = s.search(x[2], k=2, with_vectors=True, with_metadata=False)
        np.testing.assert_allclose(hits[0].vector, x[2], rtol=1e-6)  # type: ignore[arg-type]
        assert s.dimensions == D
        assert s.path == str(tmp_path / "s")
        assert "count=50" in repr(s)
        assert s.stats().disk_bytes > 0
        assert s.stats().memory_bytes > 0


def test_zero_vectors_are_allowed_for_cosine() -> None:
    """A zero vector is stored and scores 0 against everything."""
    with open_store(":memory:", cfg()) as s:
        s.insert("zero", np.zeros(D, np.float32))
        s.insert("one", np.ones(D, np.float32))
        hits = s.search(np.ones(D, np.float32), k=2)
        assert [h.id for h in hits] == ["one", "zero"]
        assert hits[1].score == 0.0
        assert all(h.score == 0.0 for h in s.search(np.zeros(D, np.float32), k=2))


def test_close_abandons_a_running_compaction() -> None:
    """A compaction interrupted by close() leaves the old graph (and the data) intact."""
    x = data(300)
    s = open_store(":memory:", cfg())
    fill(s, x)
    s.flush()
    for i in range(100):
        s.delete(str(i))
    s._compact(stop=lambda: True)
    st = s.stats()
    assert (st.tombstones, st.indexed) == (100, 300)
    assert s.search(x[150], k=1)[0].id == "150"
    s.close()


def test_concurrent_searches_during_writes_indexing_and_compaction() -> None:
    """Searches racing writes, background indexing and compaction never see acknowledged deletes."""
    import threading

    x = data(2000)
    deleted: set[str] = set()
    errors: list[BaseException] = []
    done = threading.Event()
    with open_store(":memory:", cfg(background_indexing=True, compaction_threshold=0.1)) as s:
        fill(s, x[:500])

        def writer() -> None:
            try:
                for start in range(500, 2000, 100):
                    s.insert_batch(
                        ids=[str(i) for i in range(start, start + 100)], vectors=x[start : start + 100]
                    )
                    for i in range(start - 500, start - 440):
                        s.delete(str(i))
                        deleted.add(str(i))
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        def reader(seed: int) -> None:
            rng = np.random.default_rng(seed)
            try:
                while not done.is_set():
                    gone = set(deleted)
                    i = int(rng.integers(0, 2000))
                    hits = s.search(x[i], k=10, filter={"$not": {"none": 1}} if i % 2 else None)
                    assert not gone & {h.id for h in hits}
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader, args=(n,)) for n in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        assert s.count() == 2000 - len(deleted)
        assert s.wait_indexed(timeout=60)
        assert s.verify().ok
