"""What every vector store shares, written once: context management, batch-write entry points,
the argument plumbing of ``search``/``search_batch`` and ``query()``.

A store implements ``_batch``, ``_search_one`` and ``_search_many``; the public methods here keep
the signatures of the ``VectorStore`` / ``AsyncVectorStore`` protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Unpack, cast

from llm_infra._internal._attrs import AsyncClosing, Closing

if TYPE_CHECKING:
    from llm_infra.errors import BatchResult
    from llm_infra.vector._protocols import (
        AsyncVectorStore,
        BatchColumns,
        BatchItems,
        BatchSearchOptions,
        Filter,
        SearchOptions,
        VectorStore,
    )
    from llm_infra.vector._query import AsyncSearchQuery, SearchQuery
    from llm_infra.vector._types import SearchResult


class SearchArgs(NamedTuple):
    """The options of one ``search``/``search_batch`` call, as the public methods received them."""

    k: int
    filter: Any = None
    ef_search: int | None = None
    min_score: float | None = None
    with_vectors: bool = False
    with_metadata: bool = True


class Columns(NamedTuple):
    """The ``BatchColumns`` of one batch call, as ``_batch`` takes them (an unknown keyword: TypeError)."""

    ids: Sequence[str] | None = None
    vectors: Any = None
    metadatas: Sequence[Mapping[str, Any] | None] | None = None


class StoreBase(Closing):
    """The shared public surface of a synchronous store over ``_batch``/``_search_one``/``_search_many``."""

    __slots__ = ()

    if TYPE_CHECKING:

        def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult: ...

        def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]: ...

        def _search_many(self, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]: ...

    def insert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Insert many vectors; bad items fail alone (with their id), the rest are written.

        Items are ``(id, vector)`` / ``(id, vector, metadata)`` tuples or ``VectorRecord``s;
        or use the fast path ``ids=[...], vectors=<(n, d) array>, metadatas=[...]``.

        Returns:
            ``BatchResult``; ``failures`` holds each failed id with its error
            (``AlreadyExistsError`` for existing ids and repeats within the batch).

        Raises:
            BatchError: every item of a non-empty batch failed.
            ValidationError: ``vector.invalid_batch`` when the arguments themselves are wrong
                (``ids`` a string, lengths that disagree).
        """
        return self._batch(items, Columns(**columns), upsert=False)

    def upsert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Like ``insert_batch`` but replaces existing ids (the last repeat of an id wins)."""
        return self._batch(items, Columns(**columns), upsert=True)

    def search(
        self,
        vector: Any,
        k: int = 10,
        filter: Filter = None,
        ef_search: int | None = None,
        **options: Unpack[SearchOptions],
    ) -> list[SearchResult]:
        """The ``k`` best matches, best first (scores: higher is better for every distance).

        Args:
            vector: the query vector.
            k: results wanted (1..10000).
            filter: a ``MetadataFilter`` or its dict form.
            ef_search: graph candidate list size for this call (default: the store's).
            min_score: drop results scoring below it (applied to the exact top ``k``).
            with_vectors: include the stored vectors.
            with_metadata: include metadata (default True).

        Raises:
            VectorError: ``vector.dimension_mismatch`` / ``vector.invalid_vector``.
            ValidationError: a malformed filter (the path is named) or a bad ``k``/``ef_search``.
        """
        return self._search_one(vector, SearchArgs(k, filter, ef_search, **options))

    def search_batch(
        self, vectors: Any, k: int = 10, filter: Filter = None, **options: Unpack[BatchSearchOptions]
    ) -> list[list[SearchResult]]:
        """``search`` for many query vectors at once: one result list per query, in order.

        Backends answer the queries together (one index call, one round trip or one request),
        so the per-query overhead of ``search`` is paid once. Results equal those of ``search``
        with the same arguments.

        Args:
            vectors: an ``(m, dimensions)`` array or a sequence of vectors (``m`` may be 0).
            k, filter, min_score, with_vectors, ef_search: as for ``search`` (one filter for
                every query).

        Raises:
            VectorError: ``vector.dimension_mismatch`` / ``vector.invalid_vector`` for any query.
            ValidationError: a malformed filter or a bad ``k``/``ef_search``.
        """
        return self._search_many(vectors, batch_args(k, filter, options))

    def query(self, vector: Any) -> SearchQuery:
        """Start a fluent query: ``store.query(v).limit(5).where_eq("lang", "en").execute()``."""
        from llm_infra.vector._query import SearchQuery

        return SearchQuery(vector, store=cast("VectorStore", self))


class AsyncStoreBase(AsyncClosing):
    """The async twin of ``StoreBase`` (awaitable ``_batch``/``_search_one``/``_search_many``)."""

    __slots__ = ()

    if TYPE_CHECKING:

        async def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult: ...

        async def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]: ...

        async def _search_many(self, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]: ...

    async def insert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Insert many; bad items fail alone (see ``LocalVectorStore.insert_batch``)."""
        return await self._batch(items, Columns(**columns), upsert=False)

    async def upsert_batch(self, items: BatchItems = None, **columns: Unpack[BatchColumns]) -> BatchResult:
        """Insert or replace many; the last repeat of an id wins."""
        return await self._batch(items, Columns(**columns), upsert=True)

    async def search(
        self,
        vector: Any,
        k: int = 10,
        filter: Filter = None,
        ef_search: int | None = None,
        **options: Unpack[SearchOptions],
    ) -> list[SearchResult]:
        """See ``StoreBase.search``."""
        return await self._search_one(vector, SearchArgs(k, filter, ef_search, **options))

    async def search_batch(
        self, vectors: Any, k: int = 10, filter: Filter = None, **options: Unpack[BatchSearchOptions]
    ) -> list[list[SearchResult]]:
        """See ``StoreBase.search_batch``."""
        return await self._search_many(vectors, batch_args(k, filter, options))

    def query(self, vector: Any) -> AsyncSearchQuery:
        """A fluent query whose ``execute()`` is awaitable: ``await store.query(v).limit(5).execute()``."""
        from llm_infra.vector._query import AsyncSearchQuery

        return AsyncSearchQuery(vector, store=cast("AsyncVectorStore", self))


def batch_args(k: int, filter: Filter, options: BatchSearchOptions) -> SearchArgs:
    """The ``SearchArgs`` of a ``search_batch`` call (``with_metadata`` is ``search``'s alone)."""
    if "with_metadata" in options:
        raise TypeError("search_batch() got an unexpected keyword argument 'with_metadata'")
    return SearchArgs(k, filter, **options)


def forward_search(store: Any, vector: Any, a: SearchArgs) -> list[SearchResult]:
    """``store.search`` with the options ``a`` (for stores that wrap another)."""
    options = {"min_score": a.min_score, "with_vectors": a.with_vectors, "with_metadata": a.with_metadata}
    result: list[SearchResult] = store.search(vector, a.k, a.filter, a.ef_search, **options)
    return result


def forward_search_batch(store: Any, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]:
    """``store.search_batch`` with the options ``a`` (for stores that wrap another)."""
    options = {"min_score": a.min_score, "with_vectors": a.with_vectors, "ef_search": a.ef_search}
    result: list[list[SearchResult]] = store.search_batch(vectors, a.k, a.filter, **options)
    return result
