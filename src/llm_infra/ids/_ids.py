"""Identifier generators: UUIDv4, UUIDv7, ULID, NanoID, Snowflake and error ids.

Every generator is thread-safe. The time-ordered ones (UUIDv7, ULID, Snowflake) are monotonic
within the process: two ids made one after the other compare in creation order, even within one
millisecond or when the wall clock steps back a little.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra._internal._ulid import DEFAULT_ULID, MonotonicMillis, encode_ulid
from llm_infra.errors import ConfigError, InfraError
from llm_infra.ids import _codes

# --------------------------------------------------------------------------- UUIDv4


def uuid4() -> str:
    """A random (version 4) UUID in canonical 36-character form.

    .. versionadded:: 0.1.0
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    return _hyphenate(raw.hex())


def _hyphenate(h: str) -> str:
    """32 hex digits in the canonical 8-4-4-4-12 UUID form."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --------------------------------------------------------------------------- UUIDv7

_COUNTER_BITS = 42  # 12 bits of rand_a + the top 30 bits of rand_b (RFC 9562 §6.2, method 1)
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_COUNTER_SEED_MASK = (1 << (_COUNTER_BITS - 1)) - 1  # top bit clear: room for increments
_UUID7_VERSION_VARIANT = (0x7 << 76) | (0b10 << 62)


def _format_uuid(value: int) -> str:
    return _hyphenate(f"{value:032x}")


class _Uuid7Generator(MonotonicMillis):
    """UUIDv7 with a 42-bit counter seeded randomly each millisecond (RFC 9562 §6.2 method 1).

    When the counter would overflow, or the clock steps backwards, the timestamp of the previous
    id is reused or bumped by one millisecond, so ids never go backwards within the process.
    """

    __slots__ = ()

    def new_int(self, now_ms: int | None = None) -> int:
        ms = self.millis(now_ms)
        tail = os.urandom(10)
        with self._lock:
            if ms > self._last_ms:
                counter = int.from_bytes(tail[4:10], "big") & _COUNTER_SEED_MASK
            else:
                ms = self._last_ms
                counter = self._last_seq + 1
                if counter > _COUNTER_MAX:
                    ms += 1
                    counter = int.from_bytes(tail[4:10], "big") & _COUNTER_SEED_MASK
            self._last_ms = ms
            self._last_seq = counter
        rand = int.from_bytes(tail[:4], "big")
        return (
            ((ms & 0xFFFF_FFFF_FFFF) << 80)
            | _UUID7_VERSION_VARIANT
            | ((counter >> 30) << 64)
            | ((counter & 0x3FFF_FFFF) << 32)
            | rand
        )

    def new(self, now_ms: int | None = None) -> str:
        return _format_uuid(self.new_int(now_ms))


_UUID7 = _Uuid7Generator()


def uuid7() -> str:
    """A time-ordered (version 7, RFC 9562) UUID in canonical 36-character form.

    The first 48 bits are the Unix time in milliseconds; a 42-bit counter seeded at random each
    millisecond keeps ids made within one millisecond in creation order; 32 bits are random.
    Ids from one process sort (as strings, too) in creation order.

    .. versionadded:: 0.1.0
    """
    return _UUID7.new()


# --------------------------------------------------------------------------- ULID


def ulid() -> str:
    """A ULID: 26 Crockford base32 characters, 48-bit millisecond time + 80 random bits.

    Monotonic within a millisecond (the random part is incremented), and shares one stream with
    the ``error_id`` of ``InfraError`` contexts, so error ids and these ids never collide.

    .. versionadded:: 0.1.0
    """
    return encode_ulid(DEFAULT_ULID.new_int())


def new_error_id() -> str:
    """A new error id: a ULID, in the same format as ``InfraError().context.error_id``.

    .. versionadded:: 0.1.0
    """
    return encode_ulid(DEFAULT_ULID.new_int())


# --------------------------------------------------------------------------- NanoID

NANOID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
"""The URL-safe 64-character alphabet of NanoID."""

# Every byte maps to alphabet[byte & 63]: 256 is a multiple of 64, so each symbol is equally likely.
_NANOID_TABLE = bytes(NANOID_ALPHABET.encode("ascii")[b & 63] for b in range(256))


def nanoid(size: int = 21, *, alphabet: str | None = None) -> str:
    """A random URL-safe id of ``size`` characters (21 gives about 126 bits of randomness).

    Args:
        size: number of characters, 1 or more.
        alphabet: custom alphabet of 2 to 256 distinct characters; symbols are drawn without
            modulo bias (rejection sampling). Defaults to ``NANOID_ALPHABET``.

    Raises:
        ConfigError: on a size below 1 or an invalid alphabet.

    .. versionadded:: 0.1.0
    """
    if size < 1:
        raise ConfigError(f"nanoid size must be >= 1, got {size}", key="size", code=_codes.INVALID_SIZE)
    if alphabet is None:
        return os.urandom(size).translate(_NANOID_TABLE).decode("ascii")
    return _nanoid_custom(size, alphabet)


def _nanoid_custom(size: int, alphabet: str) -> str:
    n = len(alphabet)
    if not 2 <= n <= 256 or len(set(alphabet)) != n:
        raise ConfigError(
            "nanoid alphabet must have 2 to 256 distinct characters",
            key="alphabet",
            code=_codes.INVALID_ALPHABET,
        )
    mask = (1 << (n - 1).bit_length()) - 1
    out: list[str] = []
    while len(out) < size:
        for byte in os.urandom(2 * size):
            index = byte & mask
            if index < n:
                out.append(alphabet[index])
                if len(out) == size:
                    break
    return "".join(out)


# --------------------------------------------------------------------------- Snowflake

DEFAULT_SNOWFLAKE_EPOCH_MS = 1_704_067_200_000
"""2024-01-01T00:00:00Z, the default Snowflake epoch."""

_TIMESTAMP_BITS = 41
_WORKER_BITS = 10
_SEQUENCE_BITS = 12
_MAX_WORKER = (1 << _WORKER_BITS) - 1
_MAX_SEQUENCE = (1 << _SEQUENCE_BITS) - 1
_MAX_TIMESTAMP = (1 << _TIMESTAMP_BITS) - 1
_MAX_WAIT_ROUNDS = 10_000


class SnowflakeParts(NamedTuple):
    """The fields of a Snowflake id."""

    timestamp_ms: int
    """Unix time of the id in milliseconds."""
    worker_id: int
    sequence: int


@final
class Snowflake:
    """64-bit time-ordered ids: 41 bits of milliseconds since ``epoch_ms``, 10 of worker, 12 of sequence.

    Up to 4096 ids per millisecond per worker; the 4097th waits for the next millisecond (a
    sequence that wrapped around would repeat ids). Ids fit a signed
    64-bit integer until about 69 years after the epoch.

    Clock rollback: when the wall clock steps back by at most ``max_rollback_ms`` (default 10 ms,
    the size of an NTP slew step), ``next_id`` waits until the clock has caught up with the last
    id; a larger step raises ``InfraError`` with code ``ids.clock_rollback`` (retryable, with
    ``retry_after`` set to the size of the step) rather than risk duplicates or block for long.

    Args:
        worker_id: 0 to 1023, unique among the processes that share an id space.
        epoch_ms: the custom epoch in Unix milliseconds (default 2024-01-01T00:00:00Z).
        clock: time source (its ``time()`` is read); inject ``FakeClock`` in tests.
        sleep: how to wait; defaults to ``clock.sleep`` when the clock has one, else ``time.sleep``.
        max_rollback_ms: the largest backwards clock step that is waited out instead of refused.

    Raises:
        ConfigError: on a worker id outside 0..1023, a negative epoch or rollback tolerance.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_clock",
        "_epoch_ms",
        "_last_ms",
        "_lock",
        "_max_rollback_ms",
        "_sequence",
        "_sleep",
        "_worker",
    )

    def __init__(
        self,
        worker_id: int,
        *,
        epoch_ms: int = DEFAULT_SNOWFLAKE_EPOCH_MS,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] | None = None,
        max_rollback_ms: int = 10,
    ) -> None:
        if not 0 <= worker_id <= _MAX_WORKER:
            raise ConfigError(
                f"worker_id must be in 0..{_MAX_WORKER}, got {worker_id}",
                key="worker_id",
                code=_codes.INVALID_WORKER,
            )
        if epoch_ms < 0:
            raise ConfigError("epoch_ms must be >= 0", key="epoch_ms", code=_codes.INVALID_EPOCH)
        if max_rollback_ms < 0:
            raise ConfigError(
                "max_rollback_ms must be >= 0", key="max_rollback_ms", code=_codes.INVALID_ROLLBACK
            )
        self._worker = worker_id
        self._epoch_ms = epoch_ms
        self._clock = clock
        clock_sleep = getattr(clock, "sleep", None)
        self._sleep: Callable[[float], None] = sleep or (clock_sleep if callable(clock_sleep) else time.sleep)
        self._max_rollback_ms = max_rollback_ms
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    worker_id: readonly[int] = readonly("_worker", "This generator's worker id.")

    epoch_ms: readonly[int] = readonly("_epoch_ms", "The custom epoch in Unix milliseconds.")

    def _now_ms(self) -> int:
        return int(self._clock.time() * 1000)

    def _wait_until(self, target_ms: int) -> int:
        for _ in range(_MAX_WAIT_ROUNDS):
            now = self._now_ms()
            if now >= target_ms:
                return now
            self._sleep((target_ms - now) / 1000)
        raise InfraError(
            "the clock did not advance while waiting for the next millisecond",
            code=_codes.CLOCK_STALLED,
            retryable=True,
        )

    def next_id(self) -> int:
        """Return the next id.

        Raises:
            InfraError: ``ids.clock_rollback`` when the clock stepped back by more than
                ``max_rollback_ms``; ``ids.clock_before_epoch`` / ``ids.timestamp_overflow`` when
                the time is outside the 41-bit range of the epoch.
        """
        with self._lock:
            now = self._now_ms()
            last = self._last_ms
            if now < last:
                step = last - now
                if step > self._max_rollback_ms:
                    raise InfraError(
                        f"the clock moved backwards by {step} ms; refusing to generate ids",
                        code=_codes.CLOCK_ROLLBACK,
                        retry_after=step / 1000,
                        retryable=True,
                        remediation=["Check the host's time synchronisation (NTP)."],
                    )
                now = self._wait_until(last)
            if now == last:
                sequence = (self._sequence + 1) & _MAX_SEQUENCE
                if sequence == 0:
                    now = self._wait_until(last + 1)
            else:
                sequence = 0
            elapsed = now - self._epoch_ms
            if elapsed < 0:
                raise InfraError("the clock is before the Snowflake epoch", code=_codes.CLOCK_BEFORE_EPOCH)
            if elapsed > _MAX_TIMESTAMP:
                raise InfraError("the 41-bit Snowflake timestamp overflowed", code=_codes.TIMESTAMP_OVERFLOW)
            self._last_ms = now
            self._sequence = sequence
        return (elapsed << (_WORKER_BITS + _SEQUENCE_BITS)) | (self._worker << _SEQUENCE_BITS) | sequence

    def parts(self, snowflake_id: int) -> SnowflakeParts:
        """Split an id made with this generator's epoch into its fields."""
        return SnowflakeParts(
            timestamp_ms=(snowflake_id >> (_WORKER_BITS + _SEQUENCE_BITS)) + self._epoch_ms,
            worker_id=(snowflake_id >> _SEQUENCE_BITS) & _MAX_WORKER,
            sequence=snowflake_id & _MAX_SEQUENCE,
        )

    def __repr__(self) -> str:
        return f"Snowflake(worker_id={self._worker}, epoch_ms={self._epoch_ms})"
