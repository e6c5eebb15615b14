"""``TracingVectorStore``: a span, metrics and a debug log line per operation, for any backend.

Only shapes are recorded (operation, id, vector length, has_metadata, k, has_filter, batch
size, result count, elapsed, error code): never vector components or metadata values.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, final

from llm_infra.errors import InfraError
from llm_infra.otel import counter, histogram, span
from llm_infra.vector._backends import search_batch_of
from llm_infra.vector._base import Columns, SearchArgs, StoreBase, forward_search

if TYPE_CHECKING:
    from llm_infra.errors import BatchResult
    from llm_infra.vector._types import Progress, SearchResult, StoreStats, VectorRecord, VerifyReport

OPERATION_DURATION: Final = "vector.operation.duration"
OPERATION_ERRORS: Final = "vector.operation.errors"
_log = logging.getLogger("llm_infra.vector.trace")


def _length(vector: Any) -> int | None:
    try:
        return len(vector)
    except TypeError:
        return None


@final
class TracingVectorStore(StoreBase):
    """Wraps any ``VectorStore``: every operation gets a span, a duration metric and a debug line.

    Args:
        store: the store to observe.
        logger: where the debug lines go (``llm_infra.vector.trace`` by default).

    .. versionadded:: 0.2.0
    """

    def __init__(self, store: Any, *, logger: logging.Logger | None = None) -> None:
        self.store = store
        self._logger = logger or _log
        self._backend = type(store).__name__
        self._duration = histogram(OPERATION_DURATION, description="vector store operation duration")
        self._errors = counter(OPERATION_ERRORS, description="vector store operations that raised")

    def _traced(self, operation: str, fn: Callable[[], Any], **attrs: Any) -> Any:
        fields = {k: v for k, v in attrs.items() if v is not None}
        started = time.perf_counter()
        outcome = "ok"
        try:
            with span(
                f"vector.{operation}",
                attributes={"vector.backend": self._backend, **{f"vector.{k}": v for k, v in fields.items()}},
            ) as current:
                result = fn()
                if isinstance(result, list):
                    current.set_attribute("vector.results", len(result))
                return result
        except Exception as exc:
            outcome = exc.code if isinstance(exc, InfraError) else type(exc).__name__
            self._errors.add(1, {"operation": operation, "backend": self._backend, "error": outcome})
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._duration.record(elapsed, {"operation": operation, "backend": self._backend})
            if self._logger.isEnabledFor(logging.DEBUG):
                described = " ".join(f"{k}={v}" for k, v in fields.items())
                self._logger.debug(
                    "vector.%s %s outcome=%s elapsed_ms=%.3f", operation, described, outcome, elapsed * 1000
                )

    # ------------------------------------------------------------------ writes

    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Traced ``insert``."""
        self._write_one("insert", id, vector, metadata)

    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Traced ``upsert``."""
        self._write_one("upsert", id, vector, metadata)

    def _write_one(self, name: str, id: str, vector: Any, metadata: Mapping[str, Any] | None) -> None:
        has_metadata = metadata is not None
        length = _length(vector)
        call = lambda: getattr(self.store, name)(id, vector, metadata)  # noqa: E731 - looked up when traced
        self._traced(name, call, id=id, vector_length=length, has_metadata=has_metadata)

    def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult:
        name = "upsert_batch" if upsert else "insert_batch"
        items = list(items) if items is not None else None
        size = len(items) if items is not None else (len(columns.ids) if columns.ids is not None else None)
        fn = getattr(self.store, name)
        result: BatchResult = self._traced(
            name,
            lambda: fn(items, **columns._asdict()),
            batch_size=size,
            has_metadata=columns.metadatas is not None or None,
        )
        return result

    def delete(self, id: str) -> bool:
        """Traced ``delete``."""
        return bool(self._traced("delete", lambda: self.store.delete(id), id=id))

    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Traced ``update_metadata``."""
        self._traced(
            "update_metadata",
            lambda: self.store.update_metadata(id, metadata),
            id=id,
            has_metadata=metadata is not None,
        )

    # ------------------------------------------------------------------ reads

    def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """Traced ``get``."""
        result: VectorRecord | None = self._traced("get", lambda: self.store.get(id, with_vector), id=id)
        return result

    def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]:
        result: list[SearchResult] = self._traced(
            "search",
            lambda: forward_search(self.store, vector, a),
            vector_length=_length(vector),
            k=a.k,
            has_filter=a.filter is not None,
        )
        return result

    def search_batch(
        self, vectors: Any, k: int = 10, filter: Any = None, **kwargs: Any
    ) -> list[list[SearchResult]]:
        """Traced ``search_batch``."""
        result: list[list[SearchResult]] = self._traced(
            "search_batch",
            lambda: search_batch_of(self.store, vectors, k, filter, **kwargs),
            batch_size=_length(vectors),
            k=k,
            has_filter=filter is not None,
        )
        return result

    def count(self) -> int:
        """Traced ``count``."""
        return int(self._traced("count", self.store.count))

    def scan(self, cursor: str | None = None, limit: int = 1000) -> tuple[list[VectorRecord], str | None]:
        """Traced page of the wrapped store (used by ``migrate``)."""
        from llm_infra.vector._migrate import scan_page

        page: tuple[list[VectorRecord], str | None] = self._traced(
            "scan", lambda: scan_page(self.store, cursor, limit), limit=limit
        )
        return page

    # ------------------------------------------------------------------ maintenance

    def stats(self) -> StoreStats:
        """Traced ``stats``."""
        result: StoreStats = self._traced("stats", self.store.stats)
        return result

    def flush(self) -> None:
        """Traced ``flush``."""
        self._traced("flush", self.store.flush)

    def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """Traced ``snapshot``."""
        self._traced("snapshot", lambda: self.store.snapshot(dest))

    def verify(self) -> VerifyReport:
        """Traced ``verify``."""
        result: VerifyReport = self._traced("verify", self.store.verify)
        return result

    def rebuild(self, progress: Progress | None = None) -> None:
        """Traced ``rebuild``."""
        self._traced("rebuild", lambda: self.store.rebuild(progress))

    @property
    def config(self) -> Any:
        """The wrapped store's config."""
        return self.store.config

    def close(self) -> None:
        """Close the wrapped store."""
        self._traced("close", self.store.close)

    def __repr__(self) -> str:
        return f"TracingVectorStore({self.store!r})"
