"""The shared configuration keys (vector.*, http.*, otel.*) as ``Key`` constants, and their docs table.

Run ``python -m llm_infra.config._gen_keys docs/config.md`` to regenerate the table in the docs
(between the ``keys:start``/``keys:end`` markers); a test fails when it is out of date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from llm_infra import __version__
from llm_infra.config._casts import float_range, int_range, one_of, str_map
from llm_infra.config._key import Key
from llm_infra.resilience import RetryPolicy

# The HTTP client's defaults are these keys' defaults (``llm_infra.http`` reads them from here).
_RETRY = RetryPolicy()

# --------------------------------------------------------------------------- vector.*

VECTOR_COLLECTION = Key("vector.collection", cast=str, doc="Collection name for the vector store.")
"""``vector.collection`` (str, required): collection name for the vector store."""

VECTOR_DIMENSIONS = Key("vector.dimensions", cast=int_range(1, 65536), doc="Vector dimensions.")
"""``vector.dimensions`` (int in [1, 65536], required): vector dimensions."""

VECTOR_DISTANCE = Key(
    "vector.distance",
    cast=one_of("cosine", "l2", "dot", aliases={"euclidean": "l2", "inner_product": "dot", "ip": "dot"}),
    default="cosine",
    doc="Distance metric ('euclidean' is read as 'l2', 'inner_product' as 'dot').",
)
"""``vector.distance`` (``'cosine' | 'l2' | 'dot'``, default ``'cosine'``): distance metric."""

VECTOR_HNSW_M = Key("vector.hnsw.m", cast=int_range(2, 256), default=16, doc="HNSW M (graph degree).")
"""``vector.hnsw.m`` (int, default 16): HNSW M parameter."""

VECTOR_HNSW_EF_CONSTRUCTION = Key(
    "vector.hnsw.ef_construction", cast=int_range(1, 100_000), default=200, doc="HNSW ef_construction."
)
"""``vector.hnsw.ef_construction`` (int, default 200)."""

VECTOR_HNSW_EF_SEARCH = Key(
    "vector.hnsw.ef_search", cast=int_range(1, 100_000), default=100, doc="HNSW ef_search (query-time beam)."
)
"""``vector.hnsw.ef_search`` (int, default 100)."""

VECTOR_COMPRESSION_ENABLED = Key(
    "vector.compression.enabled", cast=bool, default=False, doc="Store vectors compressed."
)
"""``vector.compression.enabled`` (bool, default false, as the store's own default)."""

# --------------------------------------------------------------------------- http.*

HTTP_TIMEOUT_SECS = Key(
    "http.timeout_secs", cast=float_range(0.0, None), default=30.0, doc="Request timeout in seconds."
)
"""``http.timeout_secs`` (float, default 30)."""

HTTP_MAX_RETRIES = Key(
    "http.max_retries",
    cast=int_range(0, 100),
    default=_RETRY.max_attempts - 1,
    doc="Retries after the first attempt.",
)
"""``http.max_retries`` (int, default 2: three attempts in all)."""

HTTP_RETRY_DELAY_MS = Key(
    "http.retry_delay_ms",
    cast=int_range(0, None),
    default=round(_RETRY.base_delay * 1000),
    doc="Base delay between retries, ms.",
)
"""``http.retry_delay_ms`` (int, default 100)."""

HTTP_USER_AGENT = Key(
    "http.user_agent", cast=str, default=f"llm-infra/{__version__}", doc="User-Agent header."
)
"""``http.user_agent`` (str, default ``llm-infra/<version>``)."""

# --------------------------------------------------------------------------- otel.*

OTEL_SERVICE_NAME = Key("otel.service.name", cast=str, doc="service.name resource attribute.")
"""``otel.service.name`` (str, required)."""

OTEL_SERVICE_VERSION = Key("otel.service.version", cast=str, default=None, doc="service.version attribute.")
"""``otel.service.version`` (str, optional)."""

OTEL_SERVICE_NAMESPACE = Key(
    "otel.service.namespace", cast=str, default=None, doc="service.namespace attribute."
)
"""``otel.service.namespace`` (str, optional)."""

OTEL_ENVIRONMENT = Key(
    "otel.environment", cast=str, default="development", doc="deployment.environment attribute."
)
"""``otel.environment`` (str, default ``development``)."""

OTEL_SAMPLING_RATIO = Key(
    "otel.sampling_ratio", cast=float_range(0.0, 1.0), default=1.0, doc="Fraction of traces sampled."
)
"""``otel.sampling_ratio`` (float in [0, 1], default 1.0)."""

OTEL_EXPORTER_TYPE = Key(
    "otel.exporter.type",
    cast=one_of(
        "otlp", "jaeger", "stdout", "memory", "none", aliases={"console": "stdout", "logging": "stdout"}
    ),
    default="otlp",
    doc="Exporter ('console' is read as 'stdout'; 'memory' keeps everything in memory, for tests).",
)
"""``otel.exporter.type`` (``'otlp' | 'jaeger' | 'stdout' | 'memory' | 'none'``, default ``otlp``)."""

OTEL_EXPORTER_OTLP_ENDPOINT = Key(
    "otel.exporter.otlp.endpoint",
    cast=str,
    default="http://localhost:4318",
    doc="OTLP collector endpoint (4318 OTLP/HTTP, 4317 gRPC).",
)
"""``otel.exporter.otlp.endpoint`` (str, default ``http://localhost:4318``, the OTLP/HTTP port).

The default protocol is OTLP/HTTP, which needs no extra gRPC package; set the protocol to
``grpc`` and the endpoint to port 4317 for gRPC."""

OTEL_EXPORTER_OTLP_PROTOCOL = Key(
    "otel.exporter.otlp.protocol",
    cast=one_of("grpc", "http/protobuf"),
    default="http/protobuf",
    doc="OTLP protocol.",
)
"""``otel.exporter.otlp.protocol`` (``'grpc' | 'http/protobuf'``, default ``http/protobuf``)."""

OTEL_EXPORTER_OTLP_HEADERS = Key(
    "otel.exporter.otlp.headers",
    cast=str_map,
    default=None,
    secret=True,
    doc="Headers sent to the collector (often an API key): a table or 'k=v,k2=v2'.",
)
"""``otel.exporter.otlp.headers`` (secret map, optional)."""

OTEL_EXPORTER_OTLP_TIMEOUT_SECS = Key(
    "otel.exporter.otlp.timeout_secs",
    cast=float_range(0.001, None),
    default=10.0,
    doc="Export timeout, s (OTEL_EXPORTER_OTLP_TIMEOUT's default).",
)
"""``otel.exporter.otlp.timeout_secs`` (float, default 10, as ``OTEL_EXPORTER_OTLP_TIMEOUT``)."""

OTEL_EXPORTER_OTLP_COMPRESSION = Key(
    "otel.exporter.otlp.compression",
    cast=one_of("none", "gzip", "deflate"),
    default="none",
    doc="OTLP compression ('deflate': HTTP only).",
)
"""``otel.exporter.otlp.compression`` (``'none' | 'gzip' | 'deflate'``, default ``none``)."""

OTEL_EXPORTER_JAEGER_ENDPOINT = Key(
    "otel.exporter.jaeger.endpoint",
    cast=str,
    default=None,
    doc="Jaeger endpoint (required when otel.exporter.type is 'jaeger').",
)
"""``otel.exporter.jaeger.endpoint`` (str; required with the jaeger exporter)."""

OTEL_EXPORTER_STDOUT_PRETTY = Key(
    "otel.exporter.stdout.pretty", cast=bool, default=True, doc="Pretty-print spans on stdout."
)
"""``otel.exporter.stdout.pretty`` (bool, default true)."""

_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})

OTEL_RESOURCE_ATTRIBUTES = Key(
    "otel.resource.attributes",
    cast=str_map,
    default=_NO_ATTRIBUTES,
    doc="Extra resource attributes (table or 'k=v,...').",
)
"""``otel.resource.attributes`` (map, default empty)."""

OTEL_METRICS_EXPORT_INTERVAL_SECS = Key(
    "otel.metrics.export_interval_secs",
    cast=float_range(0.001, None),
    default=60.0,
    doc="Metric export interval, s.",
)
"""``otel.metrics.export_interval_secs`` (float, default 60)."""

DESIGN_KEYS: tuple[Key[Any], ...] = (
    VECTOR_COLLECTION,
    VECTOR_DIMENSIONS,
    VECTOR_DISTANCE,
    VECTOR_HNSW_M,
    VECTOR_HNSW_EF_CONSTRUCTION,
    VECTOR_HNSW_EF_SEARCH,
    VECTOR_COMPRESSION_ENABLED,
    HTTP_TIMEOUT_SECS,
    HTTP_MAX_RETRIES,
    HTTP_RETRY_DELAY_MS,
    HTTP_USER_AGENT,
    OTEL_SERVICE_NAME,
    OTEL_SERVICE_VERSION,
    OTEL_SERVICE_NAMESPACE,
    OTEL_ENVIRONMENT,
    OTEL_SAMPLING_RATIO,
    OTEL_EXPORTER_TYPE,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT_SECS,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_JAEGER_ENDPOINT,
    OTEL_EXPORTER_STDOUT_PRETTY,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_METRICS_EXPORT_INTERVAL_SECS,
)
"""Every shared key (vector.*, http.*, otel.*), in documentation order."""

TABLE_START = "<!-- keys:start (generated by `python -m llm_infra.config._gen_keys docs/config.md`) -->"
TABLE_END = "<!-- keys:end -->"


def key_table(keys: Iterable[Key[Any]] = DESIGN_KEYS, *, prefix: str = "LLM_") -> str:
    """A Markdown table of keys: name, environment variable, type, default, description.

    .. versionadded:: 0.1.0
    """
    rows = [
        "| Key | Environment variable | Type | Default | Description |",
        "|---|---|---|---|---|",
    ]
    for key in keys:
        cells = [
            f"`{key.name}`",
            f"`{key.env_var(prefix)}`",
            key.type_name.replace("|", "\\|"),
            "required" if key.required else ("unset" if key.default is None else f"`{key.default_repr()}`"),
            key.doc.replace("|", "\\|"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def render_doc(text: str, keys: Iterable[Key[Any]] = DESIGN_KEYS) -> str:
    """``text`` with the region between the table markers replaced by a fresh ``key_table``."""
    start = text.index(TABLE_START) + len(TABLE_START)
    end = text.index(TABLE_END)
    return text[:start] + "\n" + key_table(keys) + text[end:]
