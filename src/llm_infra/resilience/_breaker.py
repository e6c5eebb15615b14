"""``CircuitBreaker``: a pure state machine (``before_call``/``record``) with sync and async drivers."""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ParamSpec, TypeAlias, TypeVar, cast, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import CircuitOpenError, ConfigError, InfraError
from llm_infra.resilience import _codes
from llm_infra.resilience._health import HealthStatus

P = ParamSpec("P")
R = TypeVar("R")

_logger = logging.getLogger("llm_infra.resilience")


class CircuitState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN

Listener: TypeAlias = Callable[["CircuitBreaker", CircuitState, CircuitState], object]
"""Called as ``listener(breaker, old_state, new_state)`` after each transition."""


def counts_as_failure(exc: BaseException) -> bool:
    """The default failure rule: a non-``InfraError``, or an ``InfraError`` that is retryable.

    Non-retryable ``InfraError`` (validation, auth, not found, ...) means the dependency
    answered; it does not trip the breaker and counts as a success.
    """
    return not isinstance(exc, InfraError) or exc.retryable


@final
class CircuitBreaker:
    """Stop calling a failing dependency for a while, then probe it.

    * **closed**: calls go through; ``failure_threshold`` consecutive failures open it.
    * **open**: calls fail at once with ``CircuitOpenError`` (``retry_after`` = seconds until a
      probe is allowed; not retryable) without calling the function.
    * **half-open** (after ``reset_timeout``): at most ``half_open_max_calls`` probes run at a
      time; ``success_threshold`` successes close the breaker, one failure reopens it.

    Only errors that ``counts`` says count trip it (default: non-``InfraError`` or retryable
    ones); other errors count as successes (the dependency answered). Cancellation and other
    ``BaseException``\\ s count as neither. Results of calls admitted before a transition are
    ignored (each admission carries a ticket), so a slow call from the closed state cannot
    close a half-open breaker.

    The core is pure: ``before_call(now)`` admits or refuses, ``record(ok, now, ticket)`` reports
    the outcome. ``call``/``acall`` and the decorator form drive it. A ``threading.Lock``
    guards the state and is never held across a call or an ``await``, so the breaker is safe
    from threads and asyncio tasks at once. Listeners run after each transition, outside the
    lock; their exceptions are logged and dropped.

    Args:
        name: the dependency's name (in errors, logs and listeners).
        failure_threshold: consecutive failures that open the breaker.
        success_threshold: half-open successes that close it.
        reset_timeout: seconds the breaker stays open before probing.
        half_open_max_calls: concurrent probes admitted while half-open.
        clock: monotonic time source (inject ``FakeClock`` in tests).
        counts: which exceptions count as failures.
        listeners: transition callbacks.

    Raises:
        ConfigError: on thresholds below 1 or a negative reset timeout.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "__weakref__",
        "_changed_at",
        "_clock",
        "_counts",
        "_failures",
        "_generation",
        "_in_flight",
        "_listeners",
        "_lock",
        "_opened_at",
        "_state",
        "_successes",
        "failure_threshold",
        "half_open_max_calls",
        "name",
        "reset_timeout",
        "success_threshold",
    )

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        success_threshold: int = 2,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Clock = SYSTEM_CLOCK,
        counts: Callable[[BaseException], bool] = counts_as_failure,
        listeners: tuple[Listener, ...] | list[Listener] = (),
    ) -> None:
        for key, value in (
            ("failure_threshold", failure_threshold),
            ("success_threshold", success_threshold),
            ("half_open_max_calls", half_open_max_calls),
        ):
            if value < 1:
                raise ConfigError(f"CircuitBreaker.{key} must be >= 1", key=key, code=_codes.INVALID_BREAKER)
        if reset_timeout < 0:
            raise ConfigError(
                "CircuitBreaker.reset_timeout must be >= 0",
                key="reset_timeout",
                code=_codes.INVALID_BREAKER,
            )
        self.name = name
        self.failure_threshold = failure_threshold
        self.success_threshold = success_threshold
        self.reset_timeout = float(reset_timeout)
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._counts = counts
        self._listeners: list[Listener] = list(listeners)
        self._lock = threading.Lock()
        self._state = _CLOSED
        self._generation = 0
        self._failures = 0
        self._successes = 0
        self._in_flight = 0
        self._opened_at = 0.0
        self._changed_at = clock.time()

    # ------------------------------------------------------------------ pure core

    def _move(self, new: CircuitState, now: float, out: list[tuple[CircuitState, CircuitState]]) -> None:
        out.append((self._state, new))
        self._state = new
        self._generation += 1
        self._failures = 0
        self._successes = 0
        self._in_flight = 0
        self._changed_at = self._clock.time()
        if new is _OPEN:
            self._opened_at = now

    def before_call(self, now: float) -> int:
        """Admit a call at time ``now`` or raise ``CircuitOpenError``; return the call's ticket.

        Pass the ticket back to ``record`` (or ``release``). May move open -> half-open.
        """
        transitions: list[tuple[CircuitState, CircuitState]] = []
        refuse: float | None = None
        with self._lock:
            state = self._state
            if state is _OPEN:
                remaining = self._opened_at + self.reset_timeout - now
                if remaining > 0:
                    refuse = remaining
                else:
                    self._move(_HALF_OPEN, now, transitions)
                    state = _HALF_OPEN
            if state is _HALF_OPEN and refuse is None:
                if self._in_flight >= self.half_open_max_calls:
                    refuse = self.reset_timeout
                else:
                    self._in_flight += 1
            ticket = self._generation
        if transitions:
            self._notify(transitions)
        if refuse is not None:
            raise CircuitOpenError(
                f"circuit {self.name!r} is open; retry in {refuse:.3g} s",
                name=self.name,
                retry_after=refuse,
            )
        return ticket

    def record(self, ok: bool, now: float, ticket: int | None = None) -> None:
        """Report the outcome of an admitted call at time ``now``.

        A ``ticket`` from an earlier state (the breaker moved since the call was admitted) is
        ignored; without a ticket the outcome applies to the current state.
        """
        transitions: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            if ticket is not None and ticket != self._generation:
                return
            state = self._state
            if state is _CLOSED:
                if ok:
                    self._failures = 0
                else:
                    self._failures += 1
                    if self._failures >= self.failure_threshold:
                        self._move(_OPEN, now, transitions)
            elif state is _HALF_OPEN:
                if self._in_flight > 0:
                    self._in_flight -= 1
                if not ok:
                    self._move(_OPEN, now, transitions)
                else:
                    self._successes += 1
                    if self._successes >= self.success_threshold:
                        self._move(_CLOSED, now, transitions)
        if transitions:
            self._notify(transitions)

    def release(self, ticket: int) -> None:
        """Give back an admission whose call ended without an outcome (e.g. cancelled)."""
        with self._lock:
            if ticket == self._generation and self._state is _HALF_OPEN and self._in_flight > 0:
                self._in_flight -= 1

    # ------------------------------------------------------------------ listeners and state

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(breaker, old, new)`` after every transition."""
        self._listeners.append(listener)

    def _notify(self, transitions: list[tuple[CircuitState, CircuitState]]) -> None:
        for old, new in transitions:
            level = logging.WARNING if new is _OPEN else logging.INFO
            _logger.log(level, "circuit %r: %s -> %s", self.name, old, new)
            for listener in tuple(self._listeners):
                try:
                    listener(self, old, new)
                except Exception:  # a listener must not break the caller's call
                    _logger.exception("circuit %r: listener %r failed", self.name, listener)

    state: readonly[CircuitState] = readonly(
        "_state", "The current state (open -> half-open happens on the first call after ``reset_timeout``)."
    )

    failure_count: readonly[int] = readonly("_failures", "Consecutive failures counted in the closed state.")

    def retry_after(self, now: float | None = None) -> float:
        """Seconds until an open breaker admits a probe (0 when not open)."""
        if self._state is not _OPEN:
            return 0.0
        at = self._clock.monotonic() if now is None else now
        return max(0.0, self._opened_at + self.reset_timeout - at)

    def reset(self) -> None:
        """Force the breaker closed (an operator action)."""
        transitions: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            if self._state is not _CLOSED:
                self._move(_CLOSED, self._clock.monotonic(), transitions)
            self._failures = 0
        if transitions:
            self._notify(transitions)

    def health(self) -> HealthStatus:
        """closed -> healthy, half-open -> degraded, open -> unhealthy."""
        state = self._state
        if state is _CLOSED:
            return HealthStatus.healthy()
        since = datetime.fromtimestamp(self._changed_at, UTC)
        if state is _HALF_OPEN:
            return HealthStatus.degraded(f"circuit {self.name} is half-open (probing)", since)
        return HealthStatus.unhealthy(f"circuit {self.name} is open", since)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value})"

    # ------------------------------------------------------------------ drivers

    def _closed_failure(self, exc: BaseException, ticket: int) -> None:
        if self._counts(exc):
            self.record(False, self._clock.monotonic(), ticket)
        elif self._failures:
            self.record(True, 0.0, ticket)

    @contextmanager
    def _admitted(self) -> Iterator[None]:
        """The guarded (not closed) path of a call: admit it or raise, then record its outcome."""
        clock = self._clock
        ticket = self.before_call(clock.monotonic())
        try:
            yield
        except Exception as exc:
            self.record(not self._counts(exc), clock.monotonic(), ticket)
            raise
        except BaseException:
            self.release(ticket)
            raise
        self.record(True, clock.monotonic(), ticket)

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` through the breaker.

        Raises:
            CircuitOpenError: when the breaker refuses the call (``fn`` is not called).
        """
        ticket = self._generation
        if self._state is _CLOSED:
            # Fast path: no lock and no clock read unless something fails.
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                self._closed_failure(exc, ticket)
                raise
            if self._failures:
                self.record(True, 0.0, ticket)
            return result
        with self._admitted():
            return fn(*args, **kwargs)

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` through the breaker (async twin of ``call``)."""
        ticket = self._generation
        if self._state is _CLOSED:
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                self._closed_failure(exc, ticket)
                raise
            if self._failures:
                self.record(True, 0.0, ticket)
            return result
        with self._admitted():
            return await fn(*args, **kwargs)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Use the breaker as a decorator of a sync or async function."""
        if inspect.iscoroutinefunction(fn):
            afn: Callable[P, Coroutine[Any, Any, Any]] = fn

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.acall(afn, *args, **kwargs)

            return cast("Callable[P, R]", async_wrapper)

        call = self.call

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            # The closed-state fast path of ``call``, inlined to save a call frame per use.
            ticket = self._generation
            if self._state is _CLOSED:
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    self._closed_failure(exc, ticket)
                    raise
                if self._failures:
                    self.record(True, 0.0, ticket)
                return result
            return call(fn, *args, **kwargs)

        return wrapper


def circuit(
    name: str,
    *,
    failure_threshold: int = 5,
    success_threshold: int = 2,
    reset_timeout: float = 30.0,
    half_open_max_calls: int = 1,
    clock: Clock = SYSTEM_CLOCK,
    counts: Callable[[BaseException], bool] = counts_as_failure,
) -> CircuitBreaker:
    """Create a ``CircuitBreaker`` to use as a decorator: ``@circuit("search", failure_threshold=3)``.

    The returned breaker is the decorator; keep a reference to read its ``state``.

    .. versionadded:: 0.1.0
    """
    return CircuitBreaker(
        name,
        failure_threshold=failure_threshold,
        success_threshold=success_threshold,
        reset_timeout=reset_timeout,
        half_open_max_calls=half_open_max_calls,
        clock=clock,
        counts=counts,
    )
