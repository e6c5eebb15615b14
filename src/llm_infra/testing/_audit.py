"""``capture_audit()``: collect the security events recorded while a block runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar, final

from llm_infra.audit import AUDIT_LOGGER, SecurityEvent

E = TypeVar("E", bound=SecurityEvent)


@final
class AuditCapture:
    """The events and log lines recorded during a ``capture_audit()`` block.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_lock", "_records")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[logging.LogRecord] = []

    def _add(self, record: logging.LogRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[logging.LogRecord]:
        """Every record logged on the audit logger, including warnings about the log itself."""
        with self._lock:
            return list(self._records)

    @property
    def events(self) -> list[SecurityEvent]:
        """The recorded events, in order."""
        found = (getattr(r, "audit_event", None) for r in self.records)
        return [e for e in found if isinstance(e, SecurityEvent)]

    def of_type(self, cls: type[E]) -> list[E]:
        """The recorded events of one type, in order."""
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def text(self) -> str:
        """Every captured log line (the events' JSON), one per line: search it for leaks."""
        return "\n".join(r.getMessage() for r in self.records)

    def clear(self) -> None:
        """Forget what was captured so far."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self.events)


@final
class _Handler(logging.Handler):
    def __init__(self, capture: AuditCapture) -> None:
        super().__init__(logging.DEBUG)
        self._capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        self._capture._add(record)


@contextmanager
def capture_audit(logger: str = AUDIT_LOGGER) -> Iterator[AuditCapture]:
    """Collect every security event any ``SecurityAuditLog`` records during the block.

    It listens on the ``security_audit`` logger (lowering its level for the block if needed),
    so it sees events whether or not the log has sinks, and it sees them at once (no flush).

    Example::

        with capture_audit() as audit:
            log.log(AuthenticationAttempt("alice", "api_key", success=True))
        assert audit.of_type(AuthenticationAttempt)[0].identity == "alice"

    .. versionadded:: 0.1.0
    """
    target = logging.getLogger(logger)
    capture = AuditCapture()
    handler = _Handler(capture)
    old_level, old_disabled = target.level, target.disabled
    if target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
    target.disabled = False
    target.addHandler(handler)
    try:
        yield capture
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)
        target.disabled = old_disabled
