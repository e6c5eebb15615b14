"""Timeouts: ``with_timeout`` for awaitables and ``Deadline`` for budgets across several steps."""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import TypeVar, final

import anyio

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import OperationTimeout

T = TypeVar("T")


@final
class Deadline:
    """A point in (monotonic) time by which an operation must finish.

    Example::

        deadline = Deadline(5.0)
        await with_timeout(connect(), deadline)          # at most what is left of 5 s
        await with_timeout(send(), deadline.cap(1.0))    # at most 1 s, and never past the deadline
        deadline.check("send")                           # OperationTimeout once it has passed

    Args:
        seconds: the budget from now; None for no deadline.
        clock: monotonic time source.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_at", "_clock")

    def __init__(self, seconds: float | None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._at = math.inf if seconds is None else clock.monotonic() + seconds

    @classmethod
    def never(cls, *, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        """A deadline that never expires."""
        return cls(None, clock=clock)

    at: readonly[float] = readonly("_at", "The monotonic time of the deadline (``inf`` for none).")

    def remaining(self) -> float:
        """Seconds left (0 once expired, ``inf`` for no deadline)."""
        return max(0.0, self._at - self._clock.monotonic())

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self._clock.monotonic() >= self._at

    def cap(self, seconds: float | None) -> float:
        """``seconds`` limited to the time remaining (the remaining time when ``seconds`` is None)."""
        remaining = self.remaining()
        return remaining if seconds is None else min(seconds, remaining)

    def check(self, operation: str | None = None) -> None:
        """Raise ``OperationTimeout`` when the deadline has passed."""
        if self.expired():
            raise OperationTimeout(f"{operation or 'operation'}: deadline exceeded", operation=operation)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f})"


async def with_timeout(
    awaitable: Awaitable[T], seconds: float | Deadline | None, *, operation: str | None = None
) -> T:
    """Await ``awaitable`` for at most ``seconds``; cancel it and raise ``OperationTimeout`` after.

    ``OperationTimeout`` is retryable (a timeout is transient). A ``TimeoutError`` raised by the
    awaitable itself passes through unchanged.

    Args:
        awaitable: what to wait for.
        seconds: the limit, a ``Deadline``, or None for no limit.
        operation: a name for the error message and ``OperationTimeout.operation``.

    .. versionadded:: 0.1.0
    """
    limit = seconds.remaining() if isinstance(seconds, Deadline) else seconds
    if limit is None or math.isinf(limit):
        return await awaitable
    with anyio.move_on_after(limit):
        return await awaitable
    raise OperationTimeout(
        f"{operation or 'operation'} timed out after {limit:.3g} s", operation=operation, duration=limit
    )
