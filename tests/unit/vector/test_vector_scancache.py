"""The exact-scan cache: per-filter slots and row copies, bounded, invalidated by every write."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from llm_infra.vector import And, Distance, Eq, MetadataFilter, VectorStoreConfig, open_store
from llm_infra.vector._scan_cache import ScanCache
from llm_infra.vector._store import LocalVectorStore

D = 8


def _store(distance: Distance = Distance.COSINE, **kw: Any) -> LocalVectorStore:
    cfg = VectorStoreConfig(
        collection="scan", dimensions=D, distance=distance, background_indexing=False, **kw
    )
    return open_store(":memory:", cfg)


def _filled(
    n: int = 300, distance: Distance = Distance.COSINE, **kw: Any
) -> tuple[LocalVectorStore, np.ndarray]:
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((n, D)).astype(np.float32)
    s = _store(distance, **kw)
    s.insert_batch(
        ids=[str(i) for i in range(n)], vectors=vecs, metadatas=[{"c": i % 10, "i": i} for i in range(n)]
    )
    return s, vecs


def _ids(s: LocalVectorStore, q: np.ndarray, flt: Any, k: int = 100) -> list[str]:
    return [r.id for r in s.search(q, k=k, filter=flt)]


def test_repeated_filter_uses_cached_rows_with_identical_results() -> None:
    """The first, second (rows copied) and third searches of a filter return the same hits."""
    for distance in (Distance.COSINE, Distance.L2, Distance.DOT):
        s, vecs = _filled(distance=distance, exact_scan_min_rows=10_000)
        with s:
            s.flush()
            q = vecs[5]
            runs = [s.search(q, k=7, filter={"c": 5}) for _ in range(3)]
            assert runs[0] == runs[1] == runs[2]
            assert runs[0][0].id == "5"
            assert s.plan({"c": 5}) == "exact"
            assert len(s._scan_cache) == 1
            assert s._scan_cache.nbytes >= 30 * D * 4


def test_cache_is_never_stale_after_update_metadata_upsert_delete_insert() -> None:
    """Every kind of write is reflected by the next search of a cached filter."""
    s, vecs = _filled(exact_scan_min_rows=10_000)
    with s:
        q = vecs[3]
        flt = {"c": 3}
        for _ in range(3):
            before = _ids(s, q, flt)
        assert len(before) == 30
        s.update_metadata("3", {"c": 4})
        assert "3" not in _ids(s, q, flt)
        s.update_metadata("4", {"c": 3})
        assert "4" in _ids(s, q, flt)
        for _ in range(3):
            _ids(s, q, flt)
        s.upsert("13", -vecs[3], {"c": 3})
        hits = s.search(q, k=100, filter=flt)
        assert hits[-1].id == "13"
        assert hits[-1].score == pytest.approx(-1.0, abs=1e-5)
        s.delete("23")
        assert "23" not in _ids(s, q, flt)
        s.insert("new", vecs[3] * 2, {"c": 3})
        assert _ids(s, q, flt, k=1) == ["new"]
        s.upsert_batch([("new", vecs[3], {"c": 9})])
        assert "new" not in _ids(s, q, flt)
        expected = [*sorted(str(i) for i in range(300) if i % 10 == 3 and i not in (3, 23)), "13", "4"]
        assert sorted(_ids(s, q, flt)) == sorted(set(expected))


def test_cache_survives_compaction_only_with_fresh_slots() -> None:
    """Compaction renumbers slots; cached slot arrays are dropped with it."""
    s, vecs = _filled(exact_scan_min_rows=10_000, compaction_threshold=0.1)
    with s:
        s.flush()
        for _ in range(3):
            _ids(s, vecs[0], {"c": 1})
        for i in range(0, 300, 2):
            s.delete(str(i))
        s.flush()
        assert s.stats().tombstones == 0
        top = s.search(vecs[11], k=1, filter={"c": 1})[0]
        assert top.id == "11"
        assert top.metadata == {"c": 1, "i": 11}


def test_cached_exact_entry_is_replanned_when_the_graph_grows() -> None:
    """An entry cached while everything was tail is not reused once the graph would be planned."""
    s, vecs = _filled(n=400, exact_scan_min_rows=0, exact_scan_fraction=0.05)
    with s:
        flt = {"i": {"$lt": 200}}  # 50%: exact while g == 0, graph after flush
        for _ in range(3):
            first = _ids(s, vecs[10], flt, k=5)
        assert s.plan(flt) == "exact"
        s.flush()
        assert s.plan(flt) == "graph"
        assert _ids(s, vecs[10], flt, k=5)[0] == first[0] == "10"


def test_values_equal_across_types_get_separate_entries() -> None:
    """Eq(f, True) and Eq(f, 1) are different filters for the cache."""
    with _store(exact_scan_min_rows=10_000) as s:
        s.insert("bool", np.ones(D, np.float32), {"f": True})
        s.insert("int", np.ones(D, np.float32), {"f": 1})
        s.insert("float", np.ones(D, np.float32), {"f": 1.5})
        q = np.ones(D, np.float32)
        for _ in range(3):
            as_bool = _ids(s, q, Eq("f", True))
            as_int = _ids(s, q, Eq("f", 1))
        assert as_bool == ["bool"]
        assert as_int == ["int"]
        assert len(s._scan_cache) == 2


class _Odd(MetadataFilter):
    """A user-defined filter (evaluated row by row): never cached."""

    def matches(self, metadata: Any) -> bool:
        return bool(metadata) and metadata.get("i", 0) % 2 == 1

    def fields(self) -> frozenset[str]:
        return frozenset({"i"})

    def to_dict(self) -> dict[str, Any]:
        return {"odd": True}


class _Unhashable(_Odd):
    __hash__ = None  # type: ignore[assignment]  # a user filter may be unhashable


def test_user_filters_are_not_cached() -> None:
    """Filters the payload index cannot evaluate, or cannot be hashed, bypass the cache."""
    s, vecs = _filled(n=50, exact_scan_min_rows=10_000)
    with s:
        for flt in (_Odd(), And(_Odd(), Eq("c", 3)), _Unhashable()):
            for _ in range(3):
                hits = _ids(s, vecs[0], flt)
                assert all(int(h) % 2 == 1 for h in hits)
        assert len(s._scan_cache) == 0


def test_store_cache_stays_bounded_by_entries() -> None:
    """Many distinct filters keep at most max_entries in the cache."""
    s, vecs = _filled(exact_scan_min_rows=10_000)
    with s:
        for i in range(40):
            for _ in range(2):
                _ids(s, vecs[0], {"i": {"$gte": i, "$lt": i + 50}})
        assert len(s._scan_cache) <= s._scan_cache.max_entries


def test_lru_evicts_least_recently_used_and_respects_byte_budget() -> None:
    """Entries and bytes never exceed the bounds; the least recently used goes first."""
    cache = ScanCache(max_entries=3, max_bytes=1_000)
    slots = np.arange(10, dtype=np.int64)  # 80 bytes
    for key in ("a", "b", "c"):
        cache.put(key, 1, slots)
    assert cache.get("a", 1) is not None  # a is now the most recent
    cache.put("d", 1, slots)
    assert cache.get("b", 1) is None
    assert all(cache.get(key, 1) is not None for key in ("a", "c", "d"))
    assert len(cache) == 3
    entry = cache.get("a", 1)
    assert entry is not None
    assert cache.attach_rows("a", 1, entry, np.zeros((10, 8), np.float32))  # +320 bytes
    assert not cache.attach_rows("a", 1, entry, np.zeros((10, 8), np.float32))  # already attached
    assert cache.nbytes == 3 * 80 + 320
    big = cache.get("c", 1)
    assert big is not None
    assert not cache.attach_rows("c", 1, big, np.zeros((40, 8), np.float32))  # 1,280 > budget
    d = cache.get("d", 1)
    assert d is not None
    assert cache.attach_rows("d", 1, d, np.zeros((20, 8), np.float32))  # evicts to fit 1,000
    assert cache.nbytes <= 1_000
    assert cache.get("d", 1) is d
    cache.put("huge", 1, np.arange(200, dtype=np.int64))  # 1,600 bytes alone: refused
    assert cache.get("huge", 1) is None
    cache.put("d", 1, slots)  # replacing an entry releases its bytes
    assert cache.nbytes <= 1_000


def test_generation_change_empties_the_cache() -> None:
    """A new write generation drops every entry; rows for a stale entry are refused."""
    cache = ScanCache()
    cache.put("a", 1, np.arange(4, dtype=np.int64))
    entry = cache.get("a", 1)
    assert entry is not None
    assert cache.get("a", 2) is None
    assert len(cache) == 0
    assert cache.nbytes == 0
    assert not cache.attach_rows("a", 2, entry, np.zeros((4, 2), np.float32))
    assert not cache.attach_rows("a", 1, entry, np.zeros((4, 2), np.float32))
    cache.put("b", 3, np.arange(4, dtype=np.int64))
    assert cache.get("b", 3) is not None
