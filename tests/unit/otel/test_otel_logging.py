"""Trace ids in logs, the OpenTelemetry log handler, and debug mode."""

from __future__ import annotations

import faulthandler
import io
import logging
import sys
import warnings
from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from llm_infra.otel import (
    TRACE_LOG_FORMAT,
    OtelLogHandler,
    TraceContextFilter,
    current_trace_ids,
    enable_debug_mode,
    span,
)
from llm_infra.testing._otel import capture_spans


@pytest.fixture
def memory_logs() -> Iterator[tuple[OtelLogHandler, InMemoryLogRecordExporter]]:
    """An OtelLogHandler wired to an in-memory log exporter."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield OtelLogHandler(logger_provider=provider), exporter
    provider.shutdown()


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(1)
    logger.propagate = False
    return logger


def test_trace_context_filter_adds_ids() -> None:
    """Records inside a span carry its ids; outside they carry zeros."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(TRACE_LOG_FORMAT))
    handler.addFilter(TraceContextFilter())
    logger = _logger("filter.test", handler)
    logger.info("outside")
    with capture_spans(), span("op"):
        logger.info("inside")
        trace_id, span_id = current_trace_ids() or ("", "")
    lines = stream.getvalue().splitlines()
    assert "trace_id=" + "0" * 32 in lines[0]
    assert f"trace_id={trace_id} span_id={span_id}" in lines[1]


def test_otel_log_handler_emits_correlated_records(
    memory_logs: tuple[OtelLogHandler, InMemoryLogRecordExporter],
) -> None:
    """Records reach the log pipeline with severity, code location, extras and the span's trace id."""
    handler, exporter = memory_logs
    logger = _logger("handler.test", handler)
    with capture_spans(), span("op") as current:
        logger.debug("dbg")
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed %d", 3, extra={"api_key": "sk", "items": 2})
    logger.log(5, "trace level")
    logger.critical("fatal")
    records = [item.log_record for item in exporter.get_finished_logs()]
    assert [r.body for r in records] == ["dbg", "failed 3", "trace level", "fatal"]
    assert [r.severity_text for r in records] == ["DEBUG", "ERROR", logging.getLevelName(5), "CRITICAL"]
    assert records[1].trace_id == current.get_span_context().trace_id
    attrs = dict(records[1].attributes or {})
    assert attrs["api_key"] == "**********"
    assert attrs["items"] == 2
    assert attrs["code.function.name"] == "test_otel_log_handler_emits_correlated_records"
    assert attrs["exception.type"] == "ValueError"


def test_otel_log_handler_skips_sdk_records_and_reports_errors(
    memory_logs: tuple[OtelLogHandler, InMemoryLogRecordExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's own records are ignored (no feedback loop); emit failures go to handleError."""
    handler, exporter = memory_logs
    _logger("opentelemetry.sdk.test", handler).warning("internal")
    assert exporter.get_finished_logs() == ()
    errors: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", errors.append)
    handler._provider = object()  # no get_logger: emitting fails
    _logger("broken.test", handler).warning("x")
    assert len(errors) == 1


def test_otel_log_handler_without_guard_uses_the_global_provider() -> None:
    """With no guard and no provider argument, records reach the globally installed provider."""
    from opentelemetry._logs import set_logger_provider

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    set_logger_provider(provider)
    try:
        handler = OtelLogHandler()
        _logger("global.test", handler).warning("delivered %s", "globally")
        records = [item.log_record for item in exporter.get_finished_logs()]
        assert [r.body for r in records] == ["delivered globally"]
        assert records[0].severity_text == "WARNING"
    finally:
        provider.shutdown()


def test_debug_mode_configures_a_bare_logger() -> None:
    """A logger without handlers gets a verbose handler; disable() restores it."""
    stream = io.StringIO()
    mode = enable_debug_mode(logger="debug.bare", stream=stream)
    try:
        assert enable_debug_mode(logger="debug.bare") is mode
        logger = logging.getLogger("debug.bare")
        logger.propagate = False
        assert logger.level == logging.DEBUG
        with capture_spans(), span("op"):
            logger.debug("details")
        output = stream.getvalue()
        assert "Debug mode enabled" in output
        assert "test_otel_logging.py:" in output
        assert "test_debug_mode_configures_a_bare_logger()" in output
        assert "trace_id=" + "0" * 32 not in output.splitlines()[-1]
    finally:
        mode.disable()
        mode.disable()
    assert logging.getLogger("debug.bare").handlers == []
    assert logging.getLogger("debug.bare").level == logging.NOTSET


def test_debug_mode_keeps_an_existing_logging_setup() -> None:
    """When handlers exist (the Rust version panicked here) they are kept and get trace ids."""
    stream = io.StringIO()
    existing = logging.StreamHandler(stream)
    existing.setFormatter(logging.Formatter("%(levelname)s %(trace_id)s %(message)s"))
    logger = logging.getLogger("debug.existing")
    logger.handlers = [existing]
    logger.propagate = False
    mode = enable_debug_mode(logger="debug.existing", level=logging.INFO)
    try:
        assert logger.handlers == [existing]
        logger.info("kept")
        assert "INFO " + "0" * 32 + " kept" in stream.getvalue()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("routed", UserWarning, stacklevel=1)
    finally:
        mode.disable()
    assert existing.filters == []


def test_debug_mode_enables_faulthandler_when_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    """faulthandler is switched on for a real stderr and skipped for a fake one."""
    was_enabled = faulthandler.is_enabled()
    faulthandler.disable()
    try:
        monkeypatch.setattr(sys, "stderr", io.StringIO())
        mode = enable_debug_mode(logger="debug.fault1", stream=io.StringIO())
        assert not faulthandler.is_enabled()
        mode.disable()
        monkeypatch.setattr(sys, "stderr", sys.__stderr__)
        mode = enable_debug_mode(logger="debug.fault2", stream=io.StringIO())
        assert faulthandler.is_enabled()
        mode.disable()
        assert not faulthandler.is_enabled()
    finally:
        if was_enabled:
            faulthandler.enable(file=sys.__stderr__)
