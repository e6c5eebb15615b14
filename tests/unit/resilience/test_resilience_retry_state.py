"""RetryState: the one retry state machine (driven by ``retry`` and both HTTP clients)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.errors import ConfigError, HttpError, RateLimitedError, ValidationError
from llm_infra.resilience import RetryPolicy, RetryState, retry, set_testing
from llm_infra.testing import FakeClock


@pytest.fixture(autouse=True)
def _no_test_mode() -> Iterator[None]:
    set_testing(False)
    yield
    set_testing(False)


def transient() -> HttpError:
    return HttpError("unavailable", status=503)


def test_gives_delays_then_gives_up_with_the_attempt_count() -> None:
    clock = FakeClock()
    state = RetryState(RetryPolicy(max_attempts=3, jitter="none", base_delay=0.5), clock=clock)
    assert state.on_error(transient()) == 0.5
    assert state.on_error(transient()) == 1.0
    final = transient()
    assert state.on_error(final) is None
    assert state.attempts == 3
    assert final.context.attributes["attempts"] == 3
    assert "gave up after 3 attempts: attempts exhausted" in final.__notes__


def test_not_retryable_errors_give_up_at_once_without_a_note() -> None:
    error = ValidationError("bad input")
    assert RetryState(RetryPolicy(), clock=FakeClock()).on_error(error) is None
    assert not getattr(error, "__notes__", [])
    assert error.context.attributes["attempts"] == 1


def test_retry_after_is_honoured_up_to_max_retry_after() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=5, jitter="none", base_delay=0.1)
    assert RetryState(policy, clock=clock).on_error(RateLimitedError(retry_after=3.0)) == 3.0
    capped = RetryState(policy, clock=clock, max_retry_after=2.0)
    error = RateLimitedError(retry_after=3.0)
    assert capped.on_error(error) is None
    assert any("max_retry_after" in note for note in error.__notes__)


def test_idempotency_gate_retries_only_unsent_failures() -> None:
    state = RetryState(RetryPolicy(max_attempts=3, jitter="none"), clock=FakeClock(), idempotent=False)
    assert state.on_error(transient(), sent=False) == pytest.approx(0.1)
    error = transient()
    assert state.on_error(error, sent=True) is None
    assert "gave up after 2 attempts: not idempotent" in error.__notes__


def test_no_delay_ends_past_the_deadline() -> None:
    clock = FakeClock()
    state = RetryState(
        RetryPolicy(max_attempts=5, jitter="none", base_delay=1.0),
        clock=clock,
        deadline_at=clock.monotonic() + 1.5,
    )
    assert state.on_error(transient(), clock.monotonic()) == 1.0
    clock.advance(1.0)
    assert state.on_error(transient(), clock.monotonic()) is None


def test_policy_deadline_and_explicit_deadline_take_the_earlier() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=5, jitter="none", base_delay=1.0, deadline=0.5)
    state = RetryState(policy, clock=clock, deadline_at=clock.monotonic() + 100.0)
    assert state.on_error(transient()) is None


def test_testing_mode_caps_attempts_and_zeroes_delays() -> None:
    set_testing(True, attempts=2)
    state = RetryState(RetryPolicy(max_attempts=10, base_delay=5.0), clock=FakeClock())
    assert state.on_error(RateLimitedError(retry_after=60.0)) == 0.0
    assert state.on_error(transient()) is None


def test_testing_mode_with_one_attempt_makes_exactly_one_call() -> None:
    set_testing(True, attempts=1)
    calls = 0

    @retry(RetryPolicy(max_attempts=4))
    def flaky() -> None:
        nonlocal calls
        calls += 1
        raise transient()

    with pytest.raises(HttpError) as info:
        flaky()
    assert info.value.code == "http.status"
    assert calls == 1


def test_retry_accepts_retry_on() -> None:
    clock = FakeClock()
    calls = 0

    @retry(RetryPolicy(max_attempts=3), retry_on=KeyError, clock=clock)
    def lookup() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise KeyError("later")
        return "found"

    assert lookup() == "found"
    assert calls == 3


def test_final_error_of_retry_names_the_attempts() -> None:
    clock = FakeClock()

    @retry(RetryPolicy(max_attempts=2), clock=clock)
    def always() -> None:
        raise transient()

    with pytest.raises(HttpError) as info:
        always()
    assert info.value.code == "http.status"
    assert info.value.context.attributes["attempts"] == 2
    assert "gave up after 2 attempts: attempts exhausted" in info.value.__notes__


@pytest.mark.parametrize(
    ("option", "hint"),
    [
        ("max_attempts", "RetryPolicy(max_attempts=...)"),
        ("attempts", "RetryPolicy(max_attempts=...)"),
        ("deadline", "RetryPolicy(deadline=...)"),
        ("retry_if", "retry_on=..."),
        ("frobnicate", "no option 'frobnicate'"),
    ],
)
def test_misplaced_options_name_where_they_go(option: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        retry(**{option: 3})  # type: ignore[arg-type]
    assert info.value.code == "resilience.unknown_option"
    assert hint in info.value.message


def test_a_non_policy_positional_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        retry(lambda: None)  # type: ignore[arg-type]
    assert info.value.code == "resilience.invalid_policy"


@settings(max_examples=200, deadline=None)
@given(
    max_attempts=st.integers(1, 8),
    base_delay=st.floats(0.0, 2.0),
    deadline=st.one_of(st.none(), st.floats(0.1, 20.0)),
    retry_afters=st.lists(st.one_of(st.none(), st.floats(0.0, 30.0)), min_size=1, max_size=12),
    max_retry_after=st.one_of(st.none(), st.floats(0.0, 30.0)),
)
def test_retry_state_bounds(
    max_attempts: int,
    base_delay: float,
    deadline: float | None,
    retry_afters: list[float | None],
    max_retry_after: float | None,
) -> None:
    """Whatever the errors: at most max_attempts calls, no wait past the deadline, retry_after
    honoured unless beyond max_retry_after, and the give-up is recorded on the last error."""
    clock = FakeClock()
    policy = RetryPolicy(
        max_attempts=max_attempts, base_delay=base_delay, max_delay=max(base_delay, 5.0), deadline=deadline
    )
    state = RetryState(policy, clock=clock, max_retry_after=max_retry_after)
    start = clock.monotonic()
    calls = 1
    for retry_after in retry_afters:
        error = RateLimitedError(retry_after=retry_after) if retry_after is not None else transient()
        delay = state.on_error(error, clock.monotonic())
        if delay is None:
            assert error.context.attributes["attempts"] == calls
            break
        assert delay >= 0
        if retry_after is not None:
            assert delay >= retry_after
            assert max_retry_after is None or retry_after <= max_retry_after
        if deadline is not None:
            assert clock.monotonic() + delay < start + deadline
        clock.advance(delay)
        calls += 1
    assert calls <= max_attempts
    assert state.attempts == calls
