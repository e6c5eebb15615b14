"""``SecurityAuditLog``: log every event synchronously, buffer it (bounded) for the sinks."""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import final

from opentelemetry import metrics

from llm_infra._internal._attrs import AsyncClosing, Closing, readonly
from llm_infra.audit import _codes as codes
from llm_infra.audit import _fallback as fallback
from llm_infra.audit._chain import HashChainedFileSink, key_bytes
from llm_infra.audit._events import SecurityEvent
from llm_infra.audit._sinks import AuditSink, encode_event
from llm_infra.errors import ConfigError, InfraError, ValidationError
from llm_infra.fs._atomic import io_error
from llm_infra.resilience import RetryPolicy
from llm_infra.secrets import Secret

AUDIT_LOGGER = "security_audit"
"""Name of the ``logging`` logger every event is written to when it is recorded."""

logging.getLogger(AUDIT_LOGGER).addHandler(logging.NullHandler())

_meter = metrics.get_meter("llm_infra.audit")
_events_counter = _meter.create_counter("llm_infra.audit.events", description="security events recorded")
_overflow_counter = _meter.create_counter(
    "llm_infra.audit.overflow", description="events that found the audit buffer full"
)
_spilled_counter = _meter.create_counter(
    "llm_infra.audit.spilled", description="events written to the fallback file instead of a sink"
)
_lost_counter = _meter.create_counter(
    "llm_infra.audit.lost", description="events neither persisted nor spilled"
)
_sink_error_counter = _meter.create_counter("llm_infra.audit.sink_errors", description="failed sink writes")
_quarantined_counter = _meter.create_counter(
    "llm_infra.audit.quarantined", description="fallback lines that did not authenticate (never replayed)"
)


def _sink_error_retryable(exc: BaseException) -> bool:
    """Retry foreign exceptions and retryable InfraErrors; a non-retryable InfraError spills at once."""
    return not isinstance(exc, InfraError) or exc.retryable


DEFAULT_RETRY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=1.0, retry_on=_sink_error_retryable)
"""Retry policy for a failing sink before its batch is spilled to the fallback file."""


@final
@dataclass(frozen=True, slots=True)
class AuditStats:
    """Counters of a ``SecurityAuditLog`` since it was created.

    Attributes:
        logged: events recorded (each was logged to ``security_audit``).
        buffered: events waiting for the sinks right now.
        delivered: (event, sink) deliveries that succeeded.
        overflowed: events that found the buffer full (spilled, or lost without a fallback file).
        spilled: (event, sink) pairs written to the fallback file.
        lost: (event, sink) pairs neither delivered nor spilled (no or broken fallback file).
        sink_errors: failed sink writes (each attempt).
        retries: sink writes retried.
        replayed: (event, sink) pairs delivered from the fallback file by ``replay_fallback``.
        quarantined: fallback lines that did not authenticate, moved to the quarantine file.

    .. versionadded:: 0.1.0
    """

    logged: int
    buffered: int
    delivered: int
    overflowed: int
    spilled: int
    lost: int
    sink_errors: int
    retries: int
    replayed: int
    quarantined: int = 0


_COUNTERS = (
    "logged",
    "delivered",
    "overflowed",
    "spilled",
    "lost",
    "sink_errors",
    "retries",
    "replayed",
    "quarantined",
)


def _pick_fallback_key(
    key: bytes | str | Secret[bytes] | Secret[str] | None, sinks: Sequence[AuditSink]
) -> Secret[bytes]:
    if key is not None:
        return key_bytes(key)
    for sink in sinks:
        if isinstance(sink, HashChainedFileSink):
            return sink._key
    return fallback.PROCESS_KEY


def _flush_at_exit(ref: weakref.ref[SecurityAuditLog]) -> None:
    log = ref()
    if log is not None:
        log.close()


def _error_code(exc: BaseException) -> str:
    return exc.code if isinstance(exc, InfraError) else type(exc).__name__


@final
class SecurityAuditLog(Closing, AsyncClosing):
    """The security audit trail.

    ``log(event)`` writes the event as one JSON line to the ``security_audit`` logger *before*
    returning (so it is never only in memory), then appends it to a bounded buffer for the sinks.
    A background thread flushes the buffer every ``flush_interval`` seconds, or sooner when it is
    half full; ``flush()``/``aflush()`` flush on demand. Neither ``log`` nor ``alog`` ever waits
    for a sink.

    A failing sink is retried (``retry``); if it still fails, that batch is appended to the
    ``fallback_path`` JSONL file for that sink (``replay_fallback()`` delivers it later), so the
    events are not lost and other sinks are not held up. When the buffer is full, new events go
    straight to the fallback file and are counted in ``stats().overflowed``; the buffer never
    grows past ``buffer_size``. Without a fallback file, such events are logged at ERROR with
    their full JSON and counted in ``lost``.

    Every line of the fallback file carries an HMAC (``fallback_key``); ``replay_fallback``
    delivers only lines that verify and moves the others to ``<fallback_path>.quarantine``
    (counted in ``stats().quarantined``, the ``llm_infra.audit.quarantined`` metric, and logged
    at ERROR without their content), so an edited or invented line never becomes a trusted
    record.

    Args:
        sinks: where events are persisted. With no sinks, events are only logged.
        buffer_size: maximum number of buffered events.
        flush_interval: seconds between background flushes; None disables the background
            thread (call ``flush`` yourself).
        retry: retry policy for a failing sink write.
        fallback_path: JSONL file for events a sink could not take (mode 0600).
        fallback_key: HMAC key (32 bytes or more) authenticating the fallback file's lines. By
            default the key of the first ``HashChainedFileSink`` among ``sinks``; without one, a
            random key of this process (lines spilled by an earlier process are then quarantined
            on replay: pass a key to replay across restarts).
        logger: the logger (or its name) events are logged to.
        sleep: blocking sleep used between retries (inject ``FakeClock.sleep`` in tests).
        asleep: async sleep used between retries by ``aflush``.
        rng: randomness for retry jitter.

    Raises:
        ConfigError: an option is out of range (code ``audit.invalid_option``).

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "__weakref__",
        "_asleep",
        "_atexit",
        "_buf_lock",
        "_buffer",
        "_buffer_size",
        "_closed",
        "_counts",
        "_fallback",
        "_fallback_key",
        "_finished",
        "_flush_interval",
        "_flush_lock",
        "_logger",
        "_overflow_reported",
        "_retry",
        "_rng",
        "_sinks",
        "_sleep",
        "_spill_lock",
        "_stop",
        "_threshold",
        "_wake",
        "_worker",
    )

    def __init__(
        self,
        sinks: Iterable[AuditSink] = (),
        *,
        buffer_size: int = 10_000,
        flush_interval: float | None = 1.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        fallback_path: str | os.PathLike[str] | None = None,
        fallback_key: bytes | str | Secret[bytes] | Secret[str] | None = None,
        logger: logging.Logger | str = AUDIT_LOGGER,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ConfigError(
                "buffer_size must be a positive int", key="buffer_size", code=codes.INVALID_OPTION
            )
        if flush_interval is not None and (
            isinstance(flush_interval, bool)
            or not isinstance(flush_interval, int | float)
            or flush_interval <= 0
        ):
            raise ConfigError(
                "flush_interval must be a positive number of seconds or None",
                key="flush_interval",
                code=codes.INVALID_OPTION,
            )
        self._sinks: tuple[AuditSink, ...] = tuple(sinks)
        names = [s.name for s in self._sinks]
        if len(set(names)) != len(names):
            raise ConfigError(
                "every audit sink needs a distinct name (spilled events are routed by name)",
                key="sinks",
                code=codes.INVALID_OPTION,
            )
        self._buffer_size = buffer_size
        self._threshold = max(1, buffer_size // 2)
        self._flush_interval = None if flush_interval is None else float(flush_interval)
        self._retry = retry
        self._fallback = None if fallback_path is None else Path(fallback_path)
        self._fallback_key = _pick_fallback_key(fallback_key, self._sinks)
        self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._sleep = sleep
        self._asleep = asleep
        self._rng = rng or random.Random()
        self._buffer: deque[SecurityEvent] = deque()
        self._buf_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._spill_lock = threading.Lock()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._overflow_reported = False
        self._closed = False
        self._finished = False
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._atexit: Callable[[], None] | None = None

    # -- recording ---------------------------------------------------------------------------

    def log(self, event: SecurityEvent) -> None:
        """Record ``event``: log it now, buffer it for the sinks. Never waits for a sink.

        Raises:
            ValidationError: ``event`` is not a ``SecurityEvent`` (code ``audit.invalid_event``).
        """
        if not isinstance(event, SecurityEvent):
            raise ValidationError(
                "only SecurityEvent instances can be audited",
                field="event",
                expected="SecurityEvent",
                actual=type(event).__name__,
                code=codes.INVALID_EVENT,
            )
        self._logger.log(event.level, "%s", encode_event(event).decode(), extra={"audit_event": event})
        _events_counter.add(1, {"type": event.event_type})
        overflow = closed = False
        with self._buf_lock:
            self._counts["logged"] += 1
            if not self._sinks:
                return
            if self._closed:
                closed = True
            elif len(self._buffer) >= self._buffer_size:
                overflow = True
                self._counts["overflowed"] += 1
                report = not self._overflow_reported
                self._overflow_reported = True
            else:
                self._buffer.append(event)
                due = len(self._buffer) >= self._threshold
        if closed:
            self._spill([event], "*", "closed")
            return
        if overflow:
            _overflow_counter.add(1)
            if report:
                self._logger.warning(
                    "audit buffer full (%d events): new events go to the fallback file until a flush",
                    self._buffer_size,
                )
            self._spill([event], "*", "overflow")
            self._wake.set()
            self._ensure_worker()
            return
        if due:
            self._wake.set()
        self._ensure_worker()

    async def alog(self, event: SecurityEvent) -> None:
        """Async twin of ``log`` (it never awaits a sink either)."""
        self.log(event)

    # -- flushing ------------------------------------------------------------------------------

    def _take(self) -> list[SecurityEvent]:
        with self._buf_lock:
            batch = list(self._buffer)
            self._buffer.clear()
            self._overflow_reported = False
            return batch

    def _count(self, name: str, n: int = 1) -> None:
        with self._buf_lock:
            self._counts[name] += n

    def _delays(self) -> list[float]:
        return list(self._retry.delays(rng=self._rng))

    def _failed(self, sink: AuditSink, exc: Exception, attempt: int) -> None:
        self._count("sink_errors")
        _sink_error_counter.add(1, {"sink": sink.name})
        self._logger.warning(
            "audit sink %r write failed (attempt %d): %s", sink.name, attempt, _error_code(exc)
        )

    def _give_up(self, sink: AuditSink, batch: Sequence[SecurityEvent]) -> None:
        self._logger.error(
            "audit sink %r is failing; %d events go to the fallback file", sink.name, len(batch)
        )
        self._spill(batch, sink.name, "sink_failed")

    def _deliver(self, sink: AuditSink, batch: Sequence[SecurityEvent]) -> None:
        delays = self._delays()
        for attempt in range(len(delays) + 1):
            try:
                sink.write(batch)
            except Exception as exc:  # noqa: BLE001 - a sink failure must never reach the caller
                self._failed(sink, exc, attempt + 1)
                if attempt >= len(delays) or not self._retry.should_retry(exc):
                    break
                self._count("retries")
                self._sleep(delays[attempt])
            else:
                self._count("delivered", len(batch))
                return
        self._give_up(sink, batch)

    async def _adeliver(self, sink: AuditSink, batch: Sequence[SecurityEvent]) -> None:
        delays = self._delays()
        for attempt in range(len(delays) + 1):
            try:
                await sink.awrite(batch)
            except Exception as exc:  # noqa: BLE001 - a sink failure must never reach the caller
                self._failed(sink, exc, attempt + 1)
                if attempt >= len(delays) or not self._retry.should_retry(exc):
                    break
                self._count("retries")
                if self._asleep is not None:
                    await self._asleep(delays[attempt])
                else:
                    import anyio

                    await anyio.sleep(delays[attempt])
            else:
                self._count("delivered", len(batch))
                return
        self._give_up(sink, batch)

    def flush(self) -> int:
        """Deliver every buffered event to every sink (retrying, then spilling failures).

        Returns:
            The number of events taken from the buffer.
        """
        with self._flush_lock:
            batch = self._take()
            if batch:
                for sink in self._sinks:
                    self._deliver(sink, batch)
            return len(batch)

    async def aflush(self) -> int:
        """Async twin of ``flush``, using each sink's ``awrite``."""
        if not self._flush_lock.acquire(blocking=False):
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._flush_lock.acquire)
        try:
            batch = self._take()
            if batch:
                for sink in self._sinks:
                    await self._adeliver(sink, batch)
            return len(batch)
        finally:
            self._flush_lock.release()

    # -- fallback file -------------------------------------------------------------------------

    def _spill(self, events: Sequence[SecurityEvent], sink: str, reason: str) -> None:
        n_pairs = len(events) * (len(self._sinks) if sink == "*" else 1)
        if self._fallback is not None:
            data = fallback.encode_lines(self._fallback_key, events, sink, reason)
            try:
                with self._spill_lock:
                    fallback.append(self._fallback, data)
            except OSError:
                self._logger.exception("cannot write the audit fallback file %s", self._fallback)
            else:
                self._count("spilled", n_pairs)
                _spilled_counter.add(n_pairs)
                return
        self._count("lost", n_pairs)
        _lost_counter.add(n_pairs)
        for event in events:
            self._logger.error(
                "audit event not persisted to sink %r (%s): %s", sink, reason, encode_event(event).decode()
            )

    def replay_fallback(self) -> int:
        """Deliver the events of the fallback file to their sinks; keep only what still fails.

        Lines whose HMAC does not verify are moved to ``<fallback_path>.quarantine`` and
        counted in ``stats().quarantined``, never delivered. Authenticated lines for unknown
        sinks are kept. The file keeps mode 0600 through the rewrite.

        Returns:
            The number of (event, sink) pairs delivered.

        Raises:
            IoError: the fallback or quarantine file cannot be written.
        """
        if self._fallback is None:
            return 0
        with self._flush_lock, self._spill_lock:
            try:
                lines = self._fallback.read_bytes().splitlines(keepends=True)
            except FileNotFoundError:
                return 0
            good, bad = fallback.parse(self._fallback_key, lines)
            if bad:
                self._quarantine(lines, bad)
            by_name = {s.name: s for s in self._sinks}
            pending: dict[str, list[tuple[int, SecurityEvent]]] = {}
            keep: set[int] = set()
            for item in good:
                names = list(by_name) if item.sink == "*" else [item.sink]
                if not names or any(name not in by_name for name in names):
                    keep.add(item.index)
                    continue
                for name in names:
                    pending.setdefault(name, []).append((item.index, item.event))
            delivered = 0
            for name, items in pending.items():
                try:
                    by_name[name].write([event for _, event in items])
                except Exception as exc:  # noqa: BLE001 - keep the lines and report
                    self._failed(by_name[name], exc, 1)
                    keep.update(index for index, _ in items)
                else:
                    delivered += len(items)
            fallback.rewrite(self._fallback, lines, keep)
            self._count("replayed", delivered)
            return delivered

    def _quarantine(self, lines: Sequence[bytes], bad: Sequence[int]) -> None:
        target = fallback.quarantine_path(self._fallback or Path())
        data = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in (lines[i] for i in bad))
        try:
            fallback.append(target, data)
        except OSError as exc:
            raise io_error(exc, "write", target) from exc
        self._count("quarantined", len(bad))
        _quarantined_counter.add(len(bad))
        self._logger.error(
            "audit fallback file %s: %d line(s) failed authentication (edited, invented or written "
            "with another key); moved to %s and not replayed",
            self._fallback,
            len(bad),
            target,
        )

    # -- background flushing and lifecycle -----------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is not None or self._flush_interval is None or self._closed:
            return
        with self._buf_lock:
            if self._worker is not None or self._closed:
                return
            self._worker = threading.Thread(target=self._run, name="llm-infra-audit-flush", daemon=True)
            ref = weakref.ref(self)
            self._atexit = lambda: _flush_at_exit(ref)
            atexit.register(self._atexit)
            self._worker.start()

    def start(self) -> None:
        """Start the background flusher now (it otherwise starts on the first ``log``)."""
        self._ensure_worker()

    def _run(self) -> None:
        interval = self._flush_interval
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # pragma: no cover - flush contains sink failures itself
                self._logger.exception("audit background flush failed")

    def _stop_worker(self, timeout: float | None) -> None:
        with self._buf_lock:
            self._closed = True
            worker = self._worker
        self._stop.set()
        self._wake.set()
        if worker is not None:
            worker.join(timeout)
        self._worker = None
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the background flusher, flush what is left and close the sinks.

        Events logged afterwards are still logged, and go to the fallback file.
        """
        if self._finished:
            return
        self._finished = True
        self._stop_worker(timeout)
        self.flush()
        for sink in self._sinks:
            try:
                sink.close()
            except Exception:
                self._logger.warning("audit sink %r failed to close", sink.name, exc_info=True)

    async def aclose(self) -> None:
        """Async twin of ``close`` (flushes with ``aflush``)."""
        import anyio.to_thread

        if self._finished:
            return
        self._finished = True
        await anyio.to_thread.run_sync(self._stop_worker, 30.0)
        await self.aflush()
        for sink in self._sinks:
            closer = getattr(sink, "aclose", None)
            try:
                if closer is not None:
                    await closer()
                else:
                    sink.close()
            except Exception:
                self._logger.warning("audit sink %r failed to close", sink.name, exc_info=True)

    # -- introspection -------------------------------------------------------------------------

    sinks: readonly[tuple[AuditSink, ...]] = readonly("_sinks", "The configured sinks.")

    def stats(self) -> AuditStats:
        """A snapshot of the counters (see ``AuditStats``)."""
        with self._buf_lock:
            return AuditStats(buffered=len(self._buffer), **self._counts)

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self._sinks)
        return f"SecurityAuditLog(sinks=[{names}], buffer_size={self._buffer_size})"
