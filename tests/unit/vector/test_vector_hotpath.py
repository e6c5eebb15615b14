"""The search hot path: decoded-metadata cache, fast result construction, query fast path."""

from __future__ import annotations

import numpy as np
import pytest

from llm_infra.errors import VectorError
from llm_infra.vector import Distance, SearchResult, VectorStoreConfig, open_store
from llm_infra.vector._store import LocalVectorStore


def _store(dims: int = 4, distance: Distance = Distance.COSINE, **kw: object) -> LocalVectorStore:
    cfg = VectorStoreConfig(
        collection="hot", dimensions=dims, distance=distance, background_indexing=False, **kw
    )
    return open_store(":memory:", cfg)


def _meta_of(store: LocalVectorStore, vec: np.ndarray, ident: str) -> object:
    hits = {r.id: r.metadata for r in store.search(vec, k=10)}
    return hits.get(ident, "absent")


def test_returned_metadata_is_a_private_copy() -> None:
    """Mutating a returned (flat or nested) metadata dict never changes what the store serves."""
    with _store() as s:
        s.insert("flat", [1, 0, 0, 0], {"a": 1, "b": "x"})
        s.insert("nested", [0, 1, 0, 0], {"tags": ["p", "q"], "o": {"k": 1}})
        for _ in range(2):  # the second round reads the cached decoded dicts
            for r in s.search(np.array([1, 1, 0, 0], np.float32), k=2):
                assert r.metadata is not None
                r.metadata["a"] = "changed"
                r.metadata.get("tags", []).append("z")
        got = {r.id: r.metadata for r in s.search(np.array([1, 1, 0, 0], np.float32), k=2)}
        assert got == {"flat": {"a": 1, "b": "x"}, "nested": {"tags": ["p", "q"], "o": {"k": 1}}}
        record = s.get("flat")
        assert record is not None
        assert record.metadata == {"a": 1, "b": "x"}


def test_update_metadata_after_cached_read_is_never_stale() -> None:
    """update_metadata replaces a metadata dict a search already decoded and cached."""
    q = np.array([1, 0, 0, 0], np.float32)
    with _store(indexed_fields=["a"]) as s:
        s.insert("x", [1, 0, 0, 0], {"a": 1})
        assert _meta_of(s, q, "x") == {"a": 1}
        assert _meta_of(s, q, "x") == {"a": 1}  # served from the cache
        s.update_metadata("x", {"a": 2, "new": True})
        assert _meta_of(s, q, "x") == {"a": 2, "new": True}
        assert [r.id for r in s.search(q, filter={"a": 2})] == ["x"]
        assert s.search(q, filter={"a": 1}) == []
        s.update_metadata("x", None)
        assert _meta_of(s, q, "x") is None
        record = s.get("x")
        assert record is not None
        assert record.metadata is None


def test_upsert_and_delete_after_cached_read_are_never_stale() -> None:
    """upsert serves the new metadata and delete removes the hit, after cached reads."""
    q = np.array([1, 0, 0, 0], np.float32)
    with _store() as s:
        s.insert("x", [1, 0, 0, 0], {"v": "old"})
        s.insert("y", [0, 1, 0, 0], {"v": "y"})
        assert _meta_of(s, q, "x") == {"v": "old"}
        s.upsert("x", [1, 0.1, 0, 0], {"v": "new"})
        assert _meta_of(s, q, "x") == {"v": "new"}
        s.upsert_batch([("x", [1, 0, 0, 0], {"v": "newer", "n": [1]})])
        assert _meta_of(s, q, "x") == {"v": "newer", "n": [1]}
        assert s.delete("x")
        assert _meta_of(s, q, "x") == "absent"
        assert _meta_of(s, q, "y") == {"v": "y"}


def test_cached_metadata_survives_compaction_and_flush() -> None:
    """Decoded entries move with their slots when the graph is compacted."""
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((200, 8)).astype(np.float32)
    with _store(dims=8, compaction_threshold=0.1) as s:
        s.insert_batch(
            ids=[str(i) for i in range(200)], vectors=vecs, metadatas=[{"i": i} for i in range(200)]
        )
        s.flush()
        for i in range(0, 200, 7):  # decode and cache some entries
            s.search(vecs[i], k=3)
        for i in range(0, 200, 2):
            s.delete(str(i))
        s.flush()
        assert s.stats().tombstones == 0
        for i in range(1, 200, 2):
            top = s.search(vecs[i], k=1)[0]
            assert top.id == str(i)
            assert top.metadata == {"i": i}
        assert s.stats().memory_bytes > 0


def test_results_keep_type_fields_and_equality() -> None:
    """Hits built by the fast constructor are ordinary SearchResults."""
    with _store() as s:
        s.insert("a", [1, 0, 0, 0], {"k": 1})
        (hit,) = s.search(np.array([1, 0, 0, 0], np.float32), k=1)
        assert type(hit) is SearchResult
        assert hit == SearchResult("a", hit.score, {"k": 1})
        assert hit.vector is None
        assert hit.score == pytest.approx(1.0)
        with pytest.raises(AttributeError):
            hit.id = "b"  # type: ignore[misc]  # frozen
        (bare,) = s.search([1, 0, 0, 0], k=1, with_metadata=False)
        assert bare == SearchResult("a", hit.score)
        (full,) = s.search([1, 0, 0, 0], k=1, with_vectors=True)
        assert full.vector is not None
        assert full.metadata == {"k": 1}


@pytest.mark.parametrize("distance", [Distance.COSINE, Distance.L2, Distance.DOT])
def test_query_fast_path_validates_like_the_slow_path(distance: Distance) -> None:
    """A contiguous float32 query is checked for NaN/inf and for a squared norm that overflows."""
    with _store(distance=distance) as s:
        s.insert("a", [1, 0, 0, 0])
        s.insert("b", [0, 1, 0, 0])
        for bad in (np.nan, np.inf, -np.inf):
            q = np.array([1, bad, 0, 0], np.float32)
            with pytest.raises(VectorError) as info:
                s.search(q)
            assert info.value.code == "vector.invalid_vector"
        with pytest.raises(VectorError) as mismatch:
            s.search(np.zeros(3, np.float32))
        assert mismatch.value.code == "vector.dimension_mismatch"
        huge = np.array([3e38, 1e30, 0, 0], np.float32)  # the sum of squares overflows float32
        with pytest.raises(VectorError) as overflow:
            s.search(huge, k=1)
        assert overflow.value.code == "vector.invalid_vector"
        q = np.array([0, 2, 0, 0], np.float32)
        assert s.search(q, k=1)[0].id == "b"
        assert q.tolist() == [0, 2, 0, 0]  # the caller's array is not normalised in place
        assert s.search(np.zeros(4, np.float32), k=2)  # a zero query is valid
