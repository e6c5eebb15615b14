"""Tests of CircuitBreaker: the transition table on a fake clock, drivers, listeners, threads."""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio
import pytest

from llm_infra.errors import CircuitOpenError, ConfigError, HttpError, NotFoundError, ValidationError
from llm_infra.resilience import CircuitBreaker, CircuitState, HealthState, circuit, counts_as_failure
from llm_infra.testing import FakeClock

CLOSED, OPEN, HALF = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def make(clock: FakeClock, **kw: Any) -> tuple[CircuitBreaker, list[tuple[CircuitState, CircuitState]]]:
    seen: list[tuple[CircuitState, CircuitState]] = []
    options: dict[str, Any] = {"failure_threshold": 3, "success_threshold": 2, "reset_timeout": 10.0} | kw
    breaker = CircuitBreaker("dep", clock=clock, **options)
    breaker.add_listener(lambda b, old, new: seen.append((old, new)))
    return breaker, seen


def fail(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.record(False, clock.monotonic(), breaker.before_call(clock.monotonic()))


def succeed(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.record(True, clock.monotonic(), breaker.before_call(clock.monotonic()))


def test_closed_stays_closed_below_threshold_and_success_resets_count() -> None:
    """closed + failures < threshold stays closed; a success resets the consecutive count."""
    clock = FakeClock()
    breaker, seen = make(clock)
    fail(breaker, clock)
    fail(breaker, clock)
    assert breaker.failure_count == 2
    succeed(breaker, clock)
    assert breaker.failure_count == 0
    fail(breaker, clock)
    fail(breaker, clock)
    assert breaker.state is CLOSED
    assert seen == []


def test_closed_to_open_after_threshold() -> None:
    """closed + failure_threshold consecutive failures -> open."""
    clock = FakeClock()
    breaker, seen = make(clock)
    for _ in range(3):
        fail(breaker, clock)
    assert breaker.state is OPEN
    assert seen == [(CLOSED, OPEN)]


def test_open_refuses_with_remaining_retry_after() -> None:
    """open + call before reset_timeout -> CircuitOpenError with the remaining time, not retryable."""
    clock = FakeClock()
    breaker, _ = make(clock)
    for _ in range(3):
        fail(breaker, clock)
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call(clock.monotonic())
    err = info.value
    assert err.retry_after == pytest.approx(6.0)
    assert not err.retryable
    assert err.name == "dep"
    assert err.code == "circuit.open"
    assert breaker.retry_after() == pytest.approx(6.0)
    assert breaker.state is OPEN


def test_open_to_half_open_after_reset_timeout_admits_limited_probes() -> None:
    """open + reset_timeout elapsed -> half-open; only half_open_max_calls probes at once."""
    clock = FakeClock()
    breaker, seen = make(clock, half_open_max_calls=2)
    for _ in range(3):
        fail(breaker, clock)
    clock.advance(10.0)
    first = breaker.before_call(clock.monotonic())
    assert breaker.state is HALF
    breaker.before_call(clock.monotonic())
    with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open") as info:
        breaker.before_call(clock.monotonic())
    assert info.value.retry_after == pytest.approx(10.0)
    breaker.record(True, clock.monotonic(), first)
    breaker.before_call(clock.monotonic())  # a slot was freed
    assert seen == [(CLOSED, OPEN), (OPEN, HALF)]
    assert breaker.retry_after() == 0.0


def test_half_open_closes_after_success_threshold() -> None:
    """half-open + success_threshold successes -> closed."""
    clock = FakeClock()
    breaker, seen = make(clock)
    for _ in range(3):
        fail(breaker, clock)
    clock.advance(10.0)
    succeed(breaker, clock)
    assert breaker.state is HALF
    succeed(breaker, clock)
    assert breaker.state is CLOSED
    assert seen == [(CLOSED, OPEN), (OPEN, HALF), (HALF, CLOSED)]
    assert breaker.failure_count == 0


def test_half_open_failure_reopens_with_fresh_timeout() -> None:
    """half-open + one failure -> open again, timed from the new failure."""
    clock = FakeClock()
    breaker, seen = make(clock)
    for _ in range(3):
        fail(breaker, clock)
    clock.advance(10.0)
    succeed(breaker, clock)
    fail(breaker, clock)
    assert breaker.state is OPEN
    clock.advance(9.0)
    with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open") as info:
        breaker.before_call(clock.monotonic())
    assert info.value.retry_after == pytest.approx(1.0)
    assert seen == [(CLOSED, OPEN), (OPEN, HALF), (HALF, OPEN)]


def test_stale_tickets_are_ignored() -> None:
    """An outcome admitted in an earlier state does not affect the current one."""
    clock = FakeClock()
    breaker, _ = make(clock)
    slow = breaker.before_call(clock.monotonic())  # admitted while closed
    for _ in range(3):
        fail(breaker, clock)
    clock.advance(10.0)
    probe = breaker.before_call(clock.monotonic())
    breaker.record(True, clock.monotonic(), slow)  # late success from the closed era
    breaker.record(True, clock.monotonic(), slow)
    assert breaker.state is HALF
    breaker.record(True, clock.monotonic(), probe)
    succeed(breaker, clock)
    assert breaker.state is CLOSED


def test_records_while_open_are_ignored_and_release() -> None:
    """Results reported without ticket while open change nothing; release frees a probe slot."""
    clock = FakeClock()
    breaker, _ = make(clock)
    for _ in range(3):
        fail(breaker, clock)
    breaker.record(True, clock.monotonic())
    breaker.record(False, clock.monotonic())
    assert breaker.state is OPEN
    clock.advance(10.0)
    ticket = breaker.before_call(clock.monotonic())
    with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open"):
        breaker.before_call(clock.monotonic())
    breaker.release(ticket)
    breaker.release(ticket)  # idempotent at zero
    breaker.before_call(clock.monotonic())


def test_zero_reset_timeout_probes_immediately() -> None:
    """With reset_timeout 0 the next call after opening is already a probe."""
    clock = FakeClock()
    breaker, _ = make(clock, reset_timeout=0.0)
    for _ in range(3):
        fail(breaker, clock)
    breaker.before_call(clock.monotonic())
    assert breaker.state is HALF


# --------------------------------------------------------------------------- drivers


def boom(error: Exception) -> None:
    raise error


def test_call_counts_only_errors_that_count() -> None:
    """Retryable/foreign errors trip the breaker; non-retryable InfraErrors count as successes."""
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=2)
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        breaker.call(boom, HttpError("x", status=503))
    with pytest.raises(ValidationError, check=lambda e: e.code == "validation.invalid"):
        breaker.call(boom, ValidationError("caller's fault"))
    assert breaker.failure_count == 0
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        breaker.call(boom, HttpError("x", status=503))
    assert breaker.call(lambda: "fine") == "fine"
    assert breaker.failure_count == 0
    with pytest.raises(NotFoundError, check=lambda e: e.code == "not_found"):
        breaker.call(boom, NotFoundError("nope"))
    with pytest.raises(RuntimeError):
        breaker.call(boom, RuntimeError("crash"))
    with pytest.raises(HttpError, check=lambda e: e.code == "http.transport"):
        breaker.call(boom, HttpError("x"))
    assert breaker.state is OPEN
    calls = 0

    def counted() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open"):
        breaker.call(counted)
    assert calls == 0, "an open breaker must not call the function"
    assert counts_as_failure(ValueError())
    assert not counts_as_failure(ValidationError("v"))


def test_call_through_half_open_and_back() -> None:
    """call() drives open -> half-open -> closed, and a non-counting error in half-open is a success."""
    clock = FakeClock()
    breaker, seen = make(clock, failure_threshold=1)
    with pytest.raises(RuntimeError):
        breaker.call(boom, RuntimeError())
    clock.advance(10.0)
    assert breaker.call(lambda: 1) == 1
    with pytest.raises(ValidationError, check=lambda e: e.code == "validation.invalid"):
        breaker.call(boom, ValidationError("v"))
    assert breaker.state is CLOSED
    assert seen[-1] == (HALF, CLOSED)
    with pytest.raises(RuntimeError):
        breaker.call(boom, RuntimeError())
    clock.advance(10.0)
    with pytest.raises(RuntimeError):
        breaker.call(boom, RuntimeError())
    assert breaker.state is OPEN


def test_base_exception_in_probe_releases_slot() -> None:
    """A probe interrupted by a BaseException frees its slot without counting."""
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=1)
    with pytest.raises(RuntimeError):
        breaker.call(boom, RuntimeError())
    clock.advance(10.0)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    assert breaker.state is HALF
    assert breaker.call(lambda: "probe") == "probe"


def test_decorator_sync_and_circuit_factory() -> None:
    """The breaker and circuit() decorate sync functions and keep metadata."""
    clock = FakeClock()
    breaker = circuit("svc", failure_threshold=1, clock=clock)

    @breaker
    def double(x: int) -> int:
        """Double."""
        if x < 0:
            raise RuntimeError("negative")
        return 2 * x

    assert double(2) == 4
    assert double.__name__ == "double"
    with pytest.raises(RuntimeError):
        double(-1)
    with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open"):
        double(1)
    assert repr(breaker) == "CircuitBreaker('svc', state=open)"


@pytest.mark.anyio
async def test_async_drivers() -> None:
    """acall and the async decorator follow the same transitions."""
    clock = FakeClock()
    breaker, seen = make(clock, failure_threshold=2, success_threshold=1)

    async def ok() -> str:
        return "ok"

    async def bad() -> None:
        raise HttpError("x", status=500)

    async def invalid() -> None:
        raise ValidationError("v")

    assert await breaker.acall(ok) == "ok"
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        await breaker.acall(bad)
    assert await breaker.acall(ok) == "ok"  # resets the count
    with pytest.raises(ValidationError, check=lambda e: e.code == "validation.invalid"):
        await breaker.acall(invalid)
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        await breaker.acall(bad)
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        await breaker.acall(bad)
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open"):
        await breaker.acall(ok)
    clock.advance(10.0)
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        await breaker.acall(bad)
    clock.advance(10.0)

    @breaker
    async def decorated(x: int) -> int:
        return x + 1

    assert await decorated(1) == 2
    assert breaker.state is CLOSED
    assert seen == [(CLOSED, OPEN), (OPEN, HALF), (HALF, OPEN), (OPEN, HALF), (HALF, CLOSED)]


@pytest.mark.anyio
async def test_async_cancelled_probe_releases_slot() -> None:
    """A cancelled half-open probe gives its slot back."""
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=1)
    with pytest.raises(RuntimeError):
        await breaker.acall(_araise)
    clock.advance(10.0)
    with anyio.move_on_after(0.01):
        await breaker.acall(anyio.sleep, 10)
    assert breaker.state is HALF
    assert await breaker.acall(_aok) == "ok"


async def _araise() -> None:
    raise RuntimeError


async def _aok() -> str:
    return "ok"


@pytest.mark.anyio
async def test_asyncio_tasks_respect_half_open_limit() -> None:
    """Concurrent tasks in half-open: exactly half_open_max_calls probes run, the rest are refused."""
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=1, half_open_max_calls=2, success_threshold=5)
    with pytest.raises(RuntimeError):
        await breaker.acall(_araise)
    clock.advance(10.0)
    running = 0
    peak = 0
    refused = 0
    gate = anyio.Event()

    async def probe() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    async def attempt() -> None:
        nonlocal refused
        try:
            await breaker.acall(probe)
        except CircuitOpenError:
            refused += 1

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(attempt)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert peak == 2
    assert refused == 8


def test_listener_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A failing listener does not break the call; it is logged."""
    clock = FakeClock()

    def broken(*_: object) -> None:
        raise ValueError("listener bug")

    breaker = CircuitBreaker("l", failure_threshold=1, clock=clock, listeners=[broken])
    with caplog.at_level(logging.INFO, logger="llm_infra.resilience"), pytest.raises(RuntimeError):
        breaker.call(boom, RuntimeError())
    assert breaker.state is OPEN
    assert "listener" in caplog.text
    assert "closed -> open" in caplog.text


def test_reset_and_health() -> None:
    """health maps closed/half-open/open to healthy/degraded/unhealthy; reset closes."""
    clock = FakeClock()
    breaker, seen = make(clock, failure_threshold=1)
    assert breaker.health().is_healthy
    with pytest.raises(RuntimeError):
        breaker.call(boom, RuntimeError())
    status = breaker.health()
    assert status.state is HealthState.UNHEALTHY
    assert status.since is not None
    assert status.reason == "circuit dep is open"
    clock.advance(10.0)
    breaker.before_call(clock.monotonic())
    assert breaker.health().state is HealthState.DEGRADED
    breaker.reset()
    assert breaker.state is CLOSED
    breaker.reset()
    assert seen[-1] == (HALF, CLOSED)


@pytest.mark.parametrize(
    "kwargs",
    [{"failure_threshold": 0}, {"success_threshold": 0}, {"half_open_max_calls": 0}, {"reset_timeout": -1}],
)
def test_config_errors(kwargs: dict[str, Any]) -> None:
    """Thresholds below one and negative timeouts raise ConfigError."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.invalid_breaker"):
        CircuitBreaker("x", **kwargs)


def test_eight_threads_hammering() -> None:
    """8 threads racing calls through every state keep the breaker's invariants.

    A sampler checks, under the breaker's lock, that probes in flight never exceed
    half_open_max_calls and that closed/open states hold no probes; afterwards the breaker
    still recovers normally (no leaked probe slot).
    """
    clock = FakeClock()
    breaker = CircuitBreaker(
        "hammer",
        failure_threshold=3,
        success_threshold=2,
        reset_timeout=1.0,
        half_open_max_calls=2,
        clock=clock,
    )
    violations: list[str] = []
    outcomes = {"ok": 0, "failed": 0, "refused": 0}
    tally = threading.Lock()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with breaker._lock:
                flight, state = breaker._in_flight, breaker._state
            if not 0 <= flight <= breaker.half_open_max_calls:
                violations.append(f"in_flight={flight}")
            if state is not HALF and flight != 0:
                violations.append(f"{state} with {flight} probes")

    def work(i: int) -> None:
        for j in range(2000):

            def fn(j: int = j) -> None:
                if (j // 100) % 2 == 0:  # alternate stretches of failures and successes
                    raise RuntimeError("fail")

            try:
                breaker.call(fn)
                key = "ok"
            except RuntimeError:
                key = "failed"
            except CircuitOpenError:
                key = "refused"
            with tally:
                outcomes[key] += 1
            if j % 50 == 0:
                clock.advance(0.5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sampler.join()
    assert not violations
    assert sum(outcomes.values()) == 16_000
    assert outcomes["ok"]
    assert outcomes["failed"]
    assert outcomes["refused"]
    clock.advance(5.0)
    for _ in range(2):
        breaker.call(lambda: None)
    assert breaker.state is CLOSED


def test_decorator_success_resets_failure_count() -> None:
    """Through the decorator, a success after failures resets the consecutive count."""
    breaker = CircuitBreaker("deco", failure_threshold=3, clock=FakeClock())

    @breaker
    def maybe(fail: bool) -> str:
        if fail:
            raise RuntimeError("x")
        return "ok"

    with pytest.raises(RuntimeError):
        maybe(True)
    assert breaker.failure_count == 1
    assert maybe(False) == "ok"
    assert breaker.failure_count == 0
