"""``RetryPolicy`` (a pure backoff schedule) and the ``retry`` decorator (sync and async drivers)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, ParamSpec, TypeAlias, TypeVar, cast, final

from opentelemetry import trace

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import ConfigError, InfraError
from llm_infra.resilience import _codes

P = ParamSpec("P")
R = TypeVar("R")

Jitter: TypeAlias = Literal["full", "equal", "decorrelated", "none"]
RetryOn: TypeAlias = Callable[[BaseException], bool] | type[BaseException] | tuple[type[BaseException], ...]

_JITTERS: Final = ("full", "equal", "decorrelated", "none")
_logger = logging.getLogger("llm_infra.resilience")


def _default_retry_on(exc: BaseException) -> bool:
    return isinstance(exc, InfraError) and exc.retryable


def _predicate(retry_on: RetryOn | None) -> Callable[[BaseException], bool]:
    if retry_on is None:
        return _default_retry_on
    if isinstance(retry_on, type | tuple):
        types = retry_on
        return lambda exc: isinstance(exc, types)
    return retry_on


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry: exponential backoff with jitter, attempts and a deadline.

    The delay before retry ``n`` (``n`` = 0 for the second call) is capped at
    ``min(max_delay, base_delay * multiplier**n)`` and then jittered:

    * ``"full"``: uniform in ``[0, cap]`` (AWS "full jitter", the default);
    * ``"equal"``: ``cap/2`` plus uniform in ``[0, cap/2]``;
    * ``"decorrelated"``: uniform in ``[base_delay, previous * 3]``, at most ``max_delay``;
    * ``"none"``: exactly ``cap``.

    Every delay lies in ``[0, max_delay]`` (jitter included), except
    that a larger ``retry_after`` announced by the error is honoured by ``retry``.

    Attributes:
        max_attempts: calls in total, the first included (1 disables retrying).
        base_delay: the first backoff cap, in seconds.
        max_delay: the largest backoff, in seconds.
        multiplier: growth factor of the cap per retry (>= 1).
        jitter: one of ``"full"``, ``"equal"``, ``"decorrelated"``, ``"none"``.
        deadline: total seconds from the first call after which no further attempt starts
            (``retry`` never sleeps past it); None for no deadline.
        retry_on: which errors to retry: a predicate, an exception type or a tuple of types.
            Default: ``InfraError`` instances whose ``retryable`` is true.

    Raises:
        ConfigError: on invalid values (``max_attempts < 1``, negative delays, ``max_delay <
            base_delay``, ``multiplier < 1``, an unknown jitter, a deadline <= 0).

    .. versionadded:: 0.1.0
    """

    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: Jitter = "full"
    deadline: float | None = None
    retry_on: RetryOn | None = None
    _should_retry: Callable[[BaseException], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"RetryPolicy.{key} {why}", key=key, code=_codes.INVALID_POLICY)

        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise bad("max_attempts", f"must be an int >= 1, got {self.max_attempts!r}")
        if self.base_delay < 0:
            raise bad("base_delay", "must be >= 0")
        if self.max_delay < self.base_delay:
            raise bad("max_delay", "must be >= base_delay")
        if self.multiplier < 1:
            raise bad("multiplier", "must be >= 1")
        if self.jitter not in _JITTERS:
            raise bad("jitter", f"must be one of {', '.join(_JITTERS)}, got {self.jitter!r}")
        if self.deadline is not None and self.deadline <= 0:
            raise bad("deadline", "must be > 0 or None")
        if self.retry_on is not None and not (callable(self.retry_on) or isinstance(self.retry_on, tuple)):
            raise bad("retry_on", "must be a predicate, an exception type or a tuple of them")
        object.__setattr__(self, "_should_retry", _predicate(self.retry_on))

    def should_retry(self, exc: BaseException) -> bool:
        """Whether ``exc`` is of a kind this policy retries (attempts and deadline aside)."""
        return self._should_retry(exc)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the ``max_attempts - 1`` backoff delays in seconds (a pure schedule).

        Args:
            rng: the random source for jitter (``random.Random(seed)`` makes it reproducible).
        """
        rand = rng.random if rng is not None else random.random
        cap = self.base_delay
        previous = self.base_delay
        for _ in range(self.max_attempts - 1):
            bounded = min(cap, self.max_delay)
            if self.jitter == "full":
                delay = bounded * rand()
            elif self.jitter == "equal":
                delay = bounded / 2 + bounded / 2 * rand()
            elif self.jitter == "decorrelated":
                high = max(self.base_delay, previous * 3)
                delay = min(self.max_delay, self.base_delay + (high - self.base_delay) * rand())
                previous = delay
            else:
                delay = bounded
            yield min(max(delay, 0.0), self.max_delay)
            cap = min(cap * self.multiplier, self.max_delay)


@final
@dataclass(frozen=True, slots=True)
class RetryAttempt:
    """What ``on_retry`` receives before each sleep.

    Attributes:
        attempt: the number of the call that failed (1 for the first call).
        error: the exception it raised.
        delay: the seconds ``retry`` is about to sleep.
        elapsed: seconds since the first call started.
    """

    attempt: int
    error: BaseException
    delay: float
    elapsed: float


class _Testing:
    __slots__ = ("attempts", "enabled", "lock")

    def __init__(self) -> None:
        self.enabled = False
        self.attempts = 1
        self.lock = threading.Lock()


_TESTING = _Testing()


def set_testing(enabled: bool = True, *, attempts: int = 1) -> None:
    """Switch every ``retry`` of the process into test mode, or back.

    In test mode at most ``attempts`` calls are made and ``retry`` never sleeps, so tests of code
    that retries run fast and deterministically.

    .. versionadded:: 0.1.0
    """
    if attempts < 1:
        raise ConfigError("attempts must be >= 1", key="attempts", code=_codes.INVALID_POLICY)
    with _TESTING.lock:
        _TESTING.enabled = enabled
        _TESTING.attempts = attempts


def is_testing() -> bool:
    """Whether ``set_testing`` test mode is on."""
    return _TESTING.enabled


@final
class RetryState:
    """The retry state machine of one call: feed it each failure, it answers with a delay or None.

    It is pure (no sleeping, no I/O): ``retry`` drives it around a function, and both HTTP clients
    drive it around their attempts, so every retry in the process follows the same rules:

    * only errors the policy retries (``RetryPolicy.retry_on``; by default a retryable
      ``InfraError``) are retried;
    * at most ``policy.max_attempts`` calls (and at most ``set_testing``'s ``attempts`` in test
      mode, where every delay is 0);
    * a ``retry_after`` on the error longer than the backoff is honoured, unless it exceeds
      ``max_retry_after`` (then the error is raised at once rather than waiting that long);
    * the idempotency gate: when ``idempotent`` is false, only errors raised before the request
      could have had an effect (``sent=False``) are retried;
    * no delay ends past the deadline (``policy.deadline`` from the start, or ``deadline_at`` on
      the clock, whichever comes first).

    When it gives up, the error gets a note (and an ``InfraError`` the context attribute
    ``attempts``) saying how many attempts were made.

    Example::

        state = RetryState(RetryPolicy(max_attempts=3), clock=clock)
        while True:
            try:
                return call()
            except Exception as exc:
                delay = state.on_error(exc)
                if delay is None:
                    raise
                clock.sleep(delay)

    Args:
        policy: the schedule and the ``retry_on`` rule.
        clock: monotonic time source (the deadline and ``RetryAttempt.elapsed``).
        rng: random source of the jitter.
        on_retry: called with a ``RetryAttempt`` before each delay is returned.
        max_retry_after: longest ``retry_after`` honoured (None: any).
        idempotent: whether a call that may have reached its target may be repeated.
        deadline_at: an absolute deadline on ``clock.monotonic()`` (None: only the policy's).
        start: when the first call started (default: now).

    .. versionadded:: 0.2.0
    """

    __slots__ = (
        "_clock",
        "_deadline_at",
        "_delays",
        "_idempotent",
        "_max_retry_after",
        "_on_retry",
        "_policy",
        "_start",
        "attempts",
    )

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_retry: Callable[[RetryAttempt], None] | None = None,
        max_retry_after: float | None = None,
        idempotent: bool = True,
        deadline_at: float | None = None,
        start: float | None = None,
    ) -> None:
        self._policy = policy if policy is not None else RetryPolicy()
        self._clock = clock
        self._delays = self._policy.delays(rng)
        self._on_retry = on_retry
        self._max_retry_after = max_retry_after
        self._idempotent = idempotent
        needs_time = self._policy.deadline is not None or on_retry is not None
        self._start = start if start is not None else (clock.monotonic() if needs_time else 0.0)
        if self._policy.deadline is not None:
            policy_deadline = self._start + self._policy.deadline
            deadline_at = policy_deadline if deadline_at is None else min(deadline_at, policy_deadline)
        self._deadline_at = deadline_at
        self.attempts = 1
        """Calls made so far (the one that just failed included)."""

    policy: readonly[RetryPolicy] = readonly("_policy", "The policy this state follows.")

    def on_error(self, exc: BaseException, now: float | None = None, *, sent: bool = True) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise ``exc``.

        Args:
            exc: what the attempt that just failed raised.
            now: the current time on the clock (read from the clock when None).
            sent: False when the request certainly had no effect (a refused connection); such
                failures are retried even when the call is not idempotent.
        """
        policy = self._policy
        attempt = self.attempts
        if not policy._should_retry(exc):
            self.give_up(exc, "not retryable")
            return None
        if not (self._idempotent or not sent):
            self.give_up(exc, "not idempotent")
            return None
        testing = _TESTING.enabled
        limit = min(policy.max_attempts, _TESTING.attempts) if testing else policy.max_attempts
        if attempt >= limit:
            self.give_up(exc, "attempts exhausted")
            return None
        delay = next(self._delays)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            if self._max_retry_after is not None and retry_after > self._max_retry_after:
                self.give_up(exc, f"retry_after {retry_after:g} s exceeds max_retry_after")
                return None
            delay = max(delay, float(retry_after))
        timed = self._deadline_at is not None or self._on_retry is not None
        if now is None and timed:
            now = self._clock.monotonic()
        elapsed = now - self._start if now is not None and timed else 0.0
        if testing:
            delay = 0.0
        elif self._deadline_at is not None and now is not None and now + delay >= self._deadline_at:
            self.give_up(exc, "the deadline would pass")
            return None
        self.attempts = attempt + 1
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "retry",
                {"retry.attempt": attempt, "retry.delay_s": delay, "exception.type": type(exc).__qualname__},
            )
        _logger.debug(
            "retrying after %s (attempt %d, sleeping %.3f s)", type(exc).__qualname__, attempt, delay
        )
        if self._on_retry is not None:
            self._on_retry(RetryAttempt(attempt, exc, delay, elapsed))
        return delay

    def give_up(self, exc: BaseException, reason: str) -> None:
        """Record on ``exc`` that the call gives up after ``attempts`` calls, and why.

        ``on_error`` calls it whenever it returns None; a driver that stops for a reason of its
        own (its deadline passed before the next attempt) calls it itself.
        """
        attempts = self.attempts
        if isinstance(exc, InfraError):
            exc.context.attributes["attempts"] = attempts
        if attempts > 1 or reason != "not retryable":
            plural = "attempt" if attempts == 1 else "attempts"
            exc.add_note(f"gave up after {attempts} {plural}: {reason}")


_POLICY_FIELDS: Final = ("max_attempts", "base_delay", "max_delay", "multiplier", "jitter", "deadline")
_ALIASES: Final = {
    "attempts": "max_attempts",
    "stop_after_attempt": "max_attempts",
    "tries": "max_attempts",
    "retries": "max_attempts",
    "timeout": "deadline",
    "wait": "base_delay",
    "delay": "base_delay",
    "backoff": "multiplier",
    "on": "retry_on",
    "retry_if": "retry_on",
    "exceptions": "retry_on",
}


def _misplaced_options(options: dict[str, object]) -> ConfigError:
    name = sorted(options)[0]
    target = _ALIASES.get(name, name)
    if target == "retry_on":
        hint = f"retry() takes retry_on=..., not {name}=..."
    elif target in _POLICY_FIELDS:
        hint = f"{name} is a RetryPolicy option: use @retry(RetryPolicy({target}=...))"
    else:
        hint = (
            f"retry() has no option {name!r}; it takes a RetryPolicy, clock, sleep, asleep, rng, "
            "on_retry and retry_on"
        )
    return ConfigError(hint, key=name, code=_codes.UNKNOWN_OPTION)


def _anyio_sleep(seconds: float) -> Awaitable[None]:
    import anyio

    return anyio.sleep(seconds)


def _delay_or_raise(state: RetryState, error: BaseException) -> float:
    """The delay before the next attempt, or ``error`` raised when the state gives up."""
    delay = state.on_error(error)
    if delay is None:
        raise error
    return delay


def retry(
    policy: RetryPolicy | None = None,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], object] | None = None,
    asleep: Callable[[float], Awaitable[object]] | None = None,
    rng: random.Random | None = None,
    on_retry: Callable[[RetryAttempt], None] | None = None,
    retry_on: RetryOn | None = None,
    **misplaced: object,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a sync or async function so that retryable errors are retried per ``policy``.

    Only errors the policy retries (by default ``InfraError`` with ``retryable`` true) are
    retried; anything else propagates at once. A ``retry_after`` on the error longer than the
    computed backoff is honoured. No sleep ends past the policy's deadline: when the next
    attempt could not start in time, the last error is re-raised. The error re-raised is always
    the original exception object, unchanged. ``BaseException`` (cancellation, interrupts) is
    never retried.

    Args:
        policy: the schedule; defaults to ``RetryPolicy()``.
        clock: monotonic time source for the deadline; a clock with ``sleep``/``asleep`` (such as
            ``FakeClock``) also provides the sleeps unless they are given.
        sleep: blocking sleep of the sync driver (default ``time.sleep``).
        asleep: sleep of the async driver (default ``anyio.sleep``).
        rng: random source for jitter.
        on_retry: called with a ``RetryAttempt`` before each sleep.
        retry_on: which errors to retry (a type, a tuple of types or a predicate); replaces the
            policy's ``retry_on``. Other ``RetryPolicy`` options (``max_attempts``, ``deadline``,
            ...) belong on the policy: ``retry(RetryPolicy(max_attempts=5))``.

    Raises:
        ConfigError: an option that belongs on ``RetryPolicy`` (the message says so), or an
            unknown one (code ``resilience.unknown_option``).

    When the call gives up, the error raised carries a note (``gave up after 3 attempts: ...``)
    and, for an ``InfraError``, the context attribute ``attempts``.

    Example::

        @retry(RetryPolicy(max_attempts=5, deadline=10.0))
        async def fetch(url: str) -> bytes: ...

    .. versionadded:: 0.1.0
    """
    if misplaced:
        raise _misplaced_options(misplaced)
    pol = policy if policy is not None else RetryPolicy()
    if not isinstance(pol, RetryPolicy):
        raise ConfigError(
            f"retry() takes a RetryPolicy, got {pol!r}: decorate with @retry() or @retry(RetryPolicy(...))",
            key="policy",
            code=_codes.INVALID_POLICY,
        )
    if retry_on is not None:
        pol = dataclasses.replace(pol, retry_on=retry_on)
    clk: Clock = clock if clock is not None else SYSTEM_CLOCK
    do_sleep: Callable[[float], object] = sleep or getattr(clock, "sleep", None) or time.sleep
    do_asleep: Callable[[float], Awaitable[object]] = asleep or getattr(clock, "asleep", None) or _anyio_sleep
    timed = pol.deadline is not None or on_retry is not None
    monotonic = clk.monotonic

    def new_state(start: float) -> RetryState:
        return RetryState(pol, clock=clk, rng=rng, on_retry=on_retry, start=start)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):
            afn: Callable[P, Coroutine[Any, Any, Any]] = fn

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = monotonic() if timed else 0.0
                try:
                    return await afn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - the policy decides what is retried
                    error: BaseException = exc
                state = new_state(start)
                while True:
                    if (delay := _delay_or_raise(state, error)) > 0:
                        await do_asleep(delay)
                    try:
                        return await afn(*args, **kwargs)
                    except Exception as exc:  # noqa: BLE001
                        error = exc

            return cast("Callable[P, R]", async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = monotonic() if timed else 0.0
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the policy decides what is retried
                error: BaseException = exc
            state = new_state(start)
            while True:
                if (delay := _delay_or_raise(state, error)) > 0:
                    do_sleep(delay)
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001
                    error = exc

        return wrapper

    return decorate
