"""Tests of with_timeout, Deadline and ResourcePool (limits, timeouts, close, cancellation)."""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest

from llm_infra.errors import ConfigError, ExternalError, OperationTimeout, ValidationError
from llm_infra.resilience import Deadline, ResourcePool, with_timeout
from llm_infra.testing import FakeClock

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------- Deadline


def test_deadline_arithmetic() -> None:
    """remaining, expired, cap and check follow the injected clock."""
    clock = FakeClock()
    deadline = Deadline(5.0, clock=clock)
    assert deadline.at == 1005.0
    assert deadline.remaining() == 5.0
    assert deadline.cap(2.0) == 2.0
    assert deadline.cap(None) == 5.0
    assert not deadline.expired()
    deadline.check("op")
    clock.advance(4.0)
    assert deadline.cap(2.0) == pytest.approx(1.0)
    clock.advance(1.0)
    assert deadline.expired()
    assert deadline.remaining() == 0.0
    with pytest.raises(OperationTimeout, check=lambda e: e.code == "timeout.exceeded") as info:
        deadline.check("upload")
    assert info.value.operation == "upload"
    assert info.value.retryable
    assert "remaining=0.000" in repr(deadline)


def test_deadline_never() -> None:
    """A deadline of None never expires."""
    deadline = Deadline.never()
    assert math.isinf(deadline.remaining())
    assert not deadline.expired()
    assert deadline.cap(3.0) == 3.0


# --------------------------------------------------------------------------- with_timeout


async def test_with_timeout_returns_result() -> None:
    """A fast awaitable's result is returned."""

    async def fast() -> int:
        return 7

    assert await with_timeout(fast(), 1.0) == 7
    assert await with_timeout(fast(), None) == 7
    assert await with_timeout(fast(), Deadline.never()) == 7


async def test_with_timeout_raises_operation_timeout() -> None:
    """A slow awaitable is cancelled and OperationTimeout (retryable, a TimeoutError) is raised."""
    cancelled = False

    async def slow() -> None:
        nonlocal cancelled
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            cancelled = True
            raise

    with pytest.raises(OperationTimeout, check=lambda e: e.code == "timeout.exceeded") as info:
        await with_timeout(slow(), 0.01, operation="embed")
    err = info.value
    assert cancelled
    assert err.retryable
    assert err.operation == "embed"
    assert err.duration == 0.01
    assert isinstance(err, TimeoutError)


async def test_with_timeout_accepts_deadline() -> None:
    """An expired Deadline times out at once."""
    clock = FakeClock()
    deadline = Deadline(1.0, clock=clock)
    clock.advance(2.0)
    with pytest.raises(OperationTimeout, check=lambda e: e.code == "timeout.exceeded"):
        await with_timeout(anyio.sleep(1), deadline)


async def test_inner_timeout_error_passes_through() -> None:
    """A TimeoutError raised by the awaitable itself is not rewritten."""

    async def inner() -> None:
        raise TimeoutError("mine")

    with pytest.raises(TimeoutError, match="mine"):
        await with_timeout(inner(), 5.0)


# --------------------------------------------------------------------------- ResourcePool


class Factory:
    def __init__(self) -> None:
        self.made = 0
        self.disposed: list[int] = []

    def __call__(self) -> int:
        self.made += 1
        return self.made

    def dispose(self, item: int) -> None:
        self.disposed.append(item)


async def test_pool_reuses_items_and_counts() -> None:
    """Items are created on demand, reused when returned, and counted."""
    factory = Factory()
    pool = ResourcePool(factory, max_size=2, dispose=factory.dispose)
    async with pool.acquire() as a:
        assert a == 1
        assert pool.in_use == 1
    assert (pool.in_use, pool.idle) == (0, 1)
    async with pool.acquire() as b, pool.acquire() as c:
        assert {b, c} == {1, 2}
    assert factory.made == 2
    assert pool.max_size == 2
    assert "max_size=2" in repr(pool)
    await pool.aclose()
    assert sorted(factory.disposed) == [1, 2]
    assert pool.closed


async def test_pool_never_exceeds_max_size() -> None:
    """Many concurrent borrowers never hold more than max_size items."""
    pool = ResourcePool(Factory(), max_size=3)
    out = 0
    peak = 0

    async def borrower() -> None:
        nonlocal out, peak
        async with pool.acquire(timeout=5) as _item:
            out += 1
            peak = max(peak, out)
            await anyio.sleep(0)
            await anyio.sleep(0)
            out -= 1

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(borrower)
    assert peak == 3
    assert pool.in_use == 0
    assert pool.waiting == 0


async def test_pool_timeout_is_retryable_external_error() -> None:
    """Waiting past the timeout raises ExternalError(service='resource_pool') with retry_after."""
    pool = ResourcePool(Factory(), max_size=1, retry_after=2.5)
    async with pool.acquire():
        with pytest.raises(ExternalError) as info:
            async with pool.acquire(timeout=0.01):
                pass
        err = info.value
        assert err.service == "resource_pool"
        assert err.operation == "acquire"
        assert err.retry_after == 2.5
        assert err.retryable
        assert err.code == "resilience.pool_timeout"
        with pytest.raises(ExternalError, check=lambda e: e.code == "resilience.pool_timeout"):
            async with pool.acquire(timeout=0):
                pass
    assert pool.in_use == 0
    assert pool.waiting == 0


async def test_closed_pool_gives_clear_error_to_new_and_waiting_callers() -> None:
    """After aclose, waiters and new callers get resilience.pool_closed (not retryable)."""
    factory = Factory()
    pool = ResourcePool(factory, max_size=1, dispose=factory.dispose)
    errors: list[ExternalError] = []

    async def waiter() -> None:
        try:
            async with pool.acquire(timeout=5):
                pass
        except ExternalError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        async with pool.acquire() as item:
            group.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await pool.aclose()
        assert item in factory.disposed  # returned after close -> disposed
    assert [e.code for e in errors] == ["resilience.pool_closed"]
    assert not errors[0].retryable
    with pytest.raises(ExternalError, match="closed", check=lambda e: e.code == "resilience.pool_closed"):
        async with pool.acquire():
            pass


async def test_cancelled_waiters_leak_no_permit() -> None:
    """Cancelling waiters (including one just handed a permit) leaves the pool fully usable."""
    pool = ResourcePool(Factory(), max_size=1)
    async with anyio.create_task_group() as group:
        holder_release = anyio.Event()

        async def holder() -> None:
            async with pool.acquire():
                await holder_release.wait()

        async def waiter() -> None:
            async with pool.acquire():
                await anyio.sleep(10)

        group.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        for _ in range(5):
            group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert pool.waiting == 5
        holder_release.set()  # the first waiter is handed the permit...
        group.cancel_scope.cancel()  # ...and everyone is cancelled at once
    assert pool.in_use == 0
    assert pool.waiting == 0
    with anyio.fail_after(1):
        async with pool.acquire(timeout=0) as item:
            assert item == 1


async def test_handed_permit_survives_cancellation_race() -> None:
    """A waiter cancelled right after being handed the permit passes it to the next waiter."""
    import asyncio

    pool = ResourcePool(Factory(), max_size=1)
    got: list[int] = []
    lease = pool.acquire()
    await lease.__aenter__()

    async def doomed() -> None:
        async with pool.acquire():
            got.append(-1)

    async def patient() -> None:
        async with pool.acquire(timeout=5) as item:
            got.append(item)

    doomed_task = asyncio.ensure_future(doomed())
    await anyio.wait_all_tasks_blocked()
    patient_task = asyncio.ensure_future(patient())
    await anyio.wait_all_tasks_blocked()
    assert pool.waiting == 2
    await lease.__aexit__(None, None, None)  # hands the permit to `doomed`...
    doomed_task.cancel()  # ...which is cancelled before it runs again
    await asyncio.gather(doomed_task, patient_task, return_exceptions=True)
    assert doomed_task.cancelled()
    assert got == [1]
    assert pool.in_use == 0
    assert pool.waiting == 0


async def test_factory_failure_releases_permit() -> None:
    """A failing factory raises ExternalError (or its own InfraError) and frees the permit."""
    calls = 0

    def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("refused")
        if calls == 2:
            raise ValidationError("bad settings")
        return calls

    pool = ResourcePool(flaky, max_size=1)
    with pytest.raises(ExternalError) as info:
        async with pool.acquire():
            pass
    assert info.value.code == "resilience.pool_factory_failed"
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(ValidationError, check=lambda e: e.code == "validation.invalid"):
        async with pool.acquire():
            pass
    async with pool.acquire(timeout=0) as item:
        assert item == 3


async def test_async_factory_dispose_check_and_discard() -> None:
    """Async factories/disposers work; failed checks and discarded items are disposed."""
    made: list[dict[str, Any]] = []
    disposed: list[int] = []

    async def factory() -> dict[str, Any]:
        item = {"id": len(made), "alive": True}
        made.append(item)
        return item

    async def dispose(item: dict[str, Any]) -> None:
        disposed.append(item["id"])

    pool = ResourcePool(factory, max_size=2, dispose=dispose, check=lambda item: item["alive"])
    async with pool.acquire() as first:
        first["alive"] = False
    async with pool.acquire() as second:
        assert second["id"] == 1  # the dead one was disposed, a new one made
        pool.discard(second)
    assert disposed == [0, 1]
    async with pool:
        async with pool.acquire() as third:
            assert third["id"] == 2
    assert disposed == [0, 1, 2]


async def test_dispose_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A failing dispose does not mask anything; it is logged."""

    def dispose(_: int) -> None:
        raise RuntimeError("close failed")

    pool = ResourcePool(Factory(), max_size=1, dispose=dispose)
    async with pool.acquire():
        pass
    await pool.aclose()
    assert "disposing an item failed" in caplog.text


async def test_pool_config_errors() -> None:
    """max_size below one or negative retry_after raise ConfigError."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.invalid_pool"):
        ResourcePool(Factory(), max_size=0)
    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.invalid_pool"):
        ResourcePool(Factory(), max_size=1, retry_after=-1)
