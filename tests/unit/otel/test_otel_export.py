"""init_otel against real loopback receivers: OTLP/HTTP, OTLP/gRPC, a dead collector, console, Prometheus."""

from __future__ import annotations

import gzip
import io
import json
import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_infra.errors import ConfigError
from llm_infra.otel import (
    BatchSettings,
    ExporterConfig,
    OtelConfig,
    counter,
    init_otel,
    metrics_exposition,
    span,
)
from llm_infra.otel._config import BatchSettings as _Batch
from llm_infra.otel._processor import BufferedSpanProcessor
from llm_infra.otel._runtime import get_meter
from llm_infra.otel._setup import active_guard

if TYPE_CHECKING:
    from conftest import WaitFor


class OtlpReceiver:
    """A tiny OTLP/HTTP collector on loopback that stores every request body by path."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.requests.append((self.path, body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path: str) -> list[bytes]:
        return [body for p, body, _ in self.requests if p == path]

    def span_names(self) -> list[str]:
        names: list[str] = []
        for body in self.bodies("/v1/traces"):
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope in resource_spans.scope_spans:
                    names.extend(s.name for s in scope.spans)
        return names

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """A running OTLP/HTTP receiver."""
    rx = OtlpReceiver()
    yield rx
    rx.close()


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_otlp_http_export_reaches_the_receiver(receiver: OtlpReceiver, wait_for: WaitFor) -> None:
    """Spans, metrics and logs arrive at /v1/traces, /v1/metrics and /v1/logs with the resource."""
    config = OtelConfig(
        service_name="exporter-test",
        service_version="9.9",
        exporter=ExporterConfig.otlp(receiver.endpoint, headers={"x-api-key": "k1"}, compression="gzip"),
        batch=BatchSettings(schedule_delay=0.05),
        capture_logs=True,
        prometheus=False,
    )
    with init_otel(config) as guard:
        with span("parent"), span("child", k=1):
            counter("export.test.count").add(3)
            import logging

            logging.getLogger("export.test").warning("hello %s", "otlp")
        assert guard.force_flush(5.0)
        wait_for(lambda: {"parent", "child"} <= set(receiver.span_names()))
    traces = ExportTraceServiceRequest.FromString(receiver.bodies("/v1/traces")[0])
    resource = {kv.key: kv.value.string_value for kv in traces.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "exporter-test"
    assert resource["service.version"] == "9.9"
    headers = receiver.requests[0][2]
    assert headers["x-api-key"] == "k1"
    metric_names = {
        m.name
        for body in receiver.bodies("/v1/metrics")
        for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert "export.test.count" in metric_names
    log_bodies = [
        record.body.string_value
        for body in receiver.bodies("/v1/logs")
        for rl in ExportLogsServiceRequest.FromString(body).resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]
    assert "hello otlp" in log_bodies
    assert guard.dropped_spans == {"queue_full": 0, "export_failed": 0, "shutdown": 0}


def test_collector_down_never_blocks_and_counts_drops(wait_for: WaitFor) -> None:
    """With nothing listening, spans are buffered, retried, then dropped and counted in a metric."""
    config = OtelConfig(
        service_name="down",
        exporter=ExporterConfig.otlp(f"http://127.0.0.1:{free_port()}", timeout=0.2),
        batch=BatchSettings(
            max_queue_size=8,
            max_export_batch_size=4,
            schedule_delay=0.05,
            max_export_attempts=2,
            retry_backoff=0.01,
        ),
        shutdown_timeout=2.0,
    )
    guard = init_otel(config)
    for i in range(20):
        with span(f"work-{i}"):
            pass  # the application carries on: no exception, no blocking wait on the collector
    wait_for(lambda: guard.dropped_spans["export_failed"] >= 4)
    dropped = guard.dropped_spans
    assert dropped["queue_full"] + dropped["export_failed"] + dropped["shutdown"] <= 20
    assert dropped["queue_full"] >= 20 - 8 - 4
    body, content_type = metrics_exposition()
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert "llm_infra_otel_spans_dropped_total" in text
    assert 'reason="queue_full"' in text
    guard.shutdown()
    total = sum(guard.dropped_spans.values())
    assert total == 20


def test_grpc_export_reaches_a_grpc_receiver(wait_for: WaitFor) -> None:
    """protocol='grpc' exports to an OTLP/gRPC TraceService on loopback."""
    grpc = pytest.importorskip("grpc")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc", reason="the otlp gRPC exporter is optional")
    received: list[ExportTraceServiceRequest] = []

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: ExportTraceServiceRequest, context: Any) -> Any:
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        config = OtelConfig(
            service_name="grpc-test",
            exporter=ExporterConfig.otlp(f"http://127.0.0.1:{port}", protocol="grpc", timeout=5.0),
            batch=BatchSettings(schedule_delay=0.05),
            prometheus=False,
        )
        with init_otel(config) as guard:
            with span("over-grpc"):
                pass
            assert guard.force_flush(5.0)
            wait_for(lambda: bool(received))
    finally:
        server.stop(None)
    names = [s.name for rs in received[0].resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert names == ["over-grpc"]


def test_console_exporter_prints_json() -> None:
    """The console exporter writes spans (and metrics at shutdown) as JSON to the given stream."""
    out = io.StringIO()
    config = OtelConfig(service_name="console", exporter=ExporterConfig.console(pretty=False, stream=out))
    with init_otel(config):
        with span("printed"):
            pass
        import logging

        logging.getLogger("console.test").error("shown")
    first = out.getvalue().splitlines()[0]
    assert json.loads(first)["name"] == "printed"


def test_none_exporter_still_propagates() -> None:
    """ExporterConfig.none() records nothing but spans are real, so context propagates."""
    config = OtelConfig(service_name="none", exporter=ExporterConfig.none(), prometheus=False)
    with init_otel(config) as guard, span("local") as current:
        assert current.get_span_context().is_valid
        assert guard.dropped_spans == {}
        with pytest.raises(ConfigError) as raised:
            guard.finished_spans()
        assert raised.value.code == "otel.not_memory"
        with pytest.raises(ConfigError) as raised:
            guard.finished_logs()
        assert raised.value.code == "otel.not_memory"
        with pytest.raises(ConfigError) as raised:
            guard.metric_points("x")
        assert raised.value.code == "otel.not_memory"
        with pytest.raises(ConfigError) as info:
            guard.prometheus_exposition()
        assert info.value.code == "otel.prometheus_disabled"


def test_disabled_config_installs_nothing() -> None:
    """enabled=False returns an inert guard; spans stay no-ops."""
    with init_otel(OtelConfig(service_name="off", enabled=False)) as guard, span("nothing") as current:
        assert not current.is_recording()
        assert guard.tracer_provider is None
        assert guard.force_flush()


def test_init_is_idempotent_for_an_equal_config() -> None:
    """The same config returns the same guard; a different one is refused until shutdown."""
    config = OtelConfig(service_name="svc", exporter=ExporterConfig.memory(), prometheus=False)
    guard = init_otel(config)
    assert (
        init_otel(OtelConfig(service_name="svc", exporter=ExporterConfig.memory(), prometheus=False)) is guard
    )
    assert active_guard() is guard
    with pytest.raises(ConfigError) as info:
        init_otel(OtelConfig(service_name="other", exporter=ExporterConfig.memory()))
    assert info.value.code == "otel.already_initialized"
    assert "active" in repr(guard)
    guard.shutdown()
    guard.shutdown()
    assert not guard.active
    assert "shut down" in repr(guard)
    assert active_guard() is None
    with pytest.raises(ConfigError) as raised:
        metrics_exposition()
    assert raised.value.code == "otel.prometheus_disabled"


def test_memory_guard_exposes_spans_logs_and_clear() -> None:
    """finished_spans/finished_logs read back; clear() forgets them."""
    import logging

    config = OtelConfig(service_name="mem", exporter=ExporterConfig.memory(), capture_logs=True)
    with init_otel(config) as guard:
        with span("kept") as current:
            logging.getLogger("mem.test").warning("inside", extra={"user_id": 7, "password": "pw"})
            trace_id = current.get_span_context().trace_id
        logs = guard.finished_logs()
        assert logs[-1].log_record.body == "inside"
        assert logs[-1].log_record.trace_id == trace_id
        attrs = dict(logs[-1].log_record.attributes or {})
        assert attrs["user_id"] == 7
        assert attrs["password"] == "**********"
        assert [s.name for s in guard.finished_spans()] == ["kept"]
        counter("mem.test.count").add(1)
        body, _ = guard.prometheus_exposition()
        assert b"mem_test_count_total" in body
        guard.clear()
        assert guard.finished_spans() == ()
        assert guard.finished_logs() == ()
    assert logging.getLogger().handlers == [
        h for h in logging.getLogger().handlers if "OtelLog" not in repr(h)
    ]


def test_sampling_ratio_zero_records_nothing() -> None:
    """sampling_ratio=0 drops every root span; parent-based follows a sampled remote parent."""
    from llm_infra.otel import extract

    config = OtelConfig(
        service_name="s", exporter=ExporterConfig.memory(), sampling_ratio=0.0, prometheus=False
    )
    with init_otel(config) as guard:
        with span("dropped"):
            pass
        parent = extract({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
        with span("kept", context=parent):
            pass
        assert [s.name for s in guard.finished_spans()] == ["kept"]
    config = OtelConfig(
        service_name="s", exporter=ExporterConfig.memory(), sampling_ratio=0.5, parent_based=False
    )
    with init_otel(config) as guard:
        for _ in range(40):
            with span("maybe"):
                pass
        assert 0 < len(guard.finished_spans()) < 40


class FlakyExporter(SpanExporter):
    """A real SpanExporter that fails its first ``failures`` calls, optionally by raising."""

    def __init__(
        self, failures: int, *, raise_errors: bool = False, block: threading.Event | None = None
    ) -> None:
        self.failures = failures
        self.raise_errors = raise_errors
        self.block = block
        self.batches: list[list[str]] = []
        self.calls = 0
        self.shut = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.calls += 1
        if self.block is not None:
            self.block.wait(10)
        if self.calls <= self.failures:
            if self.raise_errors:
                raise ConnectionError("collector down")
            return SpanExportResult.FAILURE
        self.batches.append([s.name for s in spans])
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut += 1
        if self.block is not None:
            self.block.set()


def _finished_span(name: str, *, sampled: bool = True) -> ReadableSpan:
    from opentelemetry.trace import SpanContext, TraceFlags

    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return ReadableSpan(name=name, context=SpanContext(1, 2, is_remote=False, trace_flags=flags))


def test_processor_retries_a_failed_batch_until_it_succeeds() -> None:
    """A batch that fails (or raises) is kept and re-sent; nothing is dropped."""
    exporter = FlakyExporter(2, raise_errors=True)
    settings = _Batch(max_queue_size=10, max_export_batch_size=5, schedule_delay=60.0, retry_backoff=0.01)
    processor = BufferedSpanProcessor(exporter, settings, meter=get_meter("t"))
    for name in ("a", "b"):
        processor.on_end(_finished_span(name))
    processor.on_end(_finished_span("unsampled", sampled=False))
    assert processor.force_flush(5000)
    assert exporter.batches == [["a", "b"]]
    assert processor.exported == 2
    assert processor.failed_exports == 2
    processor.shutdown(1.0)
    processor.shutdown(1.0)
    assert exporter.shut == 1
    assert not processor.force_flush(10)
    processor.on_end(_finished_span("late"))
    assert processor.dropped["shutdown"] == 1


def test_processor_flush_times_out_while_the_exporter_is_stuck() -> None:
    """force_flush gives up at its timeout; shutdown interrupts a stuck exporter and counts leftovers."""
    release = threading.Event()
    exporter = FlakyExporter(0, block=release)
    settings = _Batch(max_queue_size=4, max_export_batch_size=1, schedule_delay=0.01)
    processor = BufferedSpanProcessor(exporter, settings, meter=get_meter("t"))
    for name in ("a", "b", "c", "d", "e", "f"):
        processor.on_end(_finished_span(name))
    assert not processor.force_flush(50)
    processor.shutdown(0.05)
    assert exporter.shut == 1
    assert processor.dropped["queue_full"] >= 1
    total = processor.exported + sum(processor.dropped.values())
    assert total == 6


def test_exporter_shutdown_errors_do_not_escape() -> None:
    """An exporter whose shutdown raises is logged, not propagated."""

    class BrokenShutdown(FlakyExporter):
        def shutdown(self) -> None:
            raise RuntimeError("broken")

    processor = BufferedSpanProcessor(BrokenShutdown(0), _Batch(schedule_delay=0.01), meter=get_meter("t"))
    processor.on_start(None)  # type: ignore[arg-type]
    processor.shutdown(1.0)
