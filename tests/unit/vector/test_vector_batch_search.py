"""search_batch: one graph call per batch, exact plans batched, results equal to per-query search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from llm_infra.errors import ValidationError, VectorError
from llm_infra.vector import (
    CompressionConfig,
    Distance,
    Eq,
    In,
    LocalVectorStore,
    Range,
    VectorStoreConfig,
    open_async_store,
    open_store,
)
from llm_infra.vector import _ann as ann_module

D = 16


def _store(path: str | Path = ":memory:", **kw: Any) -> LocalVectorStore:
    values: dict[str, Any] = {"collection": "b", "dimensions": D, "background_indexing": False}
    values.update(kw)
    return open_store(path, VectorStoreConfig(**values))


def _fill(store: LocalVectorStore, n: int, seed: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)
    store.insert_batch(
        ids=[str(i) for i in range(n)],
        vectors=x,
        metadatas=[{"g": i % 100, "p": i % 2 == 0} for i in range(n)],
    )
    return x


def _same(store: LocalVectorStore, qs: np.ndarray, k: int, flt: Any = None, **kw: Any) -> None:
    batch = store.search_batch(qs, k=k, filter=flt, **kw)
    assert len(batch) == qs.shape[0]
    for q, got in zip(qs, batch, strict=True):
        want = store.search(q, k=k, filter=flt, **kw)
        assert [(h.id, h.score, h.metadata) for h in got] == [(h.id, h.score, h.metadata) for h in want]


FILTERS: tuple[Any, ...] = (None, Eq("g", 7), In("g", list(range(30))), Range("g", gte=5), Eq("p", True))


@pytest.mark.parametrize(
    ("distance", "tier"),
    [
        (Distance.COSINE, "none"),
        (Distance.L2, "none"),
        (Distance.DOT, "none"),
        (Distance.COSINE, "f16"),
        (Distance.L2, "int8"),
        (Distance.DOT, "binary"),
    ],
)
def test_batch_equals_single_queries(distance: Distance, tier: str) -> None:
    """Graph, exact and merged plans (tail, tombstones, every tier) give the per-query results bit for bit."""
    with _store(distance=distance, compression=CompressionConfig(tier=tier), exact_scan_min_rows=50) as s:
        x = _fill(s, 1_500)
        s.flush()
        for i in range(0, 300, 3):
            s.delete(str(i))
        extra = np.random.default_rng(9).standard_normal((200, D)).astype(np.float32)
        s.insert_batch(
            ids=[f"t{i}" for i in range(200)], vectors=extra, metadatas=[{"g": i % 100} for i in range(200)]
        )
        qs = np.concatenate(
            [x[:10], extra[:6], np.random.default_rng(5).standard_normal((8, D)).astype(np.float32)]
        )
        for flt in FILTERS:
            _same(s, qs, 10, flt)
        _same(s, qs[:4], 5, None, ef_search=20)
        _same(s, qs[:4], 5, Eq("g", 3), min_score=-0.5)


def test_batch_before_any_graph_and_on_an_empty_store() -> None:
    """With no graph (everything tail) and on an empty store the batch still matches."""
    with _store() as s:
        qs = np.random.default_rng(1).standard_normal((3, D)).astype(np.float32)
        assert s.search_batch(qs, k=4) == [[], [], []]
        _fill(s, 500)
        _same(s, qs, 4)
        _same(s, qs, 4, Eq("g", 2))
        s.flush()  # the all-in-graph plan converts the whole batch at once
        _same(s, qs, 4)
        _same(s, qs, 4, min_score=0.1)
        assert s.search_batch(qs, k=4, filter=Eq("g", 1000)) == [[], [], []]


def test_batch_makes_one_graph_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph answers the whole batch in one faiss call."""
    with _store() as s:
        x = _fill(s, 2_000)
        s.flush()
        calls: list[int] = []
        original = ann_module.AnnIndex.search_many

        def counting(self: Any, q: np.ndarray, *args: Any) -> Any:
            calls.append(q.shape[0])
            return original(self, q, *args)

        monkeypatch.setattr(ann_module.AnnIndex, "search_many", counting)
        assert len(s.search_batch(x[:64], k=5)) == 64
        assert calls == [64]


def test_batch_validation() -> None:
    """Bad batches fail with the usual codes; NaN rows and bad k are refused."""
    with _store() as s:
        _fill(s, 20)
        bad_rows = np.ones((2, D), np.float32)
        bad_rows[1, 3] = np.nan
        with pytest.raises(VectorError) as nan:
            s.search_batch(bad_rows)
        assert nan.value.code == "vector.invalid_vector"
        with pytest.raises(VectorError) as text:
            s.search_batch("not vectors")
        assert text.value.code == "vector.invalid_vector"
        with pytest.raises(ValidationError) as k:
            s.search_batch(np.ones((1, D)), k=0)
        assert k.value.code == "vector.invalid_k"
        with pytest.raises(VectorError) as dims:
            s.search_batch(np.ones((1, D + 2)))
        assert dims.value.code == "vector.dimension_mismatch"
        assert len(s.search_batch(np.ones((2, D), np.float64), k=1)) == 2


def test_async_search_batch(tmp_path: Path) -> None:
    """The async store offers search_batch too."""

    async def main() -> None:
        store = await open_async_store(tmp_path / "a", VectorStoreConfig(collection="a", dimensions=D))
        async with store:
            x = np.random.default_rng(2).standard_normal((30, D)).astype(np.float32)
            await store.insert_batch(ids=[str(i) for i in range(30)], vectors=x)
            batch = await store.search_batch(x[:3], k=1)
            assert [hits[0].id for hits in batch] == ["0", "1", "2"]

    anyio.run(main)


def test_search_batch_refuses_search_only_options_sync_and_async() -> None:
    """Regression: with the options as a TypedDict, ``with_metadata`` slipped through at runtime."""
    with _store() as store:
        _fill(store, 8)
        query = np.zeros((1, D), dtype=np.float32)
        with pytest.raises(TypeError, match="with_metadata"):
            store.search_batch(query, 3, with_metadata=False)  # type: ignore[call-arg]  # the point of the test

    async def run() -> None:
        config = VectorStoreConfig(collection="a", dimensions=D)
        async with await open_async_store(":memory:", config) as astore:
            with pytest.raises(TypeError, match="with_metadata"):
                await astore.search_batch(query, 3, with_metadata=False)  # type: ignore[call-arg]  # the point

    anyio.run(run)
