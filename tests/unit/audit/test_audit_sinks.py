"""The simple sinks (memory, stream, logging, OpenTelemetry logs) and capture_audit()."""

from __future__ import annotations

import io
import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from llm_infra.audit import (
    AuditSink,
    AuthenticationAttempt,
    AuthorizationCheck,
    HashChainedFileSink,
    LoggingAuditSink,
    MemoryAuditSink,
    OtelLogsAuditSink,
    SecurityAuditLog,
    StreamAuditSink,
    SuspiciousActivity,
)
from llm_infra.errors import ConfigError
from llm_infra.json import loads
from llm_infra.testing._audit import capture_audit


def ev(i: int = 0) -> AuthorizationCheck:
    return AuthorizationCheck(f"user{i}", "collection/docs", "vector:read", i % 2 == 0)


def test_every_sink_satisfies_the_protocol(tmp_path: object) -> None:
    """The shipped sinks are AuditSinks."""
    sinks = [
        MemoryAuditSink(),
        StreamAuditSink(io.StringIO()),
        LoggingAuditSink(),
        OtelLogsAuditSink(LoggerProvider()),
    ]
    assert all(isinstance(s, AuditSink) for s in sinks)
    assert {s.name for s in sinks} == {"memory", "stdout", "logging", "otel"}


def test_memory_sink_is_bounded() -> None:
    """The memory sink keeps the newest max_events and counts the dropped ones."""
    sink = MemoryAuditSink(max_events=3)
    sink.write([ev(i) for i in range(5)])
    assert [e.identity for e in sink] == ["user2", "user3", "user4"]  # type: ignore[attr-defined]
    assert sink.dropped == 2
    assert len(sink) == 3
    assert len(sink.of_type(AuthorizationCheck)) == 3
    assert sink.of_type(AuthenticationAttempt) == []
    assert "events=3" in repr(sink)
    sink.clear()
    assert len(sink) == 0
    sink.close()


@pytest.mark.parametrize("bad", [0, -1, True, "10"])
def test_memory_sink_rejects_bad_sizes(bad: object) -> None:
    """max_events must be a positive int."""
    with pytest.raises(ConfigError) as raised:
        MemoryAuditSink(bad)  # type: ignore[arg-type]
    assert raised.value.code == "audit.invalid_option"


@pytest.mark.anyio
async def test_memory_sink_awrite() -> None:
    """awrite is write."""
    sink = MemoryAuditSink()
    await sink.awrite([ev()])
    assert len(sink) == 1


@pytest.mark.anyio
async def test_stream_sink_writes_json_lines() -> None:
    """One JSON document per line, flushed."""
    stream = io.StringIO()
    sink = StreamAuditSink(stream)
    sink.write([ev(1), ev(2)])
    await sink.awrite([ev(3)])
    sink.close()
    rows = [loads(line) for line in stream.getvalue().splitlines()]
    assert [r["identity"] for r in rows] == ["user1", "user2", "user3"]
    assert repr(sink) == "StreamAuditSink(name='stdout')"


def test_stream_sink_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream the sink writes to sys.stdout."""
    sink = StreamAuditSink()
    sink.write([ev()])
    sink.close()
    assert '"type":"AuthorizationCheck"' in capsys.readouterr().out


@pytest.mark.anyio
async def test_logging_sink_logs_at_each_events_level(caplog: pytest.LogCaptureFixture) -> None:
    """Each event becomes a record at its level carrying the event."""
    sink = LoggingAuditSink("siem")
    with caplog.at_level(logging.INFO, logger="siem"):
        sink.write([ev(0), ev(1)])
        await sink.awrite([ev(2)])
    records = [r for r in caplog.records if r.name == "siem"]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING, logging.INFO]
    assert records[0].audit_event.identity == "user0"  # type: ignore[attr-defined]
    sink.close()
    assert "siem" in repr(LoggingAuditSink(logging.getLogger("siem")))


@pytest.mark.anyio
async def test_otel_sink_emits_log_records_linked_to_the_trace() -> None:
    """Records carry the JSON body, audit.* attributes, severity, event name and trace ids."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    sink = OtelLogsAuditSink(provider)
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("req") as span:
        traced = AuthenticationAttempt("alice", "jwt", False, "10.0.0.1", None, reason="auth.invalid_token")
        trace_id = span.get_span_context().trace_id
    sink.write([traced])
    await sink.awrite([SuspiciousActivity("probe", None, ["a", "b"]), ev(0)])
    sink.close()
    logs = exporter.get_finished_logs()
    assert len(logs) == 3
    first = logs[0].log_record
    assert first.trace_id == trace_id
    assert first.severity_text == "WARN"
    assert first.attributes is not None
    assert first.attributes["audit.identity"] == "alice"
    assert "audit.user_agent" not in first.attributes
    assert loads(str(first.body))["reason"] == "auth.invalid_token"
    assert first.event_name == "security_audit.AuthenticationAttempt"
    assert logs[1].log_record.attributes["audit.indicators"] == ("a", "b")  # type: ignore[index]
    assert logs[2].log_record.severity_text == "INFO"
    assert repr(sink) == "OtelLogsAuditSink(name='otel')"


def test_otel_sink_uses_the_global_provider_by_default(fresh_otel: None) -> None:
    """Without a provider argument, events reach the globally installed logger provider."""
    from opentelemetry._logs import set_logger_provider

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    set_logger_provider(provider)
    try:
        OtelLogsAuditSink().write([ev(0), ev(1)])
        records = [item.log_record for item in exporter.get_finished_logs()]
        assert [loads(str(r.body))["identity"] for r in records] == ["user0", "user1"]
        assert all(r.event_name == "security_audit.AuthorizationCheck" for r in records)
    finally:
        provider.shutdown()


def test_capture_audit_sees_events_from_any_log_and_restores_the_logger() -> None:
    """capture_audit collects events logged during the block and puts the logger back."""
    logger = logging.getLogger("security_audit")
    logger.setLevel(logging.ERROR)
    try:
        log = SecurityAuditLog(flush_interval=None)
        with capture_audit() as audit:
            log.log(ev(1))
            log.log(AuthenticationAttempt("bob", "api_key", True))
        log.log(ev(3))
        assert [type(e).__name__ for e in audit.events] == ["AuthorizationCheck", "AuthenticationAttempt"]
        assert len(audit.of_type(AuthenticationAttempt)) == 1
        assert '"identity":"bob"' in audit.text
        assert len(audit.records) == 2
        audit.clear()
        assert len(audit) == 0
        assert logger.level == logging.ERROR
    finally:
        logger.setLevel(logging.NOTSET)


def test_chain_sink_through_the_log(tmp_path: object) -> None:
    """A HashChainedFileSink fed by a SecurityAuditLog verifies."""
    from pathlib import Path

    from llm_infra.audit import verify_chain

    path = Path(str(tmp_path)) / "c.jsonl"
    with SecurityAuditLog([HashChainedFileSink(path, b"k" * 32)], flush_interval=None) as log:
        for i in range(5):
            log.log(ev(i))
    assert verify_chain(path, b"k" * 32).records == 5


def test_postgres_sink_outage_uses_the_audit_postgres_codes() -> None:
    """An unreachable database is a retryable ``audit.postgres_unavailable`` that hides the DSN."""
    pytest.importorskip("psycopg")
    from llm_infra.audit import PostgresAuditSink
    from llm_infra.errors import ExternalError

    sink = PostgresAuditSink("postgresql://u:CANARYPASS@127.0.0.1:1/none", connect_timeout=1)
    with pytest.raises(ExternalError) as info:
        sink.write([ev()])
    assert info.value.code == "audit.postgres_unavailable"
    assert info.value.retryable
    assert "CANARYPASS" not in repr(info.value) + repr(info.value.to_dict())
    sink.close()


def test_postgres_sink_rejected_statement_is_audit_postgres_error() -> None:
    """A non-transient driver error maps to the non-retryable ``audit.postgres_error``."""
    from llm_infra.errors._foreign import postgres_error

    class ProgrammingError(Exception):
        sqlstate = "42601"

    err = postgres_error(ProgrammingError("syntax"), "audit.read", area="audit")
    assert err.code == "audit.postgres_error"
    assert not err.retryable
