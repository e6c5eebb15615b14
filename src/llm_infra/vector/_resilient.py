"""``ResilientVectorStore``: a primary store with a read fallback, a breaker and health.

Reads (``search``, ``search_batch``, ``get``, ``count``, ``scan``) go to the primary through
its ``CircuitBreaker``; a retryable failure (or an open breaker) serves the read from the
fallback and records the failure in the ``HealthChecker``. A non-retryable error (a bad
vector, a bad filter) is the caller's and propagates. Writes go to the primary only, and also
to the fallback with ``mirror_writes=True``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, final

from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import CircuitOpenError, InfraError
from llm_infra.resilience import Capabilities, CircuitBreaker, CircuitState, HealthChecker, HealthStatus
from llm_infra.vector._backends import search_batch_of
from llm_infra.vector._base import Columns, SearchArgs, StoreBase, forward_search

if TYPE_CHECKING:
    from llm_infra.errors import BatchResult
    from llm_infra.vector._types import Progress, SearchResult, StoreStats, VectorRecord, VerifyReport

logger = logging.getLogger("llm_infra.vector")
T = TypeVar("T")


def _fails_over(exc: BaseException) -> bool:
    """A primary failure that a fallback read may hide: retryable, foreign, or breaker open."""
    if isinstance(exc, CircuitOpenError):
        return True
    return not isinstance(exc, InfraError) or exc.retryable


@final
class ResilientVectorStore(StoreBase):
    """A ``VectorStore`` that fails reads over from ``primary`` to ``fallback``.

    Args:
        primary: the store of record.
        fallback: serves reads while the primary fails (a replica, a snapshot, a local copy).
        health: the ``HealthChecker`` recording the primary's outcomes (one is made if omitted).
        breaker: the primary's ``CircuitBreaker`` (one is made if omitted, with ``clock``).
        mirror_writes: also apply each successful write to the fallback.
        clock: time source of the default breaker and health checker.

    Implements ``Degradable``: ``health()``, ``is_degraded()``, ``capabilities()``.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        primary: Any,
        fallback: Any,
        *,
        health: HealthChecker | None = None,
        breaker: CircuitBreaker | None = None,
        mirror_writes: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.health_checker = health or HealthChecker("vector.primary", clock=clock)
        self.breaker = breaker or CircuitBreaker(
            "vector.primary", failure_threshold=3, reset_timeout=30.0, clock=clock
        )
        self.mirror_writes = mirror_writes
        self.fallback_reads = 0

    # ------------------------------------------------------------------ plumbing

    def _primary(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            result = self.breaker.call(fn, *args, **kwargs)
        except Exception as exc:
            if _fails_over(exc):
                self.health_checker.record_failure(exc)
            raise
        self.health_checker.record_success()
        return result

    def _read(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._primary(self._op(self.primary, name), *args, **kwargs)
        except Exception as exc:
            if not _fails_over(exc):
                raise
            self.fallback_reads += 1
            logger.warning(
                "vector primary failed on %s (%s); serving from the fallback",
                name,
                exc.code if isinstance(exc, InfraError) else type(exc).__name__,
            )
            return self._op(self.fallback, name)(*args, **kwargs)

    @staticmethod
    def _op(store: Any, name: str) -> Callable[..., Any]:
        if name == "search":
            return lambda *args: forward_search(store, *args)
        if name == "search_batch":
            return lambda *args, **kwargs: search_batch_of(store, *args, **kwargs)
        fn: Callable[..., Any] = getattr(store, name)
        return fn

    def _write(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = self._primary(getattr(self.primary, name), *args, **kwargs)
        if self.mirror_writes:
            try:
                getattr(self.fallback, name)(*args, **kwargs)
            except InfraError as exc:
                logger.warning("vector fallback mirror of %s failed: %s", name, exc.code)
        return result

    @property
    def config(self) -> Any:
        """The primary's config."""
        return self.primary.config

    # ------------------------------------------------------------------ Degradable

    def health(self) -> HealthStatus:
        """Degraded while the primary fails or its breaker is open."""
        status = self.health_checker.health()
        if status.is_healthy and self.breaker.state is not CircuitState.CLOSED:
            return HealthStatus.degraded("vector primary breaker is not closed; reads use the fallback")
        return status

    def is_degraded(self) -> bool:
        """True when not fully healthy."""
        return not self.health().is_healthy

    def capabilities(self) -> Capabilities:
        """Everything when healthy; reads and searches only (from the fallback) when degraded."""
        if self.health().is_healthy:
            return Capabilities()
        if self.mirror_writes:
            return Capabilities.read_only()
        return Capabilities(can_write=False)

    # ------------------------------------------------------------------ reads

    def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]:
        result: list[SearchResult] = self._read("search", vector, a)
        return result

    def search_batch(
        self, vectors: Any, k: int = 10, filter: Any = None, **kwargs: Any
    ) -> list[list[SearchResult]]:
        """Batch search with the same failover."""
        result: list[list[SearchResult]] = self._read("search_batch", vectors, k, filter, **kwargs)
        return result

    def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """Get from the primary, or the fallback."""
        result: VectorRecord | None = self._read("get", id, with_vector)
        return result

    def count(self) -> int:
        """Count on the primary, or the fallback."""
        return int(self._read("count"))

    def scan(self, cursor: str | None = None, limit: int = 1000) -> tuple[list[VectorRecord], str | None]:
        """Pages of the primary (used by ``migrate``)."""
        from llm_infra.vector._migrate import scan_page

        return scan_page(self.primary, cursor, limit)

    # ------------------------------------------------------------------ writes

    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert into the primary (and the fallback when mirroring)."""
        self._write("insert", id, vector, metadata)

    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Upsert into the primary (and the fallback when mirroring)."""
        self._write("upsert", id, vector, metadata)

    def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult:
        """Write many into the primary (and the fallback when mirroring)."""
        items = list(items) if items is not None else None
        name = "upsert_batch" if upsert else "insert_batch"
        result: BatchResult = self._write(name, items, **columns._asdict())
        return result

    def delete(self, id: str) -> bool:
        """Delete from the primary."""
        return bool(self._write("delete", id))

    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Update on the primary."""
        self._write("update_metadata", id, metadata)

    # ------------------------------------------------------------------ maintenance (primary)

    def stats(self) -> StoreStats:
        """The primary's stats."""
        result: StoreStats = self._primary(self.primary.stats)
        return result

    def flush(self) -> None:
        """Flush both stores."""
        self._primary(self.primary.flush)
        self.fallback.flush()

    def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """Snapshot the primary."""
        self._primary(self.primary.snapshot, dest)

    def verify(self) -> VerifyReport:
        """Verify the primary."""
        result: VerifyReport = self._primary(self.primary.verify)
        return result

    def rebuild(self, progress: Progress | None = None) -> None:
        """Rebuild the primary's index."""
        self._primary(self.primary.rebuild, progress)

    def close(self) -> None:
        """Close both stores."""
        try:
            self.primary.close()
        finally:
            self.fallback.close()

    def __repr__(self) -> str:
        return f"ResilientVectorStore({self.primary!r}, fallback={self.fallback!r}, {self.health().state})"
