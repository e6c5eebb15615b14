"""Records, results and reports returned by vector stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from llm_infra.vector._config import Distance, HnswConfig

Progress: TypeAlias = Callable[[int, int], None]
"""``progress(done, total)``, called while the graph is built."""


def _vec_eq(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a, b))


@dataclass(frozen=True, slots=True, eq=False)
class VectorRecord:
    """A stored vector: its id, the vector (when requested) and its metadata.

    Also accepted as an item of ``insert_batch``/``upsert_batch``.

    .. versionadded:: 0.1.0
    """

    id: str
    vector: np.ndarray | None = None
    metadata: dict[str, Any] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorRecord):
            return NotImplemented
        return self.id == other.id and self.metadata == other.metadata and _vec_eq(self.vector, other.vector)

    __hash__ = None  # type: ignore[assignment]  # mutable payloads: not hashable


@dataclass(frozen=True, slots=True, eq=False)
class SearchResult:
    """One hit: ``score`` is higher-is-better for every distance.

    Cosine similarity for ``COSINE``, the negative Euclidean distance for ``L2``, the inner
    product for ``DOT``. ``metadata`` is None when the record has none or it was not requested;
    ``vector`` is the stored vector when requested.

    .. versionadded:: 0.1.0
    """

    id: str
    score: float
    metadata: dict[str, Any] | None = None
    vector: np.ndarray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchResult):
            return NotImplemented
        return (
            self.id == other.id
            and self.score == other.score
            and self.metadata == other.metadata
            and _vec_eq(self.vector, other.vector)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable payloads: not hashable


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStats:
    """What ``stats()`` reports.

    Attributes:
        collection: the collection name.
        dimensions: vector length.
        count: live vectors.
        distance: the distance.
        hnsw: graph parameters.
        compression_tier: the tier in force (``auto`` resolved).
        indexed: vectors in the graph (live or tombstoned).
        pending: vectors written but not in the graph yet (searched exactly meanwhile).
        tombstones: deleted vectors still in the graph (skipped by every search).
        memory_bytes: approximate resident bytes (graph, in-memory vectors, ids, metadata,
            cached filter scans).
        disk_bytes: bytes on disk (0 for ``:memory:``).
        index_fresh: True when the graph holds every live vector and the persisted index file
            covers every write (nothing to replay on reopen).
        persisted_count: slots covered by the index file on disk.
        indexed_fields: metadata fields with a payload index.
        path: the store directory, or ``":memory:"``.
        embedder_model: the embedding model the collection was built with (persisted), or None.

    .. versionadded:: 0.1.0
    """

    collection: str
    dimensions: int
    count: int
    distance: Distance
    hnsw: HnswConfig
    compression_tier: str
    indexed: int
    pending: int
    tombstones: int
    memory_bytes: int
    disk_bytes: int
    index_fresh: bool
    persisted_count: int
    indexed_fields: tuple[str, ...]
    path: str
    embedder_model: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """What ``verify()`` found; ``ok`` is False when any problem was detected.

    .. versionadded:: 0.1.0
    """

    ok: bool
    count: int
    problems: tuple[str, ...] = field(default=())
    checked: tuple[str, ...] = field(default=())
