"""``FakeClock``: time that moves only when a test says so."""

from __future__ import annotations

import threading
from typing import final


@final
class FakeClock:
    """A controllable clock satisfying ``llm_infra``'s ``Clock`` protocol.

    ``monotonic()`` and ``time()`` advance together, only through ``advance()`` or
    ``sleep()``/``asleep()`` (which advance instead of waiting), so tests need no real sleeps.

    Args:
        start: the initial monotonic reading.
        epoch: the initial wall-clock reading (seconds since the Unix epoch).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_epoch_offset", "_lock", "_now", "sleeps")

    def __init__(self, start: float = 1000.0, epoch: float = 1_800_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = float(start)
        self._epoch_offset = float(epoch) - float(start)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The current fake monotonic reading."""
        return self._now

    def time(self) -> float:
        """The current fake wall-clock reading."""
        return self._now + self._epoch_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("a FakeClock cannot go backwards; use set_time() for rollback tests")
        with self._lock:
            self._now += seconds

    def set_time(self, epoch: float) -> None:
        """Set the wall clock (it may go backwards, to test rollback handling)."""
        with self._lock:
            self._epoch_offset = float(epoch) - self._now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance instead of waiting."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        """Async twin of ``sleep``."""
        self.sleep(seconds)
