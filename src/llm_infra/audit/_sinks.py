"""The ``AuditSink`` protocol and the simple sinks: memory, stream (stdout) and ``logging``."""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import IO, Protocol, TypeVar, final, runtime_checkable

from llm_infra._internal._attrs import readonly
from llm_infra.audit import _codes as codes
from llm_infra.audit._events import SecurityEvent
from llm_infra.errors import ConfigError

E = TypeVar("E", bound=SecurityEvent)


@runtime_checkable
class AuditSink(Protocol):
    """Where a ``SecurityAuditLog`` persists its buffered events.

    ``write`` must either persist the whole batch or raise; it may be called again with the
    same events after a failure, so writes should be idempotent by ``event_id`` where the
    backend allows it. ``awrite`` is the async twin.

    .. versionadded:: 0.1.0
    """

    @property
    def name(self) -> str:
        """A stable name, used to route spilled events back to this sink."""
        ...

    def write(self, events: Sequence[SecurityEvent]) -> None:
        """Persist ``events`` (in order) or raise."""
        ...

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        """Async twin of ``write``."""
        ...

    def close(self) -> None:
        """Release resources; further writes may fail."""
        ...


def encode_event(event: SecurityEvent) -> bytes:
    """One compact JSON document (no newline) for ``event``."""
    from llm_infra.json import dumps

    return dumps(event.to_dict())


@final
class MemoryAuditSink:
    """Keeps the most recent events in memory (bounded; for tests and small tools).

    Args:
        max_events: how many events to keep; older ones are dropped and counted in ``dropped``.
        name: the sink's name.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_events", "_lock", "_name", "dropped")

    def __init__(self, max_events: int = 10_000, *, name: str = "memory") -> None:
        if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
            raise ConfigError(
                "max_events must be a positive int", key="max_events", code=codes.INVALID_OPTION
            )
        self._events: deque[SecurityEvent] = deque(maxlen=max_events)
        self._lock = threading.Lock()
        self._name = name
        self.dropped = 0

    name: readonly[str] = readonly("_name", "The sink's name.")

    @property
    def events(self) -> list[SecurityEvent]:
        """A copy of the kept events, oldest first."""
        with self._lock:
            return list(self._events)

    def of_type(self, cls: type[E]) -> list[E]:
        """The kept events of one type, oldest first."""
        return [e for e in self.events if isinstance(e, cls)]

    def clear(self) -> None:
        """Forget every kept event."""
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __iter__(self) -> Iterator[SecurityEvent]:
        return iter(self.events)

    def write(self, events: Sequence[SecurityEvent]) -> None:
        """Append ``events``, dropping the oldest beyond ``max_events``."""
        with self._lock:
            maxlen = self._events.maxlen or 0
            overflow = len(self._events) + len(events) - maxlen
            if overflow > 0:
                self.dropped += overflow
            self._events.extend(events)

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        """Same as ``write`` (no I/O)."""
        self.write(events)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryAuditSink(name={self._name!r}, events={len(self)})"


@final
class StreamAuditSink:
    """Writes one JSON line per event to a text stream (stdout by default).

    Args:
        stream: the stream; ``None`` means ``sys.stdout`` at write time.
        name: the sink's name.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_lock", "_name", "_stream")

    def __init__(self, stream: IO[str] | None = None, *, name: str = "stdout") -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._name = name

    name: readonly[str] = readonly("_name", "The sink's name.")

    def write(self, events: Sequence[SecurityEvent]) -> None:
        """Write and flush one line per event."""
        text = "".join(encode_event(e).decode() + "\n" for e in events)
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stream.write(text)
            stream.flush()

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        """Same as ``write`` (a local stream)."""
        self.write(events)

    def close(self) -> None:
        """Flush the stream (it is not closed: the caller owns it)."""
        stream = self._stream if self._stream is not None else sys.stdout
        stream.flush()

    def __repr__(self) -> str:
        return f"StreamAuditSink(name={self._name!r})"


@final
class LoggingAuditSink:
    """Re-emits each persisted event as a JSON log record on a ``logging`` logger.

    ``SecurityAuditLog`` already logs every event synchronously to ``security_audit`` when it
    is recorded; this sink is for sending the *persisted* stream to another logger (e.g. one
    wired to a SIEM handler), at each event's level.

    Args:
        logger: a logger or its name.
        name: the sink's name.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_logger", "_name")

    def __init__(
        self, logger: logging.Logger | str = "security_audit.sink", *, name: str = "logging"
    ) -> None:
        self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._name = name

    name: readonly[str] = readonly("_name", "The sink's name.")

    def write(self, events: Sequence[SecurityEvent]) -> None:
        """Log each event (the message is its JSON; ``record.audit_event`` is the event)."""
        for event in events:
            self._logger.log(event.level, "%s", encode_event(event).decode(), extra={"audit_event": event})

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        """Same as ``write``."""
        self.write(events)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"LoggingAuditSink(name={self._name!r}, logger={self._logger.name!r})"
