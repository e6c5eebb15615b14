"""``ParallelBatchProcessor``: bounded concurrency, input order and item ids kept, partial success."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast, final

import anyio
import anyio.to_thread

from llm_infra.errors import BatchError, BatchFailure, BatchResult, ConfigError, InfraError, ValidationError
from llm_infra.errors import to_infra_error as _to_infra_error
from llm_infra.resilience import _codes

T = TypeVar("T")
R = TypeVar("R")


@final
@dataclass(frozen=True, slots=True)
class ProcessedBatch(BatchResult, Generic[R]):
    """A ``BatchResult`` that also carries the outputs of the items that succeeded.

    Attributes:
        results: item id -> output, for the items that succeeded, in input order.
    """

    results: Mapping[str, R] = field(default_factory=dict)

    def values(self) -> list[R]:
        """The outputs of the successful items, in input order."""
        return list(self.results.values())


def _error_of(exc: Exception) -> InfraError:
    return _to_infra_error(exc)


@final
class ParallelBatchProcessor(Generic[T, R]):
    """Apply ``fn`` to every item with at most ``worker_count`` running at once.

    Each item's outcome is kept under its id (``item_id(item)``, or its index as a string):
    failures become ``BatchFailure``\\ s (foreign exceptions converted with ``to_infra_error``)
    instead of aborting the batch. The result lists successes and failures in input order.
    As with ``BatchError.finalize``: an empty batch, or one where at least one item succeeded,
    returns a ``ProcessedBatch``; a non-empty batch where every item failed raises
    ``BatchError`` (with all the failures). ``is_partial_success`` is true only when some
    items succeeded and some failed.

    ``process`` runs a sync ``fn`` on a thread pool; ``aprocess`` runs an async ``fn`` in a task
    group (a sync ``fn`` goes to worker threads there, never blocking the event loop).
    ``KeyboardInterrupt``, cancellation and other ``BaseException``\\ s abort the batch.

    Results keep the order and ids of the input, an empty batch is an empty result, sync
    functions never run inside async tasks, and partial success needs at least one success.

    Args:
        worker_count: the most items processed at once (>= 1).
        fn: the function applied to each item (sync or async).
        item_id: derives an item's id; ids must be unique within a batch.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_fn", "_is_async", "_item_id", "worker_count")

    def __init__(
        self,
        worker_count: int,
        fn: Callable[[T], R] | Callable[[T], Awaitable[R]],
        *,
        item_id: Callable[[T], str] | None = None,
    ) -> None:
        if worker_count < 1:
            raise ConfigError(
                "worker_count must be >= 1", key="worker_count", code=_codes.INVALID_BATCH_PROCESSOR
            )
        self.worker_count = worker_count
        self._fn = fn
        self._is_async = inspect.iscoroutinefunction(fn)
        self._item_id = item_id

    def _ids(self, items: Sequence[T]) -> list[str]:
        ids = (
            [self._item_id(item) for item in items] if self._item_id else [str(i) for i in range(len(items))]
        )
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            duplicate = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise ValidationError(
                f"item ids must be unique within a batch; {duplicate!r} repeats",
                field="item_id",
                expected="unique ids",
                actual=duplicate,
                code=_codes.DUPLICATE_BATCH_ID,
            )
        return ids

    @staticmethod
    def _result(ids: list[str], outcomes: list[tuple[bool, Any]]) -> ProcessedBatch[R]:
        results: dict[str, R] = {}
        failures: list[BatchFailure] = []
        for item_id, (ok, value) in zip(ids, outcomes, strict=True):
            if ok:
                results[item_id] = value
            else:
                failures.append(BatchFailure(item_id, value))
        if failures and not results:
            batch = BatchError(len(ids))
            for failure in failures:
                batch.record_failure(failure.item_id, failure.error)
            batch.finalize()  # raises: every item failed
        return ProcessedBatch(
            total=len(ids),
            succeeded=len(results),
            failures=tuple(failures),
            succeeded_ids=tuple(results),
            results=results,
        )

    def process(self, items: Iterable[T]) -> ProcessedBatch[R]:
        """Process ``items`` with a sync ``fn`` on up to ``worker_count`` threads.

        Raises:
            BatchError: when every item of a non-empty batch failed.
            ConfigError: when ``fn`` is async (use ``aprocess``).
            ValidationError: on duplicate item ids.
        """
        if self._is_async:
            raise ConfigError(
                "fn is async: use `await processor.aprocess(items)`",
                code=_codes.ASYNC_FN_IN_SYNC_PROCESS,
            )
        fn = cast("Callable[[T], R]", self._fn)
        batch = list(items)
        ids = self._ids(batch)

        def run(item: T) -> tuple[bool, Any]:
            try:
                return True, fn(item)
            except Exception as exc:  # noqa: BLE001 - per-item failures are results
                return False, _error_of(exc)

        if self.worker_count == 1 or len(batch) <= 1:
            return self._result(ids, [run(item) for item in batch])
        executor = ThreadPoolExecutor(
            max_workers=min(self.worker_count, len(batch)), thread_name_prefix="batch"
        )
        try:
            futures: list[Future[tuple[bool, Any]]] = [executor.submit(run, item) for item in batch]
            outcomes = [f.result() for f in futures]
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return self._result(ids, outcomes)

    async def aprocess(self, items: Iterable[T]) -> ProcessedBatch[R]:
        """Process ``items`` concurrently, at most ``worker_count`` at a time.

        Raises:
            BatchError: when every item of a non-empty batch failed.
            ValidationError: on duplicate item ids.
        """
        batch = list(items)
        ids = self._ids(batch)
        outcomes: list[tuple[bool, Any]] = [(False, None)] * len(batch)
        next_index = 0
        fn = self._fn
        is_async = self._is_async

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(batch):
                index = next_index
                next_index += 1
                try:
                    if is_async:
                        value = await cast("Callable[[T], Awaitable[R]]", fn)(batch[index])
                    else:
                        value = await anyio.to_thread.run_sync(cast("Callable[[T], R]", fn), batch[index])
                    outcomes[index] = (True, value)
                except Exception as exc:  # noqa: BLE001 - per-item failures are results
                    outcomes[index] = (False, _error_of(exc))

        async with anyio.create_task_group() as group:
            for _ in range(min(self.worker_count, len(batch))):
                group.start_soon(worker)
        return self._result(ids, outcomes)
