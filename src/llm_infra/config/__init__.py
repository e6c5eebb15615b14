"""Layered configuration: typed keys, provenance, secrets, validation and hot reload.

Sources merge later-wins: ``DefaultsSource`` < ``FileSource`` (TOML, JSON, YAML) <
``EnvSource`` (``LLM_`` prefix, ``__`` nests, a single ``_`` when unambiguous) < ``DictSource``
overrides. The result is an immutable ``Config``::

    >>> from llm_infra.config import ConfigLoader, VECTOR_DIMENSIONS
    >>> cfg = ConfigLoader().with_env(environ={"LLM_VECTOR_DIMENSIONS": "1536"}).load()
    >>> cfg.get(VECTOR_DIMENSIONS)
    1536
    >>> str(cfg.explain("vector.dimensions").origin)
    'env LLM_VECTOR_DIMENSIONS'

``${env:NAME}`` and ``${file:/path}`` values become ``Secret``; ``ConfigWatcher`` reloads on file
changes and swaps snapshots atomically. The shared keys (vector.*, http.*, otel.*) are
exported as constants (``VECTOR_DIMENSIONS``, ``HTTP_TIMEOUT_SECS``, ...) and listed in
``DESIGN_KEYS``; docs/config.md holds their generated table.
"""

from llm_infra.config._casts import float_range as float_range
from llm_infra.config._casts import int_range as int_range
from llm_infra.config._casts import list_of as list_of
from llm_infra.config._casts import one_of as one_of
from llm_infra.config._casts import str_map as str_map
from llm_infra.config._config import Config as Config
from llm_infra.config._config import Explanation as Explanation
from llm_infra.config._config import LoadInfo as LoadInfo
from llm_infra.config._key import MISSING as MISSING
from llm_infra.config._key import Key as Key
from llm_infra.config._keys import DESIGN_KEYS as DESIGN_KEYS
from llm_infra.config._keys import HTTP_MAX_RETRIES as HTTP_MAX_RETRIES
from llm_infra.config._keys import HTTP_RETRY_DELAY_MS as HTTP_RETRY_DELAY_MS
from llm_infra.config._keys import HTTP_TIMEOUT_SECS as HTTP_TIMEOUT_SECS
from llm_infra.config._keys import HTTP_USER_AGENT as HTTP_USER_AGENT
from llm_infra.config._keys import OTEL_ENVIRONMENT as OTEL_ENVIRONMENT
from llm_infra.config._keys import OTEL_EXPORTER_JAEGER_ENDPOINT as OTEL_EXPORTER_JAEGER_ENDPOINT
from llm_infra.config._keys import OTEL_EXPORTER_OTLP_COMPRESSION as OTEL_EXPORTER_OTLP_COMPRESSION
from llm_infra.config._keys import OTEL_EXPORTER_OTLP_ENDPOINT as OTEL_EXPORTER_OTLP_ENDPOINT
from llm_infra.config._keys import OTEL_EXPORTER_OTLP_HEADERS as OTEL_EXPORTER_OTLP_HEADERS
from llm_infra.config._keys import OTEL_EXPORTER_OTLP_PROTOCOL as OTEL_EXPORTER_OTLP_PROTOCOL
from llm_infra.config._keys import OTEL_EXPORTER_OTLP_TIMEOUT_SECS as OTEL_EXPORTER_OTLP_TIMEOUT_SECS
from llm_infra.config._keys import OTEL_EXPORTER_STDOUT_PRETTY as OTEL_EXPORTER_STDOUT_PRETTY
from llm_infra.config._keys import OTEL_EXPORTER_TYPE as OTEL_EXPORTER_TYPE
from llm_infra.config._keys import OTEL_METRICS_EXPORT_INTERVAL_SECS as OTEL_METRICS_EXPORT_INTERVAL_SECS
from llm_infra.config._keys import OTEL_RESOURCE_ATTRIBUTES as OTEL_RESOURCE_ATTRIBUTES
from llm_infra.config._keys import OTEL_SAMPLING_RATIO as OTEL_SAMPLING_RATIO
from llm_infra.config._keys import OTEL_SERVICE_NAME as OTEL_SERVICE_NAME
from llm_infra.config._keys import OTEL_SERVICE_NAMESPACE as OTEL_SERVICE_NAMESPACE
from llm_infra.config._keys import OTEL_SERVICE_VERSION as OTEL_SERVICE_VERSION
from llm_infra.config._keys import VECTOR_COLLECTION as VECTOR_COLLECTION
from llm_infra.config._keys import VECTOR_COMPRESSION_ENABLED as VECTOR_COMPRESSION_ENABLED
from llm_infra.config._keys import VECTOR_DIMENSIONS as VECTOR_DIMENSIONS
from llm_infra.config._keys import VECTOR_DISTANCE as VECTOR_DISTANCE
from llm_infra.config._keys import VECTOR_HNSW_EF_CONSTRUCTION as VECTOR_HNSW_EF_CONSTRUCTION
from llm_infra.config._keys import VECTOR_HNSW_EF_SEARCH as VECTOR_HNSW_EF_SEARCH
from llm_infra.config._keys import VECTOR_HNSW_M as VECTOR_HNSW_M
from llm_infra.config._loader import ConfigLoader as ConfigLoader
from llm_infra.config._loader import load_config as load_config
from llm_infra.config._sources import DefaultsSource as DefaultsSource
from llm_infra.config._sources import DictSource as DictSource
from llm_infra.config._sources import EnvSource as EnvSource
from llm_infra.config._sources import FileSource as FileSource
from llm_infra.config._sources import Layer as Layer
from llm_infra.config._sources import LoadContext as LoadContext
from llm_infra.config._sources import Origin as Origin
from llm_infra.config._sources import Source as Source
from llm_infra.config._watch import ConfigReload as ConfigReload
from llm_infra.config._watch import ConfigWatcher as ConfigWatcher

__all__ = [
    "Config",
    "ConfigLoader",
    "ConfigReload",
    "ConfigWatcher",
    "DESIGN_KEYS",
    "DefaultsSource",
    "DictSource",
    "EnvSource",
    "Explanation",
    "FileSource",
    "HTTP_MAX_RETRIES",
    "HTTP_RETRY_DELAY_MS",
    "HTTP_TIMEOUT_SECS",
    "HTTP_USER_AGENT",
    "Key",
    "Layer",
    "LoadContext",
    "LoadInfo",
    "MISSING",
    "OTEL_ENVIRONMENT",
    "OTEL_EXPORTER_JAEGER_ENDPOINT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT_SECS",
    "OTEL_EXPORTER_STDOUT_PRETTY",
    "OTEL_EXPORTER_TYPE",
    "OTEL_METRICS_EXPORT_INTERVAL_SECS",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SAMPLING_RATIO",
    "OTEL_SERVICE_NAME",
    "OTEL_SERVICE_NAMESPACE",
    "OTEL_SERVICE_VERSION",
    "Origin",
    "Source",
    "VECTOR_COLLECTION",
    "VECTOR_COMPRESSION_ENABLED",
    "VECTOR_DIMENSIONS",
    "VECTOR_DISTANCE",
    "VECTOR_HNSW_EF_CONSTRUCTION",
    "VECTOR_HNSW_EF_SEARCH",
    "VECTOR_HNSW_M",
    "float_range",
    "int_range",
    "list_of",
    "load_config",
    "one_of",
    "str_map",
]
