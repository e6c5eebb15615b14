"""The async store, protocol conformance, and telemetry spans."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import numpy as np
import pytest

from llm_infra.errors import AlreadyExistsError, NotFoundError
from llm_infra.testing._otel import capture_spans
from llm_infra.vector import (
    AsyncLocalVectorStore,
    AsyncVectorStore,
    Eq,
    VectorStore,
    VectorStoreConfig,
    open_async_store,
    open_store,
)

D = 8


def _v(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(D).astype(np.float32)


@pytest.mark.anyio
@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_async_store_round_trip(tmp_path: Path, durability: str) -> None:
    """Every method of the async store works and matches the sync semantics."""
    cfg = VectorStoreConfig(collection="a", dimensions=D, durability=durability)  # type: ignore[arg-type]
    store = await open_async_store(tmp_path / "s", cfg)
    assert isinstance(store, AsyncVectorStore)
    async with store:
        await store.insert("a", _v(1), {"c": "x"})
        with pytest.raises(AlreadyExistsError) as exc_info:
            await store.insert("a", _v(1))
        assert exc_info.value.code == "vector.already_exists"
        await store.upsert("b", _v(2), {"c": "y"})
        result = await store.insert_batch([("c", _v(3), {"c": "x"}), ("d", _v(4))])
        assert result.ok
        result = await store.upsert_batch(ids=["d", "e"], vectors=np.stack([_v(5), _v(6)]))
        assert result.ok
        assert await store.count() == 5
        rec = await store.get("a", with_vector=True)
        assert rec is not None
        np.testing.assert_allclose(rec.vector, _v(1), rtol=1e-6)  # type: ignore[arg-type]
        hits = await store.search(_v(3), k=2, filter=Eq("c", "x"))
        assert hits[0].id == "c"
        hits = await store.query(_v(5)).limit(1).without_metadata().execute()
        assert hits[0].id == "d"
        await store.update_metadata("a", {"c": "z"})
        with pytest.raises(NotFoundError) as exc_info:
            await store.update_metadata("zz", {})
        assert exc_info.value.code == "vector.not_found"
        assert await store.delete("b") is True
        assert await store.delete("b") is False
        await store.flush()
        stats = await store.stats()
        assert (stats.count, stats.pending) == (4, 0)
        assert (await store.verify()).ok
        await store.rebuild()
        await store.snapshot(tmp_path / "snap")
        assert "AsyncLocalVectorStore" in repr(store)
    with open_store(tmp_path / "snap") as snap:
        assert snap.count() == 4


@pytest.mark.anyio
async def test_async_searches_run_concurrently_with_offloaded_batches() -> None:
    """Searches issued while a batch runs in a worker thread see a consistent store."""
    store = await open_async_store(":memory:", VectorStoreConfig(collection="a", dimensions=D))
    x = np.random.default_rng(0).standard_normal((3000, D)).astype(np.float32)
    found: list[int] = []

    async def writer() -> None:
        for start in range(0, 3000, 500):
            await store.insert_batch(
                ids=[str(i) for i in range(start, start + 500)], vectors=x[start : start + 500]
            )

    async def reader() -> None:
        for _ in range(30):
            hits = await store.search(x[0], k=1)
            found.append(len(hits))
            await anyio.sleep(0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        tg.start_soon(reader)
    assert await store.count() == 3000
    assert (await store.search(x[2999], k=1))[0].id == "2999"
    await store.aclose()
    await store.aclose()


def test_protocols_are_satisfied() -> None:
    """LocalVectorStore is a VectorStore; the async wrapper is an AsyncVectorStore."""
    with open_store(":memory:", VectorStoreConfig(collection="p", dimensions=D)) as s:
        assert isinstance(s, VectorStore)
        assert isinstance(AsyncLocalVectorStore(s), AsyncVectorStore)


def test_operations_emit_spans() -> None:
    """Writes and searches open vector.* spans with the semantic attributes."""
    with (
        capture_spans() as spans,
        open_store(":memory:", VectorStoreConfig(collection="t", dimensions=D)) as s,
    ):
        s.insert("a", _v(1))
        s.insert_batch([("b", _v(2)), ("bad", np.ones(3))])
        s.search(_v(1), k=3, filter={"x": 1})
        s.flush()
    names = [sp.name for sp in spans]
    for name in ("vector.insert", "vector.insert_batch", "vector.search", "vector.flush"):
        assert name in names
    search = next(sp for sp in spans if sp.name == "vector.search")
    assert search.attributes is not None
    assert search.attributes["vector.k"] == 3
    assert search.attributes["vector.has_filter"] is True
    batch = next(sp for sp in spans if sp.name == "vector.insert_batch")
    assert batch.attributes is not None
    assert batch.attributes["vector.batch_size"] == 2
    assert batch.attributes["vector.batch_failed"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["insert", "search", "get", "stats"])
async def test_blocked_calls_do_not_block_the_event_loop(operation: str) -> None:
    """While a call waits for the store's locks, other tasks keep running (no timing involved).

    Another thread holds the write mutex (writes wait for it) or the write side of the
    readers-writer lock (reads wait for it); a ticker task must keep counting while the
    awaited call is blocked, and the call completes once the lock is released.
    """
    store = await open_async_store(":memory:", VectorStoreConfig(collection="lag", dimensions=D))
    await store.insert("seed", _v(0))
    sync = store.sync
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        lock = sync._write_mutex if operation == "insert" else None
        if lock is not None:
            with lock:
                holding.set()
                release.wait(60)
        else:
            with sync._rw.write:
                holding.set()
                release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(60)
    ticks = 0
    done = anyio.Event()
    ticks_when_done: list[int] = []

    async def call() -> None:
        if operation == "insert":
            await store.insert("new", _v(1))
        elif operation == "search":
            await store.search(_v(1), k=1)
        elif operation == "get":
            await store.get("seed", with_vector=True)
        else:
            await store.stats()
        ticks_when_done.append(ticks)
        done.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            while ticks < 200:
                ticks += 1
                await anyio.sleep(0)
            # The loop ran 200 ticks while the call was blocked on the held lock.
            assert not done.is_set()
            release.set()
            await done.wait()
    finally:
        release.set()
        holder.join()
    assert ticks_when_done[0] >= 200
    if operation == "insert":
        assert await store.count() == 2
    await store.aclose()
