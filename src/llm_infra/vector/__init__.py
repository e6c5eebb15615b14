"""Vector store: an embedded HNSW engine with durable storage, planned filtering and compression.

``open_store(path, VectorStoreConfig(...))`` opens (or creates) a local store: SQLite (WAL) is
the durable source of truth, faiss HNSW the derived, checksummed index. Scores are
higher-is-better for every distance. Filters are ``MetadataFilter`` objects (``Eq``, ``Ne``,
``In``, ``NotIn``, ``Range``, ``Exists``, ``And``, ``Or``, ``Not``) or their Mongo-like dict form.
See docs/vector.md.

Needs the ``vector`` extra (numpy and faiss): without it, importing this package raises
``ConfigError`` with the line to run, ``pip install 'llm-infra[vector]'``.
"""

# ruff: noqa: E402 - the extra's check must run before the first numpy/faiss import below
from llm_infra._internal._lazy import require as _require

_require("numpy", "vector")
_require("faiss", "vector")
del _require

from typing import TYPE_CHECKING

from llm_infra._internal._lazy import lazy_getattr as _lazy_getattr
from llm_infra.vector._async import AsyncLocalVectorStore as AsyncLocalVectorStore
from llm_infra.vector._async import open_async_store as open_async_store
from llm_infra.vector._config import CompressionConfig as CompressionConfig
from llm_infra.vector._config import Distance as Distance
from llm_infra.vector._config import HnswConfig as HnswConfig
from llm_infra.vector._config import VectorStoreConfig as VectorStoreConfig
from llm_infra.vector._config import VectorStoreConfigBuilder as VectorStoreConfigBuilder
from llm_infra.vector._embed import Embedder as Embedder
from llm_infra.vector._embed import HashingEmbedder as HashingEmbedder
from llm_infra.vector._embed import OpenAICompatibleEmbedder as OpenAICompatibleEmbedder
from llm_infra.vector._embed import SentenceTransformerEmbedder as SentenceTransformerEmbedder
from llm_infra.vector._embed_store import TextVectorStore as TextVectorStore
from llm_infra.vector._embed_store import open_text_store as open_text_store
from llm_infra.vector._filters import And as And
from llm_infra.vector._filters import Eq as Eq
from llm_infra.vector._filters import Exists as Exists
from llm_infra.vector._filters import In as In
from llm_infra.vector._filters import MetadataFilter as MetadataFilter
from llm_infra.vector._filters import Ne as Ne
from llm_infra.vector._filters import Not as Not
from llm_infra.vector._filters import NotIn as NotIn
from llm_infra.vector._filters import Or as Or
from llm_infra.vector._filters import Range as Range
from llm_infra.vector._filters import parse_filter as parse_filter
from llm_infra.vector._migrate import MigrationReport as MigrationReport
from llm_infra.vector._migrate import migrate as migrate
from llm_infra.vector._normalize import EmbeddingNormalizer as EmbeddingNormalizer
from llm_infra.vector._normalize import normalize as normalize
from llm_infra.vector._protocols import AsyncVectorStore as AsyncVectorStore
from llm_infra.vector._protocols import VectorStore as VectorStore
from llm_infra.vector._qdrant import QdrantVectorStore as QdrantVectorStore
from llm_infra.vector._query import AsyncSearchQuery as AsyncSearchQuery
from llm_infra.vector._query import SearchQuery as SearchQuery
from llm_infra.vector._resilient import ResilientVectorStore as ResilientVectorStore
from llm_infra.vector._store import LocalVectorStore as LocalVectorStore
from llm_infra.vector._store import open_store as open_store
from llm_infra.vector._tracing import TracingVectorStore as TracingVectorStore
from llm_infra.vector._types import SearchResult as SearchResult
from llm_infra.vector._types import StoreStats as StoreStats
from llm_infra.vector._types import VectorRecord as VectorRecord
from llm_infra.vector._types import VerifyReport as VerifyReport

if TYPE_CHECKING:
    from llm_infra.vector._pgvector import PgVectorStore as PgVectorStore
    from llm_infra.vector._pgvector_async import AsyncPgVectorStore as AsyncPgVectorStore

# Imported on first use: their modules need psycopg (the ``vector-pg`` extra).
__getattr__ = _lazy_getattr(
    __name__,
    {"PgVectorStore": "llm_infra.vector._pgvector", "AsyncPgVectorStore": "llm_infra.vector._pgvector_async"},
    needs=("psycopg", "psycopg_pool", "pgvector.psycopg"),
    extra="vector-pg",
)


__all__ = [
    "And",
    "AsyncLocalVectorStore",
    "AsyncPgVectorStore",
    "AsyncSearchQuery",
    "AsyncVectorStore",
    "CompressionConfig",
    "Distance",
    "Embedder",
    "EmbeddingNormalizer",
    "Eq",
    "Exists",
    "HashingEmbedder",
    "HnswConfig",
    "In",
    "LocalVectorStore",
    "MetadataFilter",
    "MigrationReport",
    "Ne",
    "Not",
    "NotIn",
    "OpenAICompatibleEmbedder",
    "Or",
    "PgVectorStore",
    "QdrantVectorStore",
    "Range",
    "ResilientVectorStore",
    "SearchQuery",
    "SearchResult",
    "SentenceTransformerEmbedder",
    "StoreStats",
    "TextVectorStore",
    "TracingVectorStore",
    "VectorRecord",
    "VectorStore",
    "VectorStoreConfig",
    "VectorStoreConfigBuilder",
    "VerifyReport",
    "migrate",
    "normalize",
    "open_async_store",
    "open_store",
    "open_text_store",
    "parse_filter",
]
