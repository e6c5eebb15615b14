"""The ``otel.*`` configuration keys: every OpenTelemetry setting and its one default.

The service, exporter, sampling and metric keys are the shared ones of ``llm_infra.config``
(``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_TIMEOUT_SECS``, ...), which owns and exports them;
the keys below are the rest. ``OTEL_KEYS`` lists both, and ``SETTING_KEYS`` names the ``OtelConfig``
setting each scalar key sets.
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
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TIMEOUT_SECS,
    OTEL_EXPORTER_STDOUT_PRETTY,
    OTEL_EXPORTER_TYPE,
    OTEL_METRICS_EXPORT_INTERVAL_SECS,
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


SETTING_KEYS: dict[str, Key[Any]] = {
    "service_name": OTEL_SERVICE_NAME,
    "service_version": OTEL_SERVICE_VERSION,
    "namespace": OTEL_SERVICE_NAMESPACE,
    "environment": OTEL_ENVIRONMENT,
    "sampling_ratio": OTEL_SAMPLING_RATIO,
    "parent_based": OTEL_PARENT_BASED,
    "metric_export_interval": OTEL_METRICS_EXPORT_INTERVAL_SECS,
    "prometheus": OTEL_METRICS_PROMETHEUS,
    "capture_logs": OTEL_LOGS_CAPTURE,
    "enabled": OTEL_ENABLED,
    "shutdown_timeout": OTEL_SHUTDOWN_TIMEOUT_SECS,
    "batch.max_queue_size": OTEL_BATCH_MAX_QUEUE_SIZE,
    "batch.max_export_batch_size": OTEL_BATCH_MAX_EXPORT_BATCH_SIZE,
    "batch.schedule_delay": OTEL_BATCH_SCHEDULE_DELAY,
    "batch.max_export_attempts": OTEL_BATCH_MAX_EXPORT_ATTEMPTS,
    "batch.retry_backoff": OTEL_BATCH_RETRY_BACKOFF,
    "exporter.kind": OTEL_EXPORTER_TYPE,
    "exporter.endpoint": OTEL_EXPORTER_OTLP_ENDPOINT,
    "exporter.protocol": OTEL_EXPORTER_OTLP_PROTOCOL,
    "exporter.timeout": OTEL_EXPORTER_OTLP_TIMEOUT_SECS,
    "exporter.compression": OTEL_EXPORTER_OTLP_COMPRESSION,
    "exporter.pretty": OTEL_EXPORTER_STDOUT_PRETTY,
    "exporter.jaeger_endpoint": OTEL_EXPORTER_JAEGER_ENDPOINT,
}
"""The key of each scalar setting ``OtelConfig`` is built from, by the field it sets (``batch.`` and
``exporter.`` name a part of its ``BatchSettings`` and ``ExporterConfig``); the two tables, resource
attributes and exporter headers, are read apart."""


def default_of(key: Key[Any]) -> Any:
    """The default of ``key`` (typed ``Any`` for dataclass field defaults)."""
    return key.default
