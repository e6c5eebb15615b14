"""``OtelConfig``, ``ExporterConfig`` and ``BatchSettings``: what ``init_otel`` builds, validated up front."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal, final
from urllib.parse import unquote, urlsplit

from llm_infra.config import (
    OTEL_ENVIRONMENT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TIMEOUT_SECS,
    OTEL_EXPORTER_STDOUT_PRETTY,
    OTEL_METRICS_EXPORT_INTERVAL_SECS,
    OTEL_SAMPLING_RATIO,
)
from llm_infra.errors import ConfigError
from llm_infra.otel import _codes as codes
from llm_infra.otel._keys import (
    OTEL_BATCH_MAX_EXPORT_ATTEMPTS,
    OTEL_BATCH_MAX_EXPORT_BATCH_SIZE,
    OTEL_BATCH_MAX_QUEUE_SIZE,
    OTEL_BATCH_RETRY_BACKOFF,
    OTEL_BATCH_SCHEDULE_DELAY,
    OTEL_ENABLED,
    OTEL_LOGS_CAPTURE,
    OTEL_METRICS_PROMETHEUS,
    OTEL_PARENT_BASED,
    OTEL_SHUTDOWN_TIMEOUT_SECS,
    default_of,
)
from llm_infra.secrets import MASK, Secret

ExporterKind = Literal["otlp", "console", "memory", "none"]
OtlpProtocol = Literal["http/protobuf", "grpc"]
Compression = Literal["none", "gzip", "deflate"]

DEFAULT_OTLP_HTTP_ENDPOINT: str = default_of(OTEL_EXPORTER_OTLP_ENDPOINT)
"""OTLP over HTTP listens on 4318."""
DEFAULT_OTLP_GRPC_ENDPOINT = "http://localhost:4317"
"""OTLP over gRPC listens on 4317."""

DROPPED_SPANS_METRIC = "llm_infra.otel.spans.dropped"
"""Counter of spans the span buffer gave up on, by ``reason`` (queue_full, export_failed, shutdown)."""
EXPORTED_SPANS_METRIC = "llm_infra.otel.spans.exported"
"""Counter of spans the exporter accepted."""

GRPC_EXPORTER_PIP = "pip install opentelemetry-exporter-otlp-proto-grpc"
_GRPC_MODULE = "opentelemetry.exporter.otlp.proto.grpc"
_SIGNAL_SUFFIXES = ("/v1/traces", "/v1/metrics", "/v1/logs")
_DEFAULT_PROTOCOL: OtlpProtocol = default_of(OTEL_EXPORTER_OTLP_PROTOCOL)
_DEFAULT_TIMEOUT: float = default_of(OTEL_EXPORTER_OTLP_TIMEOUT_SECS)
_DEFAULT_COMPRESSION: Compression = default_of(OTEL_EXPORTER_OTLP_COMPRESSION)
_DEFAULT_PRETTY: bool = default_of(OTEL_EXPORTER_STDOUT_PRETTY)

# Standard OpenTelemetry environment variables honoured by ``OtelConfig()`` and ``from_config``.
ENV_SDK_DISABLED = "OTEL_SDK_DISABLED"
"""``true`` turns the SDK off: spans and metrics stay no-ops."""
ENV_SERVICE_NAME = "OTEL_SERVICE_NAME"
"""Overrides ``otel.service.name``."""
ENV_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
"""``key=value,key2=value2`` (values percent-decoded), merged over ``otel.resource.attributes``."""
ENV_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
"""``otlp``, ``console`` or ``none``."""
ENV_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
"""``always_on``, ``always_off``, ``traceidratio`` or their ``parentbased_`` forms."""
ENV_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
"""The ratio for the ``traceidratio`` samplers."""
ENV_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""Base endpoint; the signal paths ``/v1/traces`` etc. are appended for HTTP."""
ENV_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""Full URL for traces only (used as is)."""
ENV_OTLP_METRICS_ENDPOINT = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
"""Full URL for metrics only (used as is)."""
ENV_OTLP_LOGS_ENDPOINT = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
"""Full URL for logs only (used as is)."""
ENV_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
"""``http/protobuf`` or ``grpc``."""
ENV_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
"""``key=value,...`` headers sent with every export (values become ``Secret``)."""
ENV_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
"""Export timeout in milliseconds."""
ENV_OTLP_COMPRESSION = "OTEL_EXPORTER_OTLP_COMPRESSION"
"""``gzip``, ``deflate`` or ``none``."""
ENV_BSP_MAX_QUEUE_SIZE = "OTEL_BSP_MAX_QUEUE_SIZE"
"""Bounded span queue size."""
ENV_BSP_SCHEDULE_DELAY = "OTEL_BSP_SCHEDULE_DELAY"
"""Delay between two exports, in milliseconds."""
ENV_BSP_MAX_EXPORT_BATCH_SIZE = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
"""Spans per export request."""
ENV_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
"""Periodic metric export interval, in milliseconds."""


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}", key=name)


def _normalize_headers(
    headers: Mapping[str, str | Secret[str]] | None,
) -> tuple[tuple[str, Secret[str]], ...]:
    out: list[tuple[str, Secret[str]]] = []
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"invalid exporter header name {name!r}", key="otel.exporter.otlp.headers")
        secret = value if isinstance(value, Secret) else Secret(str(value))
        out.append((name.strip().lower(), secret))
    return tuple(sorted(out, key=lambda item: item[0]))


def _strip_signal_path(endpoint: str) -> str:
    endpoint = endpoint.rstrip("/")
    for suffix in _SIGNAL_SUFFIXES:
        if endpoint.endswith(suffix):
            return endpoint[: -len(suffix)]
    return endpoint


def grpc_exporter_available() -> bool:
    """Whether ``opentelemetry-exporter-otlp-proto-grpc`` is importable."""
    try:
        return importlib.util.find_spec(_GRPC_MODULE) is not None
    except (ImportError, ValueError):  # blocked in sys.modules, or a broken parent package
        return False


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ExporterConfig:
    """Where telemetry goes. Build it with ``otlp()``, ``console()``, ``memory()`` or ``none()``.

    One exporter config serves all three signals (traces, metrics, logs).

    Attributes:
        kind: ``otlp``, ``console``, ``memory`` (tests) or ``none``.
        endpoint: OTLP base endpoint (HTTP: ``/v1/traces`` etc. are appended; gRPC: host and port).
        protocol: ``http/protobuf`` (port 4318) or ``grpc`` (port 4317).
        headers: sent with every export; values are kept as ``Secret`` and masked in ``repr``.
        timeout: seconds per export request.
        compression: ``none``, ``gzip`` or ``deflate`` (HTTP only).
        pretty: console only: indent the JSON.
        traces_endpoint: full URL for traces, overriding ``endpoint`` for that signal.
        metrics_endpoint: full URL for metrics, overriding ``endpoint`` for that signal.
        logs_endpoint: full URL for logs, overriding ``endpoint`` for that signal.
        stream: console only: where to write (``sys.stdout`` when None).

    .. versionadded:: 0.1.0
    """

    kind: ExporterKind = "otlp"
    endpoint: str = DEFAULT_OTLP_HTTP_ENDPOINT
    protocol: OtlpProtocol = _DEFAULT_PROTOCOL
    headers: tuple[tuple[str, Secret[str]], ...] = ()
    timeout: float = _DEFAULT_TIMEOUT
    compression: Compression = _DEFAULT_COMPRESSION
    pretty: bool = _DEFAULT_PRETTY
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    logs_endpoint: str | None = None
    stream: IO[str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("otlp", "console", "memory", "none"):
            raise ConfigError(
                f"unknown exporter kind {self.kind!r}; expected otlp, console, memory or none",
                key="otel.exporter.type",
            )
        if self.protocol not in ("http/protobuf", "grpc"):
            raise ConfigError(
                f"unsupported OTLP protocol {self.protocol!r}; expected 'http/protobuf' or 'grpc'",
                key="otel.exporter.otlp.protocol",
            )
        if self.compression not in ("none", "gzip", "deflate"):
            raise ConfigError(
                f"unsupported compression {self.compression!r}; expected none, gzip or deflate",
                key="otel.exporter.otlp.compression",
            )
        _check_positive("otel.exporter.otlp.timeout_secs", self.timeout)
        if self.kind == "otlp":
            for url in (self.endpoint, self.traces_endpoint, self.metrics_endpoint, self.logs_endpoint):
                if url is None:
                    continue
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ConfigError(
                        f"OTLP endpoint must be an http(s) URL with a host, got {url!r}",
                        key="otel.exporter.otlp.endpoint",
                        remediation=["Use http://localhost:4318 (HTTP) or http://localhost:4317 (gRPC)."],
                    )
            if self.protocol == "grpc" and not grpc_exporter_available():
                raise ConfigError(
                    f"the OTLP gRPC exporter is not installed; run: {GRPC_EXPORTER_PIP}",
                    code="config.missing_extra",
                    key="otel.exporter.otlp.protocol",
                    remediation=[GRPC_EXPORTER_PIP, "or use protocol='http/protobuf' (port 4318)"],
                )

    def __repr__(self) -> str:
        if self.kind != "otlp":
            extra = f", pretty={self.pretty!r}" if self.kind == "console" else ""
            return f"ExporterConfig(kind={self.kind!r}{extra})"
        headers = {name: MASK for name, _ in self.headers}
        return (
            f"ExporterConfig(kind='otlp', endpoint={self.endpoint!r}, protocol={self.protocol!r}, "
            f"headers={headers!r}, timeout={self.timeout!r}, compression={self.compression!r})"
        )

    @classmethod
    def otlp(
        cls,
        endpoint: str | None = None,
        *,
        protocol: OtlpProtocol = _DEFAULT_PROTOCOL,
        headers: Mapping[str, str | Secret[str]] | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
        compression: Compression = _DEFAULT_COMPRESSION,
        traces_endpoint: str | None = None,
        metrics_endpoint: str | None = None,
        logs_endpoint: str | None = None,
    ) -> ExporterConfig:
        """Export over OTLP to a collector.

        Args:
            endpoint: base URL; defaults to ``http://localhost:4318`` (HTTP) or
                ``http://localhost:4317`` (gRPC). A trailing ``/v1/traces`` is accepted and stripped.
            protocol: ``http/protobuf`` or ``grpc`` (needs ``opentelemetry-exporter-otlp-proto-grpc``).
            headers: sent with every export (e.g. an API key); values may be ``Secret``.
            timeout: seconds per export request, retries included.
            compression: ``none``, ``gzip`` or ``deflate``.
            traces_endpoint: full URL for traces, used as is (likewise ``metrics_endpoint`` and
                ``logs_endpoint``).

        Raises:
            ConfigError: bad URL, protocol or compression, or gRPC requested but not installed.
        """
        if endpoint is None:
            endpoint = DEFAULT_OTLP_GRPC_ENDPOINT if protocol == "grpc" else DEFAULT_OTLP_HTTP_ENDPOINT
        return cls(
            kind="otlp",
            endpoint=_strip_signal_path(endpoint),
            protocol=protocol,
            headers=_normalize_headers(headers),
            timeout=timeout,
            compression=compression,
            traces_endpoint=traces_endpoint,
            metrics_endpoint=metrics_endpoint,
            logs_endpoint=logs_endpoint,
        )

    @classmethod
    def console(cls, pretty: bool = _DEFAULT_PRETTY, *, stream: IO[str] | None = None) -> ExporterConfig:
        """Print spans, metrics and logs as JSON (for debugging)."""
        return cls(kind="console", pretty=pretty, stream=stream)

    @classmethod
    def memory(cls) -> ExporterConfig:
        """Keep everything in memory (tests): read it back from the ``OtelGuard``."""
        return cls(kind="memory")

    @classmethod
    def none(cls) -> ExporterConfig:
        """Export nothing; spans are still created, so trace context still propagates."""
        return cls(kind="none")

    def signal_endpoint(self, signal: Literal["traces", "metrics", "logs"]) -> str:
        """The URL (HTTP) or target (gRPC) for one signal."""
        specific = {
            "traces": self.traces_endpoint,
            "metrics": self.metrics_endpoint,
            "logs": self.logs_endpoint,
        }[signal]
        if specific is not None:
            return specific
        if self.protocol == "grpc":
            return self.endpoint
        return f"{self.endpoint}/v1/{signal}"

    def revealed_headers(self) -> dict[str, str]:
        """The headers with their values revealed, for the exporter only."""
        return {name: value.reveal() for name, value in self.headers}


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    """The bounded span buffer between the application and the exporter.

    Attributes:
        max_queue_size: spans held while the exporter is slow or down; beyond it new spans are
            dropped (and counted), never blocking the caller.
        max_export_batch_size: spans per export request.
        schedule_delay: seconds between two exports when the queue is not full.
        max_export_attempts: attempts per batch before it is dropped (and counted).
        retry_backoff: seconds before the first re-attempt; doubles on each one.

    .. versionadded:: 0.1.0
    """

    max_queue_size: int = default_of(OTEL_BATCH_MAX_QUEUE_SIZE)
    max_export_batch_size: int = default_of(OTEL_BATCH_MAX_EXPORT_BATCH_SIZE)
    schedule_delay: float = default_of(OTEL_BATCH_SCHEDULE_DELAY)
    max_export_attempts: int = default_of(OTEL_BATCH_MAX_EXPORT_ATTEMPTS)
    retry_backoff: float = default_of(OTEL_BATCH_RETRY_BACKOFF)

    def __post_init__(self) -> None:
        for name in ("max_queue_size", "max_export_batch_size", "max_export_attempts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}", key=f"otel.batch.{name}")
        if self.max_export_batch_size > self.max_queue_size:
            raise ConfigError(
                "max_export_batch_size must not exceed max_queue_size",
                key="otel.batch.max_export_batch_size",
            )
        _check_positive("otel.batch.schedule_delay", self.schedule_delay)
        _check_positive("otel.batch.retry_backoff", self.retry_backoff)


AttributeValue = str | bool | int | float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class OtelConfig:
    """Everything ``init_otel`` needs.

    Fields left out take the standard ``OTEL_*`` environment variables first (as the
    OpenTelemetry SDK does: ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
    ``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_*`` including the per-signal endpoints,
    ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_SDK_DISABLED``),
    then the defaults of the ``otel.*`` keys. ``OtelConfig()`` with only ``OTEL_SERVICE_NAME`` set
    is a complete configuration.

    Attributes:
        service_name: ``service.name`` (required: given, or ``OTEL_SERVICE_NAME``).
        service_version: ``service.version``.
        namespace: ``service.namespace``.
        environment: ``deployment.environment`` (``development`` by default).
        exporter: where traces, metrics and logs go (OTLP over HTTP to localhost:4318 by default).
        sampling_ratio: fraction of new traces recorded, 0.0 to 1.0.
        parent_based: follow the sampling decision of an incoming parent span.
        resource_attributes: extra resource attributes.
        metric_export_interval: seconds between two periodic metric exports.
        prometheus: expose metrics for ``metrics_exposition()`` (a ``/metrics`` endpoint).
        capture_logs: forward the root logger's records to the OpenTelemetry log pipeline.
        batch: the bounded span buffer.
        shutdown_timeout: seconds ``OtelGuard.shutdown`` may spend flushing.
        enabled: False installs nothing (``OTEL_SDK_DISABLED=true``).

    .. versionadded:: 0.1.0
    """

    service_name: str = field(default_factory=lambda: env_default("service_name", ""))
    service_version: str | None = None
    namespace: str | None = None
    environment: str = default_of(OTEL_ENVIRONMENT)
    exporter: ExporterConfig = field(default_factory=lambda: env_default("exporter", None))
    sampling_ratio: float = field(
        default_factory=lambda: env_default("sampling_ratio", default_of(OTEL_SAMPLING_RATIO))
    )
    parent_based: bool = field(
        default_factory=lambda: env_default("parent_based", default_of(OTEL_PARENT_BASED))
    )
    resource_attributes: Mapping[str, AttributeValue] = field(
        default_factory=lambda: env_default("resource_attributes", {})
    )
    metric_export_interval: float = field(
        default_factory=lambda: env_default(
            "metric_export_interval", default_of(OTEL_METRICS_EXPORT_INTERVAL_SECS)
        )
    )
    prometheus: bool = default_of(OTEL_METRICS_PROMETHEUS)
    capture_logs: bool = default_of(OTEL_LOGS_CAPTURE)
    batch: BatchSettings = field(default_factory=lambda: env_default("batch", None))
    shutdown_timeout: float = default_of(OTEL_SHUTDOWN_TIMEOUT_SECS)
    enabled: bool = field(default_factory=lambda: env_default("enabled", default_of(OTEL_ENABLED)))

    def __post_init__(self) -> None:
        if not isinstance(self.service_name, str) or not self.service_name.strip():
            raise ConfigError(
                "otel.service.name is required and must be a non-empty string",
                key="otel.service.name",
                remediation=["Set otel.service.name in the config, or OTEL_SERVICE_NAME in the environment."],
            )
        ratio = self.sampling_ratio
        if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0.0 <= ratio <= 1.0:
            raise ConfigError(
                f"sampling_ratio must be between 0.0 and 1.0, got {ratio!r}", key="otel.sampling_ratio"
            )
        if not isinstance(self.exporter, ExporterConfig):
            raise ConfigError("exporter must be an ExporterConfig", key="otel.exporter.type")
        _check_positive("otel.metrics.export_interval_secs", self.metric_export_interval)
        _check_positive("otel.shutdown_timeout_secs", self.shutdown_timeout)
        for key, value in self.resource_attributes.items():
            if not isinstance(key, str) or not isinstance(value, str | bool | int | float):
                raise ConfigError(
                    f"resource attribute {key!r} must map a string to a str/bool/int/float",
                    key="otel.resource.attributes",
                )
        # A private copy, so that mutating the caller's dict later changes nothing.
        object.__setattr__(self, "resource_attributes", dict(self.resource_attributes))

    def resource(self) -> dict[str, AttributeValue]:
        """The resource attributes: extras first, then the service identity on top."""
        attrs: dict[str, AttributeValue] = dict(self.resource_attributes)
        attrs["service.name"] = self.service_name
        if self.service_version:
            attrs["service.version"] = self.service_version
        if self.namespace:
            attrs["service.namespace"] = self.namespace
        attrs["deployment.environment"] = self.environment
        attrs["deployment.environment.name"] = self.environment
        return attrs

    @classmethod
    def from_config(
        cls, cfg: Any, *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> OtelConfig:
        """Read the ``otel.*`` keys of a config, then apply the standard ``OTEL_*`` variables.

        Keys: ``otel.service.name`` (required), ``otel.service.version``, ``otel.service.namespace``,
        ``otel.environment``, ``otel.exporter.type`` (``otlp``/``jaeger``/``stdout``/``console``/
        ``memory``/``none``), ``otel.exporter.otlp.endpoint``/``.protocol``/``.headers``/
        ``.timeout_secs``/``.compression``, ``otel.exporter.jaeger.endpoint`` (Jaeger ingests OTLP),
        ``otel.exporter.stdout.pretty``, ``otel.resource.attributes``, ``otel.sampling_ratio``,
        ``otel.parent_based``, ``otel.metrics.export_interval_secs``, ``otel.metrics.prometheus``,
        ``otel.logs.capture``, ``otel.batch.*`` (``BatchSettings`` fields), ``otel.enabled``.
        Unset keys take ``OtelConfig``'s defaults: OTLP over ``http/protobuf`` to
        ``http://localhost:4318`` (the exporter llm-infra ships; set the protocol to ``grpc`` and
        the endpoint to port 4317 for gRPC).

        The ``OTEL_*`` variables (``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ...) win
        over the config, as operators expect; explicit ``overrides`` win over both.

        Args:
            cfg: a ``llm_infra.config.Config`` (anything with ``get(name, default)``), or a nested dict.
            environ: the environment to read (``os.environ`` when None).
            **overrides: ``OtelConfig`` fields set explicitly.

        Raises:
            ConfigError: a missing service name or any invalid value, naming the key.
        """
        from llm_infra.otel._settings import build

        env = os.environ if environ is None else environ
        return build(cls, cfg, env, overrides)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> OtelConfig:
        """The configuration the standard ``OTEL_*`` variables describe (no ``Config`` needed).

        ``OTEL_SERVICE_NAME`` alone is enough; unset settings take the ``otel.*`` key defaults.

        Args:
            environ: the environment to read (``os.environ`` when None).
            **overrides: ``OtelConfig`` fields set explicitly (they win).

        Raises:
            ConfigError: no service name, or an invalid variable (named in the error).
        """
        return cls.from_config(None, environ=environ, **overrides)


# --- reading config and environment ----------------------------------------------------------------

_MISSING: Any = object()


def cfg_get(cfg: Any, key: str, default: Any = None, *, reveal: bool = True) -> Any:
    """Read a dotted key from a ``Config``-like object (``get(name, default)``) or a nested mapping.

    A ``Secret`` value is revealed when ``reveal`` is true (and the key is not a ``headers`` table).
    """
    if cfg is None:
        return default
    value = _MISSING
    getter = getattr(cfg, "get", None)
    if getter is not None:
        try:
            value = getter(key, _MISSING)
        except (KeyError, LookupError, TypeError):
            value = _MISSING
    if value is _MISSING and isinstance(cfg, Mapping):
        node: Any = cfg
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        value = node
    if value is _MISSING:
        return default
    if reveal and isinstance(value, Secret) and not key.endswith("headers"):
        return value.reveal()
    return value


def parse_pairs(text: str, key: str) -> dict[str, str]:
    """Parse ``k=v,k2=v2`` (the OTEL_* list format; values are percent-decoded)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(
                f"malformed {key} entry {item.strip()!r}; expected key=value",
                key=key,
                code=codes.INVALID_SETTING,
            )
        out[unquote(name.strip())] = unquote(value.strip())
    return out


def env_default(name: str, default: Any) -> Any:
    """The default of one ``OtelConfig`` field: from the ``OTEL_*`` variables, else ``default``."""
    from llm_infra.otel._settings import fields_from

    return fields_from(None, os.environ).get(name, default)
