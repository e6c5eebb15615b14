"""ULID primitive (Crockford base32, 48-bit ms time + 80-bit randomness), monotonic per process."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_MAX = (1 << 80) - 1


_PAIRS = tuple(_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024))


def encode_ulid(v: int, t: tuple[str, ...] = _PAIRS) -> str:
    """Encode a 128-bit integer as 26 Crockford base32 characters (two per table lookup)."""
    return "".join(
        [
            t[v >> 120],
            t[(v >> 110) & 1023],
            t[(v >> 100) & 1023],
            t[(v >> 90) & 1023],
            t[(v >> 80) & 1023],
            t[(v >> 70) & 1023],
            t[(v >> 60) & 1023],
            t[(v >> 50) & 1023],
            t[(v >> 40) & 1023],
            t[(v >> 30) & 1023],
            t[(v >> 20) & 1023],
            t[(v >> 10) & 1023],
            t[v & 1023],
        ]
    )


class MonotonicMillis:
    """The lock and last (millisecond, sequence) pair of a generator of time-ordered ids."""

    __slots__ = ("_last_ms", "_last_seq", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_seq = 0

    @staticmethod
    def millis(now_ms: int | None) -> int:
        """``now_ms``, or the current Unix time in milliseconds."""
        return time.time_ns() // 1_000_000 if now_ms is None else now_ms


class UlidGenerator(MonotonicMillis):
    """Monotonic ULIDs: within one millisecond the random part is incremented.

    Thread-safe. When the 80-bit random part would overflow inside one millisecond the
    generator moves to the next millisecond (it never repeats an id).
    """

    __slots__ = ()

    def new_int(self, now_ms: int | None = None) -> int:
        """Return the next ULID as an integer."""
        ms = self.millis(now_ms)
        with self._lock:
            if ms <= self._last_ms:
                ms = self._last_ms
                rand = self._last_seq + 1
                if rand > _RANDOM_MAX:
                    ms += 1
                    rand = int.from_bytes(os.urandom(10), "big") >> 1
            else:
                # The top bit is left clear so increments have room before overflow.
                rand = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms = ms
            self._last_seq = rand
        return (ms << 80) | rand

    def new(self, now_ms: int | None = None) -> str:
        """Return the next ULID as a 26-character string."""
        return encode_ulid(self.new_int(now_ms))


DEFAULT_ULID = UlidGenerator()


def new_ulid() -> str:
    """A new monotonic ULID string from the process-wide generator."""
    return DEFAULT_ULID.new()
