"""Partial success of batch operations is a result, not an exception."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Unpack

from llm_infra.errors._base import ErrorKind, InfraError
from llm_infra.errors._types import BaseKwargs


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """One failed item of a batch: its id (or index) and the error it failed with."""

    item_id: str
    error: InfraError


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Outcome of a batch where at least one item succeeded (or the batch was empty).

    Attributes:
        total: items submitted.
        succeeded: items that succeeded.
        failures: the failed items with their errors, in submission order.
        succeeded_ids: ids of the items that succeeded, in submission order (when known).
    """

    total: int
    succeeded: int
    failures: tuple[BatchFailure, ...] = ()
    succeeded_ids: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> int:
        """Number of failed items."""
        return len(self.failures)

    @property
    def is_partial_success(self) -> bool:
        """True when some items succeeded and some failed."""
        return self.succeeded > 0 and self.failed > 0

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.failures

    def retryable_items(self) -> list[str]:
        """Ids of the failed items whose error is retryable."""
        return [f.item_id for f in self.failures if f.error.retryable]


class BatchError(InfraError):
    """Collects per-item outcomes; raised itself only when every item of a non-empty batch failed.

    Example::

        batch = BatchError(total=len(items))
        for item in items:
            try:
                process(item)
                batch.record_success(item.id)
            except InfraError as exc:
                batch.record_failure(item.id, exc)
        result = batch.finalize()   # BatchResult, or raises the BatchError when all failed

    .. versionadded:: 0.1.0
    """

    kind = ErrorKind.BATCH
    default_code = "batch.all_failed"
    title = "Every item of the batch failed"
    _fields = ("total",)

    def __init__(self, total: int, message: str | None = None, **kw: Unpack[BaseKwargs]) -> None:
        super().__init__(message or f"all {total} items of the batch failed", **kw)
        self.total = total
        self.succeeded = 0
        self.succeeded_ids: list[str] = []
        self.failures: list[BatchFailure] = []

    def record_success(self, item_id: str | None = None) -> None:
        """Count one successful item (its id is kept when given)."""
        self.succeeded += 1
        if item_id is not None:
            self.succeeded_ids.append(item_id)

    def record_failure(self, item_id: str, error: InfraError) -> None:
        """Record a failed item with its error."""
        self.failures.append(BatchFailure(item_id, error))

    def retryable_items(self) -> list[str]:
        """Ids of the failed items whose error is retryable."""
        return [f.item_id for f in self.failures if f.error.retryable]

    def _is_retryable(self) -> bool:
        return bool(self.failures) and all(f.error.retryable for f in self.failures)

    def finalize(self) -> BatchResult:
        """Return the ``BatchResult``; raise this error when every item of a non-empty batch failed."""
        if self.total > 0 and self.succeeded == 0 and self.failures:
            self.message = f"all {len(self.failures)} items of the batch failed"
            self.args = (self.message,)
            raise self
        return BatchResult(
            total=self.total,
            succeeded=self.succeeded,
            failures=tuple(self.failures),
            succeeded_ids=tuple(self.succeeded_ids),
        )
