"""Tests of RetryPolicy (pure schedule) and the retry decorator (sync and async drivers)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.errors import (
    ConfigError,
    ExternalError,
    HttpError,
    OperationTimeout,
    RateLimitedError,
    ValidationError,
)
from llm_infra.resilience import RetryAttempt, RetryPolicy, is_testing, retry, set_testing
from llm_infra.testing import FakeClock


@pytest.fixture(autouse=True)
def _no_test_mode() -> Iterator[None]:
    set_testing(False)
    yield
    set_testing(False)


class Flaky:
    """Fails with the given errors, then returns 'ok'."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def transient() -> HttpError:
    return HttpError("bad gateway", status=502)


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 1.5},
        {"base_delay": -1},
        {"base_delay": 2, "max_delay": 1},
        {"multiplier": 0.5},
        {"jitter": "bogus"},
        {"deadline": 0},
        {"retry_on": 42},
    ],
)
def test_policy_validation(kwargs: dict[str, object]) -> None:
    """Invalid policy values raise ConfigError."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.invalid_policy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_no_jitter_schedule_is_exponential_and_capped() -> None:
    """With jitter none the delays double up to max_delay, max_attempts-1 of them."""
    policy = RetryPolicy(max_attempts=7, base_delay=0.1, max_delay=1.0, jitter="none")
    assert list(policy.delays()) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert list(RetryPolicy(max_attempts=1).delays()) == []


def test_schedule_is_reproducible_with_seeded_rng() -> None:
    """Equal seeds give equal schedules (the schedule is pure)."""
    policy = RetryPolicy(max_attempts=6)
    assert list(policy.delays(random.Random(7))) == list(policy.delays(random.Random(7)))


@given(
    st.integers(1, 30),
    st.floats(0, 5),
    st.floats(0, 60),
    st.floats(1, 10),
    st.sampled_from(["full", "equal", "decorrelated", "none"]),
    st.integers(0, 2**32),
)
@settings(max_examples=300)
def test_backoff_bounds(
    attempts: int, base: float, extra: float, mult: float, jitter: str, seed: int
) -> None:
    """Every delay lies in [0, max_delay]; full/equal/none stay under the exponential cap."""
    policy = RetryPolicy(
        max_attempts=attempts,
        base_delay=base,
        max_delay=base + extra,
        multiplier=mult,
        jitter=jitter,  # type: ignore[arg-type]
    )
    delays = list(policy.delays(random.Random(seed)))
    assert len(delays) == attempts - 1
    cap = base
    for delay in delays:
        bounded = min(cap, policy.max_delay)
        assert 0 <= delay <= policy.max_delay
        if jitter in ("full", "equal", "none"):
            assert delay <= bounded + 1e-9
        if jitter == "equal":
            assert delay >= bounded / 2 - 1e-9
        if jitter == "none":
            assert delay == pytest.approx(bounded)
        if jitter == "decorrelated":
            assert delay >= min(base, policy.max_delay) - 1e-9
        cap = min(cap * mult, policy.max_delay)


# --------------------------------------------------------------------------- sync driver


def test_retries_retryable_errors_until_success() -> None:
    """A retryable error is retried; the final result is returned."""
    clock = FakeClock()
    fn = Flaky(transient(), transient())
    wrapped = retry(RetryPolicy(max_attempts=3, jitter="none"), clock=clock)(fn)
    assert wrapped() == "ok"
    assert fn.calls == 3
    assert clock.sleeps == pytest.approx([0.1, 0.2])


def test_max_attempts_counts_calls_in_total_and_reraises_last_error_unchanged() -> None:
    """max_attempts=3 means three calls; the last error object is re-raised as is."""
    clock = FakeClock()
    errors = [transient(), transient(), transient()]
    fn = Flaky(*errors)
    wrapped = retry(RetryPolicy(max_attempts=3), clock=clock)(fn)
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info:
        wrapped()
    assert info.value is errors[2]
    assert fn.calls == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    "error",
    [
        ValidationError("bad input"),
        HttpError("not found", status=404),
        ExternalError("down"),
        ValueError("plain"),
    ],
)
def test_non_retryable_errors_are_raised_at_once(error: Exception) -> None:
    """Non-retryable InfraErrors and foreign exceptions are not retried by default."""
    clock = FakeClock()
    fn = Flaky(error)
    with pytest.raises(type(error)) as info:
        retry(RetryPolicy(max_attempts=5), clock=clock)(fn)()
    assert info.value is error
    assert fn.calls == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        HttpError("x", status=503),
        HttpError("x", status=429),
        HttpError("x", status=408),
        HttpError("transport"),
        OperationTimeout("slow"),
        RateLimitedError(retry_after=0.01),
        ExternalError("down", retry_after=0.01),
    ],
)
def test_retryable_table(error: Exception) -> None:
    """Every retryable kind of error is retried."""
    fn = Flaky(error)
    assert retry(RetryPolicy(max_attempts=2), clock=FakeClock())(fn)() == "ok"
    assert fn.calls == 2


def test_retry_on_types_and_predicates() -> None:
    """retry_on accepts a type, a tuple of types or a predicate and replaces the default rule."""
    clock = FakeClock()
    fn = Flaky(KeyError("a"), KeyError("b"))
    assert retry(RetryPolicy(retry_on=KeyError), clock=clock)(fn)() == "ok"
    fn = Flaky(KeyError("a"), OSError("b"))
    assert retry(RetryPolicy(retry_on=(KeyError, OSError)), clock=clock)(fn)() == "ok"
    fn = Flaky(ValueError("retry me"))
    assert retry(RetryPolicy(retry_on=lambda e: "retry" in str(e)), clock=clock)(fn)() == "ok"
    fn = Flaky(transient())
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        retry(RetryPolicy(retry_on=KeyError), clock=clock)(fn)()
    assert RetryPolicy().should_retry(transient())


def test_retry_after_longer_than_backoff_is_honoured() -> None:
    """The error's retry_after replaces a shorter computed delay, not a longer one."""
    clock = FakeClock()
    fn = Flaky(RateLimitedError(retry_after=5.0), RateLimitedError(retry_after=0.0001))
    policy = RetryPolicy(max_attempts=3, base_delay=0.5, jitter="none")
    assert retry(policy, clock=clock)(fn)() == "ok"
    assert clock.sleeps == pytest.approx([5.0, 1.0])


def test_no_sleep_past_the_deadline() -> None:
    """When the next sleep would end past the deadline the last error is raised instead."""
    clock = FakeClock()
    errors = [RateLimitedError(retry_after=2.0), RateLimitedError(retry_after=2.0), transient()]
    fn = Flaky(*errors)
    policy = RetryPolicy(max_attempts=10, base_delay=0.1, jitter="none", deadline=3.0)
    with pytest.raises(RateLimitedError, check=lambda e: e.code == "rate_limited") as info:
        retry(policy, clock=clock)(fn)()
    assert info.value is errors[1]
    assert clock.sleeps == [2.0]
    assert sum(clock.sleeps) <= 3.0


def test_deadline_counts_time_spent_in_calls() -> None:
    """Time spent inside failing calls is charged to the deadline."""
    clock = FakeClock()

    def slow() -> None:
        clock.advance(1.5)
        raise transient()

    policy = RetryPolicy(max_attempts=10, base_delay=0.1, jitter="none", deadline=4.0)
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        retry(policy, clock=clock)(slow)()
    # Calls run 0-1.5, 1.6-3.1 and 3.3-4.8; after that no attempt can start before 4.0.
    assert clock.sleeps == pytest.approx([0.1, 0.2])
    assert clock.monotonic() == pytest.approx(1004.8)


def test_on_retry_hook_and_explicit_sleep_and_rng() -> None:
    """on_retry sees each attempt; explicit sleep and rng are used."""
    seen: list[RetryAttempt] = []
    slept: list[float] = []
    fn = Flaky(transient(), transient())
    wrapped = retry(
        RetryPolicy(max_attempts=3), sleep=slept.append, rng=random.Random(1), on_retry=seen.append
    )(fn)
    assert wrapped() == "ok"
    assert [a.attempt for a in seen] == [1, 2]
    assert [a.delay for a in seen] == slept
    assert all(isinstance(a.error, HttpError) for a in seen)
    assert all(a.elapsed >= 0 for a in seen)


def test_zero_delay_does_not_sleep() -> None:
    """A zero backoff does not call sleep."""
    slept: list[float] = []
    fn = Flaky(transient())
    assert retry(RetryPolicy(base_delay=0, max_delay=0), sleep=slept.append)(fn)() == "ok"
    assert slept == []


def test_base_exceptions_are_never_retried() -> None:
    """KeyboardInterrupt passes through without a retry."""
    fn = Flaky(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        retry(RetryPolicy(retry_on=BaseException), clock=FakeClock())(fn)()
    assert fn.calls == 1


def test_wrapper_keeps_metadata_and_arguments() -> None:
    """The decorated function keeps its name and receives its arguments."""

    @retry()
    def add(a: int, b: int = 0) -> int:
        """Add."""
        return a + b

    assert add(1, b=2) == 3
    assert add.__name__ == "add"
    assert add.__doc__ == "Add."


def test_set_testing_caps_attempts_and_skips_sleeps() -> None:
    """Test mode makes at most `attempts` calls and never sleeps."""
    clock = FakeClock()
    set_testing(True, attempts=2)
    assert is_testing()
    fn = Flaky(RateLimitedError(retry_after=100.0), transient(), transient())
    with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
        retry(RetryPolicy(max_attempts=10, deadline=1.0), clock=clock)(fn)()
    assert fn.calls == 2
    assert clock.sleeps == []
    set_testing(False)
    assert not is_testing()
    with pytest.raises(ConfigError, check=lambda e: e.code == "resilience.invalid_policy"):
        set_testing(True, attempts=0)


# --------------------------------------------------------------------------- async driver


@pytest.mark.anyio
async def test_async_retry_until_success() -> None:
    """Async functions are retried with the async sleep."""
    clock = FakeClock()
    calls = 0

    @retry(RetryPolicy(max_attempts=4, jitter="none"), clock=clock)
    async def fetch(x: int) -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise transient()
        return x * 2

    assert await fetch(21) == 42
    assert calls == 3
    assert clock.sleeps == pytest.approx([0.1, 0.2])


@pytest.mark.anyio
async def test_async_gives_up_with_original_error() -> None:
    """The async driver re-raises the last error unchanged and honours non-retryable ones."""
    clock = FakeClock()
    last = transient()
    errors = [transient(), last]

    @retry(RetryPolicy(max_attempts=2), clock=clock)
    async def always() -> None:
        raise errors.pop(0)

    with pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info:
        await always()
    assert info.value is last

    @retry(RetryPolicy(max_attempts=5), clock=clock)
    async def invalid() -> None:
        raise ValidationError("no")

    with pytest.raises(ValidationError, check=lambda e: e.code == "validation.invalid"):
        await invalid()


@pytest.mark.anyio
async def test_async_default_sleep_is_anyio() -> None:
    """Without a fake clock the async driver really sleeps (briefly) through anyio."""
    calls = 0

    @retry(RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001, jitter="none"))
    async def once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise transient()
        return "done"

    assert await once() == "done"


@pytest.mark.anyio
async def test_async_zero_delay_and_custom_asleep() -> None:
    """An explicit asleep is used and zero delays skip it."""
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    calls = 0

    @retry(RetryPolicy(max_attempts=3, jitter="none"), asleep=asleep)
    async def twice() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise transient()
        return "ok"

    assert await twice() == "ok"
    assert slept == pytest.approx([0.1, 0.2])

    @retry(RetryPolicy(base_delay=0, max_delay=0), asleep=asleep)
    async def instant() -> str:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise transient()
        return "ok"

    slept.clear()
    assert await instant() == "ok"
    assert slept == []


def test_retry_event_on_recording_span() -> None:
    """A retry adds a 'retry' event to the current recording span."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    fn = Flaky(transient())
    with tracer.start_as_current_span("op"):
        retry(RetryPolicy(), clock=FakeClock())(fn)()
    (span,) = exporter.get_finished_spans()
    assert [e.name for e in span.events] == ["retry"]
    assert span.events[0].attributes["retry.attempt"] == 1
