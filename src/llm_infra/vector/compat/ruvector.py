"""ruvector-core style calls on ``llm_infra.vector``: a gradual-migration shim.

``Collection(name, dimensions, distance, hnsw_config)`` with ``insert(id, vector, metadata)`` /
``search(query, k, filter)`` keeps ruvector-core call sites working while the store underneath
is any backend ``open_store`` (or a backend URL) gives. Every failure surfaces as an
``InfraError`` naming its ``VectorOperation`` (``into_infra_error``)::

    from llm_infra.vector.compat.ruvector import Collection

    with Collection("embeddings", 4, "cosine") as col:
        col.insert("id-1", [0.1, 0.2, 0.3, 0.4], {"category": "tech"})
        hits = col.search([0.1, 0.2, 0.3, 0.4], 10, {"category": "tech"})
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Final, ParamSpec, TypeVar

from llm_infra._internal._attrs import Closing
from llm_infra.errors import InfraError, VectorError
from llm_infra.vector import _backend_codes as codes
from llm_infra.vector._config import Distance, HnswConfig, VectorStoreConfig
from llm_infra.vector._types import SearchResult, VectorRecord

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["Collection", "VectorOperation", "into_infra_error", "map_infra_err"]


class VectorOperation(StrEnum):
    """The operation an error came from (``error.operation``).

    .. versionadded:: 0.2.0
    """

    CREATE_COLLECTION = "create_collection"
    INSERT = "insert"
    UPSERT = "upsert"
    SEARCH = "search"
    GET = "get"
    DELETE = "delete"
    UPDATE = "update"
    COUNT = "count"
    CLOSE = "close"


_DISTANCES: Final = {
    "cosine": Distance.COSINE,
    "euclidean": Distance.L2,
    "euclid": Distance.L2,
    "l2": Distance.L2,
    "dot": Distance.DOT,
    "dotproduct": Distance.DOT,
    "dot_product": Distance.DOT,
    "innerproduct": Distance.DOT,
}


def into_infra_error(exc: BaseException, operation: VectorOperation | str) -> InfraError:
    """The ``InfraError`` for ``exc`` raised by ``operation`` (the spec's ``IntoInfraError``).

    An ``InfraError`` keeps its class and code and gains the operation in its context; anything
    else becomes ``VectorError`` ``vector.ruvector_error`` naming the operation (the foreign
    message is not copied: it may hold data).
    """
    op = str(VectorOperation(operation)) if not isinstance(operation, VectorOperation) else str(operation)
    if isinstance(exc, InfraError):
        exc.attributes.setdefault("vector.operation", op)
        if isinstance(exc, VectorError) and exc.operation is None:
            exc.operation = op
        return exc
    err = VectorError(f"vector {op} failed: {type(exc).__name__}", operation=op, code=codes.RUVECTOR_ERROR)
    err.__cause__ = exc
    return err


def map_infra_err(operation: VectorOperation | str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function so that its exceptions surface as ``into_infra_error(exc, operation)``
    (the spec's ``ResultExt::map_infra_err``)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is converted
                raise into_infra_error(exc, operation) from (None if isinstance(exc, InfraError) else exc)

        return wrapper

    return decorate


def _distance(value: Distance | str) -> Distance:
    if isinstance(value, Distance):
        return value
    key = str(value).replace(" ", "").lower()
    if key not in _DISTANCES:
        raise into_infra_error(
            VectorError(
                f"unknown distance {value!r} (cosine, euclidean, dot)",
                code="vector.invalid_distance",
            ),
            VectorOperation.CREATE_COLLECTION,
        )
    return _DISTANCES[key]


def _hnsw(value: HnswConfig | Mapping[str, Any] | None) -> HnswConfig:
    if value is None:
        return HnswConfig()
    if isinstance(value, HnswConfig):
        return value
    names = {
        "m": "m",
        "ef_construction": "ef_construction",
        "ef_construct": "ef_construction",
        "ef_search": "ef_search",
    }
    return HnswConfig(**{names[k]: v for k, v in dict(value).items() if k in names})


class Collection(Closing):
    """A ruvector-core ``Collection`` on top of ``llm_infra.vector``.

    Args:
        name: the collection name.
        dimensions: vector length.
        distance: ``"cosine"``, ``"euclidean"``, ``"dot"`` (ruvector names) or a ``Distance``.
        hnsw_config: an ``HnswConfig`` or a dict (``m``, ``ef_construction``, ``ef_search``).
        location: where the store lives: ``":memory:"`` (default), a directory (the embedded
            store), or a backend URL (``postgresql://...``, ``qdrant://host:6333/name``,
            ``qdrant+local:///path``).

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        name: str,
        dimensions: int,
        distance: Distance | str = Distance.COSINE,
        hnsw_config: HnswConfig | Mapping[str, Any] | None = None,
        *,
        location: str | os.PathLike[str] = ":memory:",
        **options: Any,
    ) -> None:
        try:
            config = VectorStoreConfig(
                collection=name, dimensions=dimensions, distance=_distance(distance), hnsw=_hnsw(hnsw_config)
            )
            from llm_infra.vector._backends import open_backend

            store = open_backend(str(location), config, **options) if "://" in str(location) else None
            if store is None:
                from llm_infra.vector._store import open_store

                store = open_store(location, config)
        except Exception as exc:  # noqa: BLE001 - every failure is converted
            raise into_infra_error(exc, VectorOperation.CREATE_COLLECTION) from (
                None if isinstance(exc, InfraError) else exc
            )
        self.store: Any = store
        self.name = name

    @map_infra_err(VectorOperation.INSERT)
    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a vector (``AlreadyExistsError`` when the id exists)."""
        self.store.insert(id, vector, metadata)

    @map_infra_err(VectorOperation.UPSERT)
    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert or replace."""
        self.store.upsert(id, vector, metadata)

    @map_infra_err(VectorOperation.SEARCH)
    def search(self, query: Any, k: int = 10, filter: Mapping[str, Any] | None = None) -> list[SearchResult]:
        """The ``k`` best matches (scores higher-is-better), filtered by a dict or ``MetadataFilter``."""
        result: list[SearchResult] = self.store.search(query, k, filter)
        return result

    @map_infra_err(VectorOperation.GET)
    def get(self, id: str) -> VectorRecord | None:
        """The record with its vector, or None."""
        result: VectorRecord | None = self.store.get(id, with_vector=True)
        return result

    @map_infra_err(VectorOperation.DELETE)
    def delete(self, id: str) -> bool:
        """Delete; True when it existed."""
        return bool(self.store.delete(id))

    @map_infra_err(VectorOperation.UPDATE)
    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata."""
        self.store.update_metadata(id, metadata)

    @map_infra_err(VectorOperation.COUNT)
    def count(self) -> int:
        """Live vectors."""
        return int(self.store.count())

    def __len__(self) -> int:
        return self.count()

    @map_infra_err(VectorOperation.CLOSE)
    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, store={type(self.store).__name__})"
