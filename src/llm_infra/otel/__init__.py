"""OpenTelemetry for llm-infra: one call to set up traces, metrics and logs, and small helpers.

``init_otel(OtelConfig(...))`` installs the SDK (tracer, meter and logger providers, with OTLP,
console, memory or no exporter, a bounded retrying span buffer and a Prometheus reader) and returns
an ``OtelGuard`` that flushes and shuts everything down. Until then every helper here is a cheap
no-op, so libraries may instrument freely::

    with span("vector.search", k=10):
        ...
    counter("cache.hits").add(1)
    headers = inject({})            # W3C traceparent for an outgoing call
    parent = extract(request_headers)

``llm_span`` records LLM token usage and latency; ``enable_debug_mode()`` turns on verbose logging
with trace ids; ``metrics_exposition()`` renders ``/metrics``.
"""

from llm_infra.otel._config import DROPPED_SPANS_METRIC as DROPPED_SPANS_METRIC
from llm_infra.otel._config import BatchSettings as BatchSettings
from llm_infra.otel._config import ExporterConfig as ExporterConfig
from llm_infra.otel._config import OtelConfig as OtelConfig
from llm_infra.otel._logging import DEBUG_LOG_FORMAT as DEBUG_LOG_FORMAT
from llm_infra.otel._logging import TRACE_LOG_FORMAT as TRACE_LOG_FORMAT
from llm_infra.otel._logging import DebugMode as DebugMode
from llm_infra.otel._logging import OtelLogHandler as OtelLogHandler
from llm_infra.otel._logging import TraceContextFilter as TraceContextFilter
from llm_infra.otel._logging import enable_debug_mode as enable_debug_mode
from llm_infra.otel._metrics import LLM_TOKENS_METRIC as LLM_TOKENS_METRIC
from llm_infra.otel._metrics import LlmSpan as LlmSpan
from llm_infra.otel._metrics import counter as counter
from llm_infra.otel._metrics import histogram as histogram
from llm_infra.otel._metrics import llm_span as llm_span
from llm_infra.otel._metrics import record_llm_metrics as record_llm_metrics
from llm_infra.otel._metrics import up_down_counter as up_down_counter
from llm_infra.otel._propagation import extract as extract
from llm_infra.otel._propagation import inject as inject
from llm_infra.otel._runtime import get_meter as get_meter
from llm_infra.otel._runtime import get_tracer as get_tracer
from llm_infra.otel._setup import PROMETHEUS_CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE
from llm_infra.otel._setup import OtelGuard as OtelGuard
from llm_infra.otel._setup import init_otel as init_otel
from llm_infra.otel._setup import metrics_exposition as metrics_exposition
from llm_infra.otel._span import clean_attributes as clean_attributes
from llm_infra.otel._span import current_trace_ids as current_trace_ids
from llm_infra.otel._span import record_error as record_error
from llm_infra.otel._span import span as span

__all__ = [
    "BatchSettings",
    "DEBUG_LOG_FORMAT",
    "DROPPED_SPANS_METRIC",
    "DebugMode",
    "ExporterConfig",
    "LLM_TOKENS_METRIC",
    "LlmSpan",
    "OtelConfig",
    "OtelGuard",
    "OtelLogHandler",
    "PROMETHEUS_CONTENT_TYPE",
    "TRACE_LOG_FORMAT",
    "TraceContextFilter",
    "clean_attributes",
    "counter",
    "current_trace_ids",
    "enable_debug_mode",
    "extract",
    "get_meter",
    "get_tracer",
    "histogram",
    "init_otel",
    "inject",
    "llm_span",
    "metrics_exposition",
    "record_error",
    "record_llm_metrics",
    "span",
    "up_down_counter",
]
