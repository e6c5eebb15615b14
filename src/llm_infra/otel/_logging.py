"""Logging with trace ids: a filter for any handler, a handler feeding OpenTelemetry logs, debug mode."""

from __future__ import annotations

import faulthandler
import logging
import sys
import threading
import time
import warnings
from typing import IO, Any, final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger_provider

from llm_infra.otel._span import clean_attributes

_log = logging.getLogger("llm_infra.otel")

TRACE_LOG_FORMAT = (
    "%(asctime)s %(levelname)-8s %(name)s [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)
"""A log format showing the trace and span ids added by ``TraceContextFilter``."""

DEBUG_LOG_FORMAT = (
    "%(asctime)s %(levelname)-8s %(name)s %(pathname)s:%(lineno)d %(funcName)s() "
    "[trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)
"""The verbose format of ``enable_debug_mode``: file, line, function and trace ids."""

_NO_TRACE = "0" * 32
_NO_SPAN = "0" * 16


@final
class TraceContextFilter(logging.Filter):
    """Add ``trace_id``, ``span_id`` and ``trace_sampled`` to every record (zeros outside a span).

    Attach it to a handler, then use them in the format (see ``TRACE_LOG_FORMAT``)::

        handler.addFilter(TraceContextFilter())

    .. versionadded:: 0.1.0
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops one."""
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
            record.trace_sampled = ctx.trace_flags.sampled
        else:
            record.trace_id = _NO_TRACE
            record.span_id = _NO_SPAN
            record.trace_sampled = False
        return True


def _severity(levelno: int) -> SeverityNumber:
    if levelno >= logging.CRITICAL:
        return SeverityNumber.FATAL
    if levelno >= logging.ERROR:
        return SeverityNumber.ERROR
    if levelno >= logging.WARNING:
        return SeverityNumber.WARN
    if levelno >= logging.INFO:
        return SeverityNumber.INFO
    if levelno >= logging.DEBUG:
        return SeverityNumber.DEBUG
    return SeverityNumber.TRACE


# LogRecord attributes of the stdlib; anything else on a record came from ``extra=``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "trace_id",
    "span_id",
    "trace_sampled",
}


@final
class OtelLogHandler(logging.Handler):
    """Send stdlib log records to the OpenTelemetry log pipeline, with the current trace context.

    Records get ``code.file.path``, ``code.function.name``, ``code.line.number``, the ``extra=``
    fields (secrets masked) and the exception, and are correlated with the active span. The
    provider is the active ``init_otel`` guard's (``OtelConfig(capture_logs=True)`` attaches this
    handler to the root logger for you), or OpenTelemetry's global one.

    .. versionadded:: 0.1.0
    """

    def __init__(self, level: int = logging.NOTSET, *, logger_provider: Any = None) -> None:
        super().__init__(level)
        self._provider = logger_provider

    def _logger_provider(self) -> Any:
        if self._provider is not None:
            return self._provider
        from llm_infra.otel._setup import active_guard

        guard = active_guard()
        if guard is not None and guard.logger_provider is not None:
            return guard.logger_provider
        return get_logger_provider()

    def emit(self, record: logging.LogRecord) -> None:
        """Emit one record; failures go to ``handleError`` like any logging handler."""
        if record.name.startswith("opentelemetry"):
            return  # the SDK logging about its own export would loop back here
        try:
            logger = self._logger_provider().get_logger(record.name)
            extras = {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}
            attributes: dict[str, Any] = clean_attributes(extras)
            attributes["code.file.path"] = record.pathname
            attributes["code.function.name"] = record.funcName
            attributes["code.line.number"] = record.lineno
            exception = record.exc_info[1] if record.exc_info else None
            logger.emit(
                timestamp=int(record.created * 1e9),
                observed_timestamp=time.time_ns(),
                context=otel_context.get_current(),
                severity_number=_severity(record.levelno),
                severity_text=record.levelname,
                body=record.getMessage(),
                attributes=attributes,
                exception=exception,
            )
        except Exception:  # noqa: BLE001 - logging handlers report through handleError, never raise
            self.handleError(record)


@final
class DebugMode:
    """The handle ``enable_debug_mode`` returns; ``disable()`` restores the previous logging setup."""

    def __init__(self, logger: logging.Logger, previous_level: int, handler: logging.Handler | None) -> None:
        self.logger = logger
        self.handler = handler
        self._previous_level = previous_level
        self._filters: list[tuple[logging.Handler, TraceContextFilter]] = []
        self._captured_warnings = False
        self._enabled_faulthandler = False
        self.active = True

    def disable(self) -> None:
        """Undo ``enable_debug_mode`` (idempotent)."""
        global _current
        with _debug_lock:
            if not self.active:
                return
            self.active = False
            if _current is self:
                _current = None
        self.logger.setLevel(self._previous_level)
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
        for handler, flt in self._filters:
            handler.removeFilter(flt)
        if self._captured_warnings:
            logging.captureWarnings(False)
        if self._enabled_faulthandler:
            faulthandler.disable()


_debug_lock = threading.Lock()
_current: DebugMode | None = None


def enable_debug_mode(
    *, level: int = logging.DEBUG, stream: IO[str] | None = None, logger: str | None = None
) -> DebugMode:
    """Verbose diagnostics for development, safe to call when logging is already set up.

    Sets the logger (the root logger by default) to ``level``; adds a stderr handler with file,
    line, function and trace ids only when the logger has no handler yet (an existing setup is kept,
    its handlers just get the ``TraceContextFilter``); routes ``warnings`` into logging; enables
    ``faulthandler`` when stderr is a real file. Calling it again returns the same handle.

    Args:
        level: the level to set, ``DEBUG`` by default.
        stream: where the added handler writes (stderr by default).
        logger: the logger to configure; the root logger by default.

    .. versionadded:: 0.1.0
    """
    global _current
    with _debug_lock:
        if _current is not None and _current.active:
            return _current
        target = logging.getLogger(logger)
        handler: logging.Handler | None = None
        if not target.handlers:
            handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
            handler.setFormatter(logging.Formatter(DEBUG_LOG_FORMAT))
        mode = DebugMode(target, target.level, handler)
        target.setLevel(level)
        if handler is not None:
            target.addHandler(handler)
        for existing in target.handlers:
            if not any(isinstance(f, TraceContextFilter) for f in existing.filters):
                flt = TraceContextFilter()
                existing.addFilter(flt)
                mode._filters.append((existing, flt))
        if getattr(warnings.showwarning, "__module__", None) != "logging":
            logging.captureWarnings(True)
            mode._captured_warnings = True
        if not faulthandler.is_enabled():
            try:
                faulthandler.enable()
                mode._enabled_faulthandler = True
            except (AttributeError, OSError, ValueError):  # stderr replaced by a non-file (pytest, IDEs)
                pass
        _current = mode
    target.info("Debug mode enabled (level %s)", logging.getLevelName(level))
    return mode
