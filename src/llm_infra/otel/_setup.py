"""``init_otel`` and the ``OtelGuard`` it returns."""

from __future__ import annotations

import atexit
import importlib
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, final

from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError
from llm_infra.otel import _codes as codes
from llm_infra.otel._config import ExporterConfig, OtelConfig
from llm_infra.otel._runtime import RUNTIME, install_globals

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_infra.otel._processor import BufferedSpanProcessor

_log = logging.getLogger("llm_infra.otel")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The content type of the Prometheus text exposition."""

_init_lock = threading.RLock()
_active: OtelGuard | None = None


def _compression(name: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http import Compression

    return {"gzip": Compression.Gzip, "deflate": Compression.Deflate}.get(name, Compression.NoCompression)


def _grpc_compression(name: str) -> Any:
    grpc = require("grpc", "otel")
    return grpc.Compression.Gzip if name == "gzip" else grpc.Compression.NoCompression


def _console_stream(exporter: ExporterConfig) -> Any:
    return exporter.stream if exporter.stream is not None else sys.stdout


# signal -> (module, console exporter class).
_CONSOLE_EXPORTERS = {
    "traces": ("opentelemetry.sdk.trace.export", "ConsoleSpanExporter"),
    "metrics": ("opentelemetry.sdk.metrics.export", "ConsoleMetricExporter"),
    "logs": ("opentelemetry.sdk._logs.export", "ConsoleLogRecordExporter"),
}


def _exporter(exporter: ExporterConfig, signal: Literal["traces", "metrics", "logs"]) -> Any:
    """The console or OTLP exporter of ``signal`` (``traces``, ``metrics`` or ``logs``)."""
    if exporter.kind == "console":
        module, name = _CONSOLE_EXPORTERS[signal]
        indent = 4 if exporter.pretty else None
        return getattr(importlib.import_module(module), name)(
            out=_console_stream(exporter), formatter=lambda item: item.to_json(indent=indent) + "\n"
        )
    return _otlp_exporter(exporter, signal)


def _span_exporter(exporter: ExporterConfig) -> SpanExporter:
    span_exporter: SpanExporter = _exporter(exporter, "traces")
    return span_exporter


# signal -> (module suffix, exporter class); the grpc and http packages use the same names.
_OTLP_EXPORTERS = {
    "traces": ("trace_exporter", "OTLPSpanExporter"),
    "metrics": ("metric_exporter", "OTLPMetricExporter"),
    "logs": ("_log_exporter", "OTLPLogExporter"),
}


def _otlp_exporter(exporter: ExporterConfig, signal: Literal["traces", "metrics", "logs"]) -> Any:
    module, name = _OTLP_EXPORTERS[signal]
    if exporter.protocol == "grpc":
        grpc_mod = require(f"opentelemetry.exporter.otlp.proto.grpc.{module}", "otel-grpc")
        return getattr(grpc_mod, name)(
            endpoint=exporter.signal_endpoint(signal),
            insecure=exporter.endpoint.startswith("http://"),
            headers=exporter.revealed_headers(),
            timeout=exporter.timeout,
            compression=_grpc_compression(exporter.compression),
        )
    http_mod = require(f"opentelemetry.exporter.otlp.proto.http.{module}", "otel")
    return getattr(http_mod, name)(
        endpoint=exporter.signal_endpoint(signal),
        headers=exporter.revealed_headers(),
        timeout=exporter.timeout,
        compression=_compression(exporter.compression),
    )


@final
class OtelGuard:
    """The handle ``init_otel`` returns: owns the tracer, meter and logger providers.

    Use it as a context manager, or call ``shutdown()`` (idempotent) at exit: it flushes, then
    shuts down the logger, tracer and meter providers, the reverse of the order they were built in
    (the meter first, so that the span processor can count drops until the very end).

    .. versionadded:: 0.1.0
    """

    def __init__(self, config: OtelConfig) -> None:
        self.config = config
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.logger_provider: LoggerProvider | None = None
        self._span_memory: InMemorySpanExporter | None = None
        self._metric_memory: InMemoryMetricReader | None = None
        self._log_memory: InMemoryLogRecordExporter | None = None
        self._processor: BufferedSpanProcessor | None = None
        self._prometheus_registry: Any = None
        self._log_handler: logging.Handler | None = None
        self._closed = False
        self._lock = threading.Lock()

    # --- building --------------------------------------------------------------------------------

    def _build(self) -> None:
        config = self.config
        if not config.enabled:
            return
        require("opentelemetry.sdk", "otel")
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.version import __version__ as sdk_version

        attributes: dict[str, Any] = {
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": sdk_version,
        }
        attributes.update(config.resource())
        resource = Resource(attributes)
        self.meter_provider = self._build_meter_provider(resource)
        self.tracer_provider = self._build_tracer_provider(resource)
        self.logger_provider = self._build_logger_provider(resource)

    def _build_meter_provider(self, resource: Any) -> MeterProvider:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader

        config = self.config
        exporter = config.exporter
        readers: list[MetricReader] = []
        if exporter.kind == "memory":
            self._metric_memory = InMemoryMetricReader()
            readers.append(self._metric_memory)
        elif exporter.kind in ("otlp", "console"):
            readers.append(
                PeriodicExportingMetricReader(
                    _exporter(exporter, "metrics"),
                    export_interval_millis=config.metric_export_interval * 1000.0,
                    export_timeout_millis=exporter.timeout * 1000.0,
                )
            )
        if config.prometheus:
            prometheus = require("opentelemetry.exporter.prometheus", "otel")
            client = require("prometheus_client", "otel")
            self._prometheus_registry = client.CollectorRegistry(auto_describe=True)
            readers.append(prometheus.PrometheusMetricReader(registry=self._prometheus_registry))
        return MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)

    def _build_tracer_provider(self, resource: Any) -> TracerProvider:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.sampling import (
            ALWAYS_OFF,
            ALWAYS_ON,
            ParentBased,
            Sampler,
            TraceIdRatioBased,
        )

        from llm_infra.otel._processor import BufferedSpanProcessor
        from llm_infra.otel._tap import TAP

        config = self.config
        ratio = config.sampling_ratio
        root: Sampler = (
            ALWAYS_ON if ratio >= 1.0 else ALWAYS_OFF if ratio <= 0.0 else TraceIdRatioBased(ratio)
        )
        sampler = ParentBased(root) if config.parent_based else root
        provider = TracerProvider(sampler=sampler, resource=resource, shutdown_on_exit=False)
        exporter = config.exporter
        if exporter.kind == "memory":
            self._span_memory = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(self._span_memory))
        elif exporter.kind == "console":
            provider.add_span_processor(SimpleSpanProcessor(_span_exporter(exporter)))
        elif exporter.kind == "otlp":
            assert self.meter_provider is not None
            self._processor = BufferedSpanProcessor(
                _span_exporter(exporter),
                config.batch,
                meter=self.meter_provider.get_meter("llm_infra.otel"),
                name=f"otlp-{exporter.protocol}",
            )
            provider.add_span_processor(self._processor)
        TAP.attach(provider)
        return provider

    def _build_logger_provider(self, resource: Any) -> LoggerProvider:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import (
            BatchLogRecordProcessor,
            InMemoryLogRecordExporter,
            SimpleLogRecordProcessor,
        )

        exporter = self.config.exporter
        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        if exporter.kind == "memory":
            self._log_memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # untyped SDK init
            provider.add_log_record_processor(SimpleLogRecordProcessor(self._log_memory))
        elif exporter.kind == "console":
            provider.add_log_record_processor(SimpleLogRecordProcessor(_exporter(exporter, "logs")))
        elif exporter.kind == "otlp":
            provider.add_log_record_processor(BatchLogRecordProcessor(_exporter(exporter, "logs")))
        return provider

    def _activate(self) -> None:
        if self.tracer_provider is None:
            return
        install_globals()
        RUNTIME.swap(self.tracer_provider, self.meter_provider, self)
        if self.config.capture_logs:
            from llm_infra.otel._logging import OtelLogHandler

            self._log_handler = OtelLogHandler()
            logging.getLogger().addHandler(self._log_handler)

    # --- reading back ----------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True until ``shutdown()``."""
        return not self._closed

    @property
    def dropped_spans(self) -> dict[str, int]:
        """Spans the OTLP span buffer gave up on, by reason (empty for other exporters)."""
        return dict(self._processor.dropped) if self._processor is not None else {}

    def finished_spans(self) -> tuple[ReadableSpan, ...]:
        """Spans recorded so far (``ExporterConfig.memory()`` only).

        Raises:
            ConfigError: the exporter is not the memory exporter.
        """
        if self._span_memory is None:
            raise ConfigError("finished_spans() needs ExporterConfig.memory()", code=codes.NOT_MEMORY)
        return tuple(self._span_memory.get_finished_spans())

    def finished_logs(self) -> tuple[ReadableLogRecord, ...]:
        """Log records emitted so far (``ExporterConfig.memory()`` only)."""
        if self._log_memory is None:
            raise ConfigError("finished_logs() needs ExporterConfig.memory()", code=codes.NOT_MEMORY)
        return tuple(self._log_memory.get_finished_logs())

    def clear(self) -> None:
        """Forget the spans and logs recorded so far (memory exporter)."""
        if self._span_memory is not None:
            self._span_memory.clear()
        if self._log_memory is not None:
            self._log_memory.clear()

    def metric_points(self, name: str) -> list[Any]:
        """The current data points of one metric (``ExporterConfig.memory()`` only).

        Each point has ``.attributes`` and ``.value`` (sums, gauges) or ``.count``/``.sum``
        (histograms). Counters are cumulative.

        Raises:
            ConfigError: the exporter is not the memory exporter.
        """
        if self._metric_memory is None:
            raise ConfigError("metric_points() needs ExporterConfig.memory()", code=codes.NOT_MEMORY)
        data = self._metric_memory.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def prometheus_exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type.

        Raises:
            ConfigError: ``OtelConfig.prometheus`` is off (``otel.prometheus_disabled``).
        """
        if self._prometheus_registry is None or self._closed:
            raise ConfigError(
                "Prometheus exposition is not enabled",
                code=codes.PROMETHEUS_DISABLED,
                key="otel.metrics.prometheus",
                remediation=["Set OtelConfig(prometheus=True) (otel.metrics.prometheus = true)."],
            )
        client = require("prometheus_client", "otel")
        return client.generate_latest(self._prometheus_registry), PROMETHEUS_CONTENT_TYPE

    # --- lifecycle -------------------------------------------------------------------------------

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Export everything buffered; True when every provider flushed within the timeout."""
        ok = True
        millis = int(timeout * 1000)
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            if provider is not None:
                ok = bool(provider.force_flush(millis)) and ok
        return ok

    def shutdown(self) -> None:
        """Flush, then shut down the logger, tracer and meter providers. Idempotent."""
        global _active
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with _init_lock:
            if _active is self:
                _active = None
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
        if RUNTIME.owner is self:
            RUNTIME.swap(None, None, None)
        timeout = self.config.shutdown_timeout
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
        if self.tracer_provider is not None:
            if self._processor is not None:
                self._processor.shutdown(timeout)
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown(timeout_millis=timeout * 1000)

    close = shutdown

    def __enter__(self) -> OtelGuard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        state = "active" if not self._closed else "shut down"
        return f"OtelGuard(service={self.config.service_name!r}, exporter={self.config.exporter!r}, {state})"


def init_otel(config: OtelConfig | None = None, *, environ: Mapping[str, str] | None = None) -> OtelGuard:
    """Install tracing, metrics and logging for the process; returns the guard that owns them.

    Calling it again with an equal config while the first guard is active returns that guard.

    Args:
        config: service identity, exporter, sampling and buffering. None reads the standard
            ``OTEL_*`` variables (``OtelConfig.from_env``): ``OTEL_SERVICE_NAME`` alone is enough.
        environ: the environment read when ``config`` is None (``os.environ`` by default).

    Raises:
        ConfigError: another guard with a different config is active (``otel.already_initialized``),
            another library installed a global provider (``otel.global_conflict``), or the SDK is not
            installed (``config.missing_extra``).

    .. versionadded:: 0.1.0
    """
    global _active
    if config is None:
        config = OtelConfig.from_env(environ)
    with _init_lock:
        if _active is not None and _active.active:
            if _active.config == config:
                return _active
            raise ConfigError(
                "OpenTelemetry is already initialised with a different config",
                code=codes.ALREADY_INITIALIZED,
                remediation=["Shut down the previous OtelGuard before calling init_otel again."],
            )
        guard = OtelGuard(config)
        guard._build()
        try:
            guard._activate()
        except ConfigError:
            guard.shutdown()
            raise
        _active = guard
        return guard


def active_guard() -> OtelGuard | None:
    """The guard of the current ``init_otel``, if any."""
    return _active


def metrics_exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition of the active guard, with its content type (for ``/metrics``).

    Raises:
        ConfigError: no active guard, or Prometheus is off (``otel.prometheus_disabled``).

    .. versionadded:: 0.1.0
    """
    guard = _active
    if guard is None:
        raise ConfigError(
            "no OpenTelemetry guard is active; call init_otel first",
            code=codes.PROMETHEUS_DISABLED,
            remediation=["Call init_otel(OtelConfig(..., prometheus=True)) at startup."],
        )
    return guard.prometheus_exposition()


def _shutdown_at_exit() -> None:  # pragma: no cover - runs at interpreter exit
    guard = _active
    if guard is not None:
        guard.shutdown()


atexit.register(_shutdown_at_exit)


def shutdown_active() -> None:
    """Shut down the active guard, if any (tests use it between cases)."""
    guard = _active
    if guard is not None:
        guard.shutdown()


__all__: Sequence[str] = ("OtelGuard", "active_guard", "init_otel", "metrics_exposition")
