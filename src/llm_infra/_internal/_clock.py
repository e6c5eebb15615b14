"""Clocks are parameters, never read deep inside (tests pass a fake one)."""

from __future__ import annotations

import time
from typing import Protocol, final


class Clock(Protocol):
    """A source of time: ``monotonic()`` for intervals, ``time()`` for wall-clock epochs."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        ...


@final
class SystemClock:
    """The real clock of the process."""

    __slots__ = ()

    def monotonic(self) -> float:
        """Seconds on ``time.monotonic``."""
        return time.monotonic()

    def time(self) -> float:
        """Seconds on ``time.time``."""
        return time.time()


SYSTEM_CLOCK = SystemClock()
