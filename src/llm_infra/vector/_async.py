"""The async face of the local engine.

The engine itself is CPU-bound and thread-safe, so the async store calls it directly for
light operations (a single search, get, count, a single write with ``durability="normal"``)
and offloads only heavy ones (batches, flush, snapshot, verify, rebuild, close, opening, and
writes that fsync under ``durability="full"``) to a worker thread with ``anyio.to_thread``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, TypeVar, final

import anyio.to_thread

from llm_infra.errors import BatchResult
from llm_infra.vector._config import VectorStoreConfig
from llm_infra.vector._filters import MetadataFilter
from llm_infra.vector._query import AsyncSearchQuery
from llm_infra.vector._store import LocalVectorStore, Progress
from llm_infra.vector._types import SearchResult, StoreStats, VectorRecord, VerifyReport

T = TypeVar("T")


async def _offload(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


@final
class AsyncLocalVectorStore:
    """``AsyncVectorStore`` over a ``LocalVectorStore`` (see ``open_async_store``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_heavy_writes", "sync")

    def __init__(self, store: LocalVectorStore) -> None:
        self.sync = store
        """The underlying synchronous store."""
        self._heavy_writes = store.config.durability == "full"

    async def _write(self, fn: Callable[[], T]) -> T:
        if self._heavy_writes:
            return await _offload(fn)
        return fn()

    async def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """See ``LocalVectorStore.insert``."""
        await self._write(partial(self.sync.insert, id, vector, metadata))

    async def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """See ``LocalVectorStore.upsert``."""
        await self._write(partial(self.sync.upsert, id, vector, metadata))

    async def insert_batch(
        self,
        items: Iterable[VectorRecord | tuple[Any, ...]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: Any = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> BatchResult:
        """See ``LocalVectorStore.insert_batch`` (runs in a worker thread)."""
        return await _offload(
            partial(self.sync.insert_batch, items, ids=ids, vectors=vectors, metadatas=metadatas)
        )

    async def upsert_batch(
        self,
        items: Iterable[VectorRecord | tuple[Any, ...]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: Any = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> BatchResult:
        """See ``LocalVectorStore.upsert_batch`` (runs in a worker thread)."""
        return await _offload(
            partial(self.sync.upsert_batch, items, ids=ids, vectors=vectors, metadatas=metadatas)
        )

    async def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """See ``LocalVectorStore.get``."""
        return self.sync.get(id, with_vector)

    async def delete(self, id: str) -> bool:
        """See ``LocalVectorStore.delete``."""
        return await self._write(partial(self.sync.delete, id))

    async def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """See ``LocalVectorStore.update_metadata``."""
        await self._write(partial(self.sync.update_metadata, id, metadata))

    async def search(
        self,
        vector: Any,
        k: int = 10,
        filter: MetadataFilter | Mapping[str, Any] | None = None,
        ef_search: int | None = None,
        *,
        min_score: float | None = None,
        with_vectors: bool = False,
        with_metadata: bool = True,
    ) -> list[SearchResult]:
        """See ``LocalVectorStore.search`` (runs inline: a search takes well under a millisecond)."""
        return self.sync.search(
            vector,
            k,
            filter,
            ef_search,
            min_score=min_score,
            with_vectors=with_vectors,
            with_metadata=with_metadata,
        )

    def query(self, vector: Any) -> AsyncSearchQuery:
        """A fluent query: ``await store.query(v).limit(5).execute()``."""
        return AsyncSearchQuery(vector, store=self)

    async def count(self) -> int:
        """See ``LocalVectorStore.count``."""
        return self.sync.count()

    async def stats(self) -> StoreStats:
        """See ``LocalVectorStore.stats``."""
        return self.sync.stats()

    async def flush(self) -> None:
        """See ``LocalVectorStore.flush`` (runs in a worker thread)."""
        await _offload(self.sync.flush)

    async def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """See ``LocalVectorStore.snapshot`` (runs in a worker thread)."""
        await _offload(partial(self.sync.snapshot, dest))

    async def verify(self) -> VerifyReport:
        """See ``LocalVectorStore.verify`` (runs in a worker thread)."""
        return await _offload(self.sync.verify)

    async def rebuild(self, progress: Progress | None = None) -> None:
        """See ``LocalVectorStore.rebuild`` (runs in a worker thread)."""
        await _offload(partial(self.sync.rebuild, progress))

    async def aclose(self) -> None:
        """Close the store (runs in a worker thread: it persists the index)."""
        await _offload(self.sync.close)

    async def __aenter__(self) -> AsyncLocalVectorStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

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
