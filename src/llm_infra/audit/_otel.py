"""``OtelLogsAuditSink``: events as OpenTelemetry log records (the logs API; export via the SDK)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._lazy import require
from llm_infra.audit._events import SecurityEvent
from llm_infra.audit._sinks import encode_event


def _attributes(event: SecurityEvent) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, value in event.to_dict().items():
        if key in ("timestamp", "trace_id", "span_id") or value is None:
            continue
        attrs[f"audit.{key}"] = tuple(str(v) for v in value) if isinstance(value, list) else value
    return attrs


@final
class OtelLogsAuditSink:
    """Emits one OpenTelemetry log record per event.

    The record's body is the event's JSON, its attributes are the event's fields as
    ``audit.<field>``, its event name is ``security_audit.<Type>``, and it carries the event's
    trace and span ids so a backend links it to the trace. Without an SDK logger provider
    installed (``llm_infra.otel.init_otel`` or your own) the records go nowhere.

    Args:
        logger_provider: an ``opentelemetry`` ``LoggerProvider``; the global one by default.
        name: the sink's name.

    Raises:
        ConfigError: the OpenTelemetry logs API is not importable (``llm-infra[otel]``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_logger", "_logs", "_name")

    def __init__(self, logger_provider: Any = None, *, name: str = "otel") -> None:
        self._logs: Any = require("opentelemetry._logs", "otel")
        provider = logger_provider if logger_provider is not None else self._logs.get_logger_provider()
        self._logger = provider.get_logger("llm_infra.audit")
        self._name = name

    name: readonly[str] = readonly("_name", "The sink's name.")

    def write(self, events: Sequence[SecurityEvent]) -> None:
        """Emit one log record per event."""
        from opentelemetry.trace import TraceFlags

        logs = self._logs
        for event in events:
            warn = event.level >= 30
            self._logger.emit(
                logs.LogRecord(
                    timestamp=int(event.timestamp.timestamp() * 1e9),
                    trace_id=int(event.trace_id, 16) if event.trace_id else None,
                    span_id=int(event.span_id, 16) if event.span_id else None,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED) if event.trace_id else None,
                    severity_text="WARN" if warn else "INFO",
                    severity_number=logs.SeverityNumber.WARN if warn else logs.SeverityNumber.INFO,
                    body=encode_event(event).decode(),
                    attributes=_attributes(event),
                    event_name=f"security_audit.{event.event_type}",
                )
            )

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        """Same as ``write`` (the SDK's processors do the I/O)."""
        self.write(events)

    def close(self) -> None:
        """Nothing to release (the provider belongs to the caller)."""

    def __repr__(self) -> str:
        return f"OtelLogsAuditSink(name={self._name!r})"
