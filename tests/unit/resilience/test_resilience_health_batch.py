"""Tests of HealthStatus, Capabilities, Degradable, HealthChecker and ParallelBatchProcessor."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.errors import (
    BatchError,
    ConfigError,
    HttpError,
    InfraError,
    IoError,
    ValidationError,
)
from llm_infra.resilience import (
    Capabilities,
    CircuitBreaker,
    Degradable,
    HealthChecker,
    HealthState,
    HealthStatus,
    ParallelBatchProcessor,
    ProcessedBatch,
)
from llm_infra.testing import FakeClock

# --------------------------------------------------------------------------- health


def test_health_status_constructors() -> None:
    """healthy/degraded/unhealthy carry state, reason and an aware since."""
    assert HealthStatus.healthy().is_healthy
    assert HealthStatus.healthy().since is None
    degraded = HealthStatus.degraded("fallback in use")
    assert degraded.is_degraded
    assert degraded.reason == "fallback in use"
    assert degraded.since is not None
    assert degraded.since.tzinfo is UTC
    when = datetime(2026, 1, 1, tzinfo=UTC)
    unhealthy = HealthStatus.unhealthy("down", since=when)
    assert unhealthy.is_unhealthy
    assert unhealthy.to_dict() == {
        "state": "unhealthy",
        "reason": "down",
        "since": "2026-01-01T00:00:00+00:00",
    }
    assert HealthStatus.healthy().to_dict() == {"state": "healthy", "reason": None, "since": None}


def test_worst_status() -> None:
    """worst picks the least healthy status, keeping the first among equals."""
    a = HealthStatus.degraded("a")
    b = HealthStatus.degraded("b")
    c = HealthStatus.unhealthy("c")
    assert HealthStatus.worst() == HealthStatus.healthy()
    assert HealthStatus.worst(HealthStatus.healthy(), a, b) is a
    assert HealthStatus.worst(a, c, b) is c


def test_capabilities() -> None:
    """Capabilities default to everything; read_only and none restrict them."""
    full = Capabilities()
    assert full.can_write
    assert full.can_read
    assert full.can_search
    assert not Capabilities.read_only().can_write
    assert Capabilities.none().to_dict() == {
        "can_read": False,
        "can_write": False,
        "can_search": False,
        "max_batch_size": None,
        "estimated_latency": None,
    }


def test_degradable_protocol() -> None:
    """A class with health/is_degraded/capabilities is Degradable; HealthChecker is, partly, too."""

    class Store:
        def health(self) -> HealthStatus:
            return HealthStatus.healthy()

        def is_degraded(self) -> bool:
            return False

        def capabilities(self) -> Capabilities:
            return Capabilities()

    assert isinstance(Store(), Degradable)
    assert not isinstance(CircuitBreaker("x"), Degradable)


def test_health_checker_counts_into_status() -> None:
    """Consecutive failures degrade then make unhealthy; successes recover."""
    clock = FakeClock(epoch=1_800_000_000.0)
    checker = HealthChecker("db", degraded_after=1, unhealthy_after=3, recover_after=2, clock=clock)
    assert checker.status.is_healthy
    status = checker.record_failure(HttpError("x", status=503))
    assert status.state is HealthState.DEGRADED
    assert status.reason == "http.status: x"
    assert status.since == datetime.fromtimestamp(1_800_000_000.0, UTC)
    clock.advance(5)
    checker.record_failure("timeout")
    status = checker.record_failure(RuntimeError("secret-laden message"))
    assert status.state is HealthState.UNHEALTHY
    assert status.reason == "RuntimeError"
    assert status.since == datetime.fromtimestamp(1_800_000_005.0, UTC)
    clock.advance(5)
    status = checker.record_failure()
    assert status.reason == "failure"
    assert status.since == datetime.fromtimestamp(1_800_000_005.0, UTC), "since keeps the state's start"
    assert checker.consecutive_failures == 4
    assert checker.record_success().is_unhealthy
    assert checker.record_success().is_healthy
    assert not checker.is_degraded()
    assert checker.health().is_healthy


def test_health_checker_threshold_below_degraded() -> None:
    """Failures below degraded_after keep the current status; reset forgets everything."""
    checker = HealthChecker(degraded_after=2, unhealthy_after=2)
    assert checker.record_failure().is_healthy
    assert checker.record_failure().is_unhealthy
    assert checker.is_degraded()
    checker.reset()
    assert checker.status.is_healthy
    assert checker.consecutive_failures == 0


@pytest.mark.parametrize(
    "kwargs", [{"degraded_after": 0}, {"degraded_after": 3, "unhealthy_after": 2}, {"recover_after": 0}]
)
def test_health_checker_config(kwargs: dict[str, int]) -> None:
    """Inconsistent thresholds raise ConfigError."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.invalid_health_checker"):
        HealthChecker(**kwargs)


def test_health_checker_thread_safe() -> None:
    """Concurrent records from 8 threads keep exact counts."""
    checker = HealthChecker(unhealthy_after=10**9)

    def fail() -> None:
        for _ in range(2000):
            checker.record_failure()

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert checker.consecutive_failures == 16_000


# --------------------------------------------------------------------------- batch


def square(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    if x == 13:
        raise HttpError("unlucky", status=503)
    return x * x


@pytest.mark.parametrize("workers", [1, 4])
def test_sync_batch_keeps_order_ids_and_outputs(workers: int) -> None:
    """Successes and failures keep input order and ids; outputs are returned."""
    result = ParallelBatchProcessor(workers, square).process([3, -1, 2, 13, 4])
    assert isinstance(result, ProcessedBatch)
    assert result.total == 5
    assert result.succeeded == 3
    assert result.failed == 2
    assert result.is_partial_success
    assert result.succeeded_ids == ("0", "2", "4")
    assert result.values() == [9, 4, 16]
    assert dict(result.results) == {"0": 9, "2": 4, "4": 16}
    assert [f.item_id for f in result.failures] == ["1", "3"]
    assert isinstance(result.failures[0].error, ValidationError)
    assert result.retryable_items() == ["3"]


def test_custom_item_ids_and_duplicates() -> None:
    """item_id names items; duplicate ids are refused."""
    proc = ParallelBatchProcessor(2, lambda d: d["v"] * 2, item_id=lambda d: d["id"])
    result = proc.process([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    assert dict(result.results) == {"a": 2, "b": 4}
    with pytest.raises(ValidationError) as info:
        proc.process([{"id": "a", "v": 1}, {"id": "a", "v": 2}])
    assert info.value.code == "resilience.duplicate_batch_id"
    assert info.value.actual == "a"


def test_empty_batch_is_an_empty_result() -> None:
    """An empty batch returns a result with zero totals (the design's version panicked)."""
    result = ParallelBatchProcessor(3, square).process([])
    assert (result.total, result.succeeded, result.failed) == (0, 0, 0)
    assert not result.is_partial_success
    assert result.ok


def test_all_failed_raises_batch_error() -> None:
    """When every item fails, BatchError is raised with every failure."""
    with pytest.raises(BatchError, check=lambda e: e.code == "batch.all_failed") as info:
        ParallelBatchProcessor(2, square).process([-1, -2, 13])
    err = info.value
    assert err.total == 3
    assert [f.item_id for f in err.failures] == ["0", "1", "2"]
    assert err.retryable_items() == ["2"]
    assert not err.retryable


def test_foreign_errors_are_converted() -> None:
    """Non-InfraError exceptions become InfraErrors via to_infra_error."""

    def io(x: int) -> int:
        if x:
            raise FileNotFoundError(2, "missing", "/x")
        return 0

    result = ParallelBatchProcessor(2, io).process([0, 1])
    error = result.failures[0].error
    assert isinstance(error, IoError)
    assert error.path == "/x"


def test_base_exceptions_abort_the_batch() -> None:
    """KeyboardInterrupt is not swallowed as an item failure."""

    def interrupt(x: int) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ParallelBatchProcessor(1, interrupt).process([1, 2])


def test_sync_process_is_bounded() -> None:
    """At most worker_count items run at once on the thread pool."""
    lock = threading.Lock()
    running = 0
    peak = 0
    barrier = threading.Barrier(3, timeout=5)

    def slow(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if x < 3:
            barrier.wait()  # the first three must run together
        with lock:
            running -= 1
        return x

    result = ParallelBatchProcessor(3, slow).process(range(12))
    assert result.values() == list(range(12))
    assert peak == 3


def test_sync_process_refuses_async_fn() -> None:
    """process() with an async fn asks for aprocess() instead of running a hidden loop."""

    async def fn(x: int) -> int:
        return x

    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.async_fn_in_sync_process"):
        ParallelBatchProcessor(2, fn).process([1])


@pytest.mark.anyio
async def test_async_batch_bounded_and_ordered() -> None:
    """aprocess runs at most worker_count coroutines at once and keeps order."""
    running = 0
    peak = 0

    async def work(x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0)
        running -= 1
        if x == 5:
            raise HttpError("x", status=500)
        return -x

    result = await ParallelBatchProcessor(4, work).aprocess(range(20))
    assert peak == 4
    assert result.failed == 1
    assert result.failures[0].item_id == "5"
    assert result.values() == [-x for x in range(20) if x != 5]


@pytest.mark.anyio
async def test_async_batch_runs_sync_fn_on_threads() -> None:
    """A sync fn given to aprocess runs on worker threads, not on the event loop thread."""
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def blocking(x: int) -> int:
        threads.add(threading.get_ident())
        return x + 1

    result = await ParallelBatchProcessor(2, blocking).aprocess([1, 2, 3])
    assert result.values() == [2, 3, 4]
    assert loop_thread not in threads


@pytest.mark.anyio
async def test_async_batch_empty_and_all_failed() -> None:
    """aprocess handles empty batches and raises BatchError when all fail."""

    async def bad(x: int) -> int:
        raise InfraError("no")

    proc = ParallelBatchProcessor(3, bad)
    assert (await proc.aprocess([])).total == 0
    with pytest.raises(BatchError, check=lambda e: e.code == "batch.all_failed"):
        await proc.aprocess([1, 2])


def test_worker_count_validated() -> None:
    """worker_count below one raises ConfigError."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.invalid_batch_processor"):
        ParallelBatchProcessor(0, square)


@given(st.lists(st.integers(-5, 20), max_size=40), st.integers(1, 5))
@settings(max_examples=40, deadline=None)
def test_batch_finalize_property(items: list[int], workers: int) -> None:
    """Counts add up, order is kept, and all-failed non-empty batches raise."""
    expected_ok = [str(i) for i, x in enumerate(items) if x >= 0 and x != 13]
    if items and not expected_ok:
        with pytest.raises(BatchError) as info:
            ParallelBatchProcessor(workers, square).process(items)
        assert info.value.code == "batch.all_failed"
        assert len(info.value.failures) == len(items)
        return
    result = ParallelBatchProcessor(workers, square).process(items)
    assert result.total == len(items)
    assert result.succeeded + result.failed == len(items)
    assert list(result.succeeded_ids) == expected_ok
    assert result.is_partial_success == (0 < result.succeeded < len(items))
    assert [int(f.item_id) for f in result.failures] == sorted(int(f.item_id) for f in result.failures)
