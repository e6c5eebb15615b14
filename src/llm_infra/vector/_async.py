"""The async face of the local engine.

Every call that can block runs in a worker thread (``anyio.to_thread``): writes (they wait for
the write mutex, which ``rebuild()``, ``flush()`` or a large batch may hold for seconds),
reads and searches (they may wait for the read lock while a writer holds it), and
maintenance. The event loop only awaits; it never waits for a lock of the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar, final

import anyio.to_thread

from llm_infra.errors import BatchResult
from llm_infra.vector._base import AsyncStoreBase, Columns, SearchArgs, forward_search, forward_search_batch
from llm_infra.vector._config import VectorStoreConfig
from llm_infra.vector._store import LocalVectorStore
from llm_infra.vector._types import Progress, SearchResult, StoreStats, VectorRecord, VerifyReport

T = TypeVar("T")


async def _offload(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


@final
class AsyncLocalVectorStore(AsyncStoreBase):
    """``AsyncVectorStore`` over a ``LocalVectorStore`` (see ``open_async_store``).

    Each method runs the synchronous one in a worker thread, so the event loop keeps running
    while a call waits for the store's locks or for the disk.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("sync",)

    def __init__(self, store: LocalVectorStore) -> None:
        self.sync = store
        """The underlying synchronous store."""

    @property
    def config(self) -> VectorStoreConfig:
        """The store's configuration (as persisted, including ``embedder_model``)."""
        return self.sync.config

    async def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """See ``LocalVectorStore.insert``."""
        await _offload(partial(self.sync.insert, id, vector, metadata))

    async def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """See ``LocalVectorStore.upsert``."""
        await _offload(partial(self.sync.upsert, id, vector, metadata))

    async def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult:
        write = self.sync.upsert_batch if upsert else self.sync.insert_batch
        return await _offload(partial(write, items, **columns._asdict()))

    async def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]:
        return await _offload(partial(forward_search, self.sync, vector, a))

    async def _search_many(self, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]:
        return await _offload(partial(forward_search_batch, self.sync, vectors, a))

    async def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """See ``LocalVectorStore.get``."""
        return await _offload(partial(self.sync.get, id, with_vector))

    async def delete(self, id: str) -> bool:
        """See ``LocalVectorStore.delete``."""
        return await _offload(partial(self.sync.delete, id))

    async def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """See ``LocalVectorStore.update_metadata``."""
        await _offload(partial(self.sync.update_metadata, id, metadata))

    async def count(self) -> int:
        """See ``LocalVectorStore.count`` (lock-free: it reads one counter)."""
        return self.sync.count()

    async def stats(self) -> StoreStats:
        """See ``LocalVectorStore.stats``."""
        return await _offload(self.sync.stats)

    async def flush(self) -> None:
        """See ``LocalVectorStore.flush``."""
        await _offload(self.sync.flush)

    async def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """See ``LocalVectorStore.snapshot``."""
        await _offload(partial(self.sync.snapshot, dest))

    async def verify(self) -> VerifyReport:
        """See ``LocalVectorStore.verify``."""
        return await _offload(self.sync.verify)

    async def rebuild(self, progress: Progress | None = None) -> None:
        """See ``LocalVectorStore.rebuild``."""
        await _offload(partial(self.sync.rebuild, progress))

    async def aclose(self) -> None:
        """Close the store (it persists the index)."""
        await _offload(self.sync.close)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"


async def open_async_store(
    path: str | os.PathLike[str],
    config: VectorStoreConfig | None = None,
    *,
    progress: Progress | None = None,
) -> AsyncLocalVectorStore:
    """Open (or create) a local store for async code; opening runs in a worker thread.

    Same arguments as ``open_store``.

    .. versionadded:: 0.1.0
    """
    store = await _offload(partial(LocalVectorStore, path, config, progress=progress))
    return AsyncLocalVectorStore(store)
