"""The fluent query builder (``SearchQuery``, ``AsyncSearchQuery``) for sync and async stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Self

from llm_infra.errors import ValidationError
from llm_infra.vector import _codes
from llm_infra.vector._filters import And, Eq, In, MetadataFilter, Range, Scalar, parse_filter

if TYPE_CHECKING:
    from llm_infra.vector._protocols import AsyncVectorStore, VectorStore
    from llm_infra.vector._types import SearchResult


@dataclass(frozen=True, slots=True)
class _QueryBase:
    """Shared builder state; every builder method returns a new query (safe to reuse)."""

    vector: Any
    k: int = 10
    filter_: MetadataFilter | None = None
    include_vectors: bool = False
    include_metadata: bool = True
    score_threshold: float | None = None
    ef: int | None = None

    def limit(self, k: int) -> Self:
        """The number of results (default 10)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValidationError(
                f"limit must be a positive integer, got {k!r}", field="limit", code=_codes.INVALID_K
            )
        return replace(self, k=k)

    def filter(self, f: MetadataFilter | Mapping[str, Any]) -> Self:
        """AND a filter (object or dict form) into the query."""
        return self._and(parse_filter(f))

    def where_eq(self, field: str, value: Scalar) -> Self:
        """AND ``field == value`` (a list-valued field: contains ``value``)."""
        return self._and(Eq(field, value))

    def where_in(self, field: str, values: Sequence[Scalar]) -> Self:
        """AND ``field in values``."""
        return self._and(In(field, tuple(values)))

    def where_range(
        self,
        field: str,
        *,
        gt: float | None = None,
        gte: float | None = None,
        lt: float | None = None,
        lte: float | None = None,
    ) -> Self:
        """AND a numeric range on ``field``."""
        return self._and(Range(field, gt=gt, gte=gte, lt=lt, lte=lte))

    def _and(self, f: MetadataFilter) -> Self:
        # And() flattens, so chained where_* calls give one flat And (no And(And(...))).
        return replace(self, filter_=f if self.filter_ is None else And(self.filter_, f))

    def min_score(self, threshold: float) -> Self:
        """Only results scoring at least ``threshold`` (scores are higher-is-better)."""
        return replace(self, score_threshold=threshold)

    def with_vectors(self) -> Self:
        """Include the stored vectors in the results."""
        return replace(self, include_vectors=True)

    def without_metadata(self) -> Self:
        """Leave metadata out of the results."""
        return replace(self, include_metadata=False)

    def ef_search(self, ef: int) -> Self:
        """The graph's candidate list size for this query."""
        return replace(self, ef=ef)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "filter": self.filter_,
            "ef_search": self.ef,
            "min_score": self.score_threshold,
            "with_vectors": self.include_vectors,
            "with_metadata": self.include_metadata,
        }


@dataclass(frozen=True, slots=True)
class SearchQuery(_QueryBase):
    """``store.query(v).limit(20).where_eq("category", "tech").min_score(0.8).execute()``.

    ``min_score`` is applied inside the search, to the exact top ``limit`` results, so every
    result that qualifies within the limit comes back.

    .. versionadded:: 0.1.0
    """

    store: VectorStore | None = None

    def execute(self) -> list[SearchResult]:
        """Run the search."""
        assert self.store is not None, "SearchQuery is created by store.query()"
        return self.store.search(self.vector, **self._kwargs())


@dataclass(frozen=True, slots=True)
class AsyncSearchQuery(_QueryBase):
    """The async twin of ``SearchQuery``: ``await store.query(v).limit(5).execute()``.

    .. versionadded:: 0.1.0
    """

    store: AsyncVectorStore | None = None

    async def execute(self) -> list[SearchResult]:
        """Run the search."""
        assert self.store is not None, "AsyncSearchQuery is created by store.query()"
        return await self.store.search(self.vector, **self._kwargs())
