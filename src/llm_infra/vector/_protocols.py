"""The ``VectorStore`` and ``AsyncVectorStore`` protocols every backend implements."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypedDict, Unpack, runtime_checkable

if TYPE_CHECKING:
    from types import TracebackType

    from llm_infra.errors import BatchResult
    from llm_infra.vector._filters import MetadataFilter
    from llm_infra.vector._query import AsyncSearchQuery, SearchQuery
    from llm_infra.vector._types import Progress, SearchResult, StoreStats, VectorRecord, VerifyReport

BatchItems: TypeAlias = "Iterable[VectorRecord | tuple[Any, ...]] | None"
"""Batch items: ``(id, vector[, metadata])`` tuples or ``VectorRecord``s."""

Filter: TypeAlias = "MetadataFilter | Mapping[str, Any] | None"
"""A search filter: a ``MetadataFilter``, its dict form, or None."""


class BatchColumns(TypedDict, total=False):
    """The fast path of ``insert_batch``/``upsert_batch`` (instead of items), all by keyword."""

    ids: Sequence[str] | None
    vectors: Any
    """An ``(n, dimensions)`` array (or a sequence of vectors) with one row per id."""
    metadatas: Sequence[Mapping[str, Any] | None] | None


class _ResultOptions(TypedDict, total=False):
    min_score: float | None
    """Drop results scoring below it (default None: keep all ``k``)."""
    with_vectors: bool
    """Include the stored vectors (default False)."""


class SearchOptions(_ResultOptions, total=False):
    """The keyword-only options of ``search``."""

    with_metadata: bool
    """Include metadata (default True)."""


class BatchSearchOptions(_ResultOptions, total=False):
    """The keyword-only options of ``search_batch``."""

    ef_search: int | None
    """Graph candidate list size for this call (default None: the store's)."""


@runtime_checkable
class VectorStore(Protocol):
    """A vector collection: CRUD, batch writes, filtered similarity search and maintenance.

    Scores are higher-is-better for every distance. Filters are ``MetadataFilter`` objects or
    their dict form. ``llm_infra.testing.VectorStoreContract`` checks an implementation.

    .. versionadded:: 0.1.0
    """

    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a new vector (``AlreadyExistsError`` when the id exists)."""
        ...

    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert or replace."""
        ...

    def insert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Insert many; bad items fail alone."""
        ...

    def upsert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Insert or replace many; bad items fail alone."""
        ...

    def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """The record, or None."""
        ...

    def delete(self, id: str) -> bool:
        """Delete; True when it existed."""
        ...

    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata (``NotFoundError`` when the id is unknown)."""
        ...

    def search(
        self,
        vector: Any,
        k: int = 10,
        filter: Filter = None,
        ef_search: int | None = None,
        **options: Unpack[SearchOptions],
    ) -> list[SearchResult]:
        """The ``k`` best matches, best first."""
        ...

    def search_batch(
        self, vectors: Any, k: int = 10, filter: Filter = None, **options: Unpack[BatchSearchOptions]
    ) -> list[list[SearchResult]]:
        """``search`` for each row of ``vectors`` (one result list per query; ``[]`` for none)."""
        ...

    def query(self, vector: Any) -> SearchQuery:
        """A fluent query."""
        ...

    def count(self) -> int:
        """Live vectors."""
        ...

    def stats(self) -> StoreStats:
        """Sizes, parameters and freshness."""
        ...

    def flush(self) -> None:
        """Make everything indexed and persisted."""
        ...

    def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """A consistent copy at ``dest``."""
        ...

    def verify(self) -> VerifyReport:
        """Integrity check."""
        ...

    def rebuild(self, progress: Progress | None = None) -> None:
        """Rebuild the index from the source of truth."""
        ...

    def close(self) -> None:
        """Release everything (idempotent)."""
        ...

    def __enter__(self) -> VectorStore: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@runtime_checkable
class AsyncVectorStore(Protocol):
    """The async twin of ``VectorStore``: the same methods, awaitable (``aclose`` closes).

    .. versionadded:: 0.1.0
    """

    async def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a new vector."""
        ...

    async def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert or replace."""
        ...

    async def insert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Insert many; bad items fail alone."""
        ...

    async def upsert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Insert or replace many."""
        ...

    async def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """The record, or None."""
        ...

    async def delete(self, id: str) -> bool:
        """Delete; True when it existed."""
        ...

    async def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata."""
        ...

    async def search(
        self,
        vector: Any,
        k: int = 10,
        filter: Filter = None,
        ef_search: int | None = None,
        **options: Unpack[SearchOptions],
    ) -> list[SearchResult]:
        """The ``k`` best matches, best first."""
        ...

    async def search_batch(
        self, vectors: Any, k: int = 10, filter: Filter = None, **options: Unpack[BatchSearchOptions]
    ) -> list[list[SearchResult]]:
        """``search`` for each row of ``vectors`` (one result list per query; ``[]`` for none)."""
        ...

    def query(self, vector: Any) -> AsyncSearchQuery:
        """A fluent query whose ``execute()`` is awaitable."""
        ...

    async def count(self) -> int:
        """Live vectors."""
        ...

    async def stats(self) -> StoreStats:
        """Sizes, parameters and freshness."""
        ...

    async def flush(self) -> None:
        """Make everything indexed and persisted."""
        ...

    async def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """A consistent copy at ``dest``."""
        ...

    async def verify(self) -> VerifyReport:
        """Integrity check."""
        ...

    async def rebuild(self, progress: Progress | None = None) -> None:
        """Rebuild the index from the source of truth."""
        ...

    async def aclose(self) -> None:
        """Release everything (idempotent)."""
        ...
