"""The ``otel.*`` configuration keys: every OpenTelemetry setting and its one default.

The service, exporter, sampling and metric keys are the shared ones of ``llm_infra.config``
(``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_TIMEOUT_SECS``, ...); the keys below are the rest.
``OtelConfig``, ``ExporterConfig`` and ``BatchSettings`` take their defaults from these keys,
so a setting has the same default whether it comes from ``OtelConfig()``, ``load_config()``
or ``ConfigLoader()``.
"""

from __future__ import annotations

from typing import Any

from llm_infra.config import (
    DESIGN_KEYS,
    OTEL_ENVIRONMENT,
    OTEL_EXPORTER_JAEGER_ENDPOINT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TIMEOUT_SECS,
    OTEL_EXPORTER_STDOUT_PRETTY,
    OTEL_EXPORTER_TYPE,
    OTEL_METRICS_EXPORT_INTERVAL_SECS,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SAMPLING_RATIO,
    OTEL_SERVICE_NAME,
    OTEL_SERVICE_NAMESPACE,
    OTEL_SERVICE_VERSION,
    Key,
    float_range,
    int_range,
)

OTEL_PARENT_BASED = Key(
    "otel.parent_based", cast=bool, default=True, doc="Follow the sampling decision of a parent span."
)
OTEL_METRICS_PROMETHEUS = Key(
    "otel.metrics.prometheus", cast=bool, default=True, doc="Expose metrics for a /metrics endpoint."
)
OTEL_LOGS_CAPTURE = Key(
    "otel.logs.capture", cast=bool, default=False, doc="Forward the root logger's records as OTel logs."
)
OTEL_ENABLED = Key("otel.enabled", cast=bool, default=True, doc="False installs nothing.")
OTEL_SHUTDOWN_TIMEOUT_SECS = Key(
    "otel.shutdown_timeout_secs", cast=float_range(0.001, None), default=5.0, doc="Flush time at shutdown, s."
)
OTEL_BATCH_MAX_QUEUE_SIZE = Key(
    "otel.batch.max_queue_size", cast=int_range(1, None), default=2048, doc="Spans held before dropping."
)
OTEL_BATCH_MAX_EXPORT_BATCH_SIZE = Key(
    "otel.batch.max_export_batch_size", cast=int_range(1, None), default=512, doc="Spans per export."
)
OTEL_BATCH_SCHEDULE_DELAY = Key(
    "otel.batch.schedule_delay", cast=float_range(0.001, None), default=5.0, doc="Seconds between exports."
)
OTEL_BATCH_MAX_EXPORT_ATTEMPTS = Key(
    "otel.batch.max_export_attempts", cast=int_range(1, None), default=3, doc="Attempts per batch."
)
OTEL_BATCH_RETRY_BACKOFF = Key(
    "otel.batch.retry_backoff", cast=float_range(0.001, None), default=1.0, doc="First re-attempt delay, s."
)

OTEL_KEYS: tuple[Key[Any], ...] = (
    *(key for key in DESIGN_KEYS if key.name.startswith("otel.")),
    OTEL_PARENT_BASED,
    OTEL_METRICS_PROMETHEUS,
    OTEL_LOGS_CAPTURE,
    OTEL_ENABLED,
    OTEL_SHUTDOWN_TIMEOUT_SECS,
    OTEL_BATCH_MAX_QUEUE_SIZE,
    OTEL_BATCH_MAX_EXPORT_BATCH_SIZE,
    OTEL_BATCH_SCHEDULE_DELAY,
    OTEL_BATCH_MAX_EXPORT_ATTEMPTS,
    OTEL_BATCH_RETRY_BACKOFF,
)
"""Every ``otel.*`` key ``OtelConfig.from_config`` reads."""


def default(key: Key[Any]) -> Any:
    """The default of ``key`` (typed ``Any`` for dataclass field defaults)."""
    return key.default


__all__ = [
    "OTEL_BATCH_MAX_EXPORT_ATTEMPTS",
    "OTEL_BATCH_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BATCH_MAX_QUEUE_SIZE",
    "OTEL_BATCH_RETRY_BACKOFF",
    "OTEL_BATCH_SCHEDULE_DELAY",
    "OTEL_ENABLED",
    "OTEL_ENVIRONMENT",
    "OTEL_EXPORTER_JAEGER_ENDPOINT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT_SECS",
    "OTEL_EXPORTER_STDOUT_PRETTY",
    "OTEL_EXPORTER_TYPE",
    "OTEL_KEYS",
    "OTEL_LOGS_CAPTURE",
    "OTEL_METRICS_EXPORT_INTERVAL_SECS",
    "OTEL_METRICS_PROMETHEUS",
    "OTEL_PARENT_BASED",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SAMPLING_RATIO",
    "OTEL_SERVICE_NAME",
    "OTEL_SERVICE_NAMESPACE",
    "OTEL_SERVICE_VERSION",
    "OTEL_SHUTDOWN_TIMEOUT_SECS",
    "default",
]
