"""Request and response bodies of the HTTP API (pydantic models: they are the OpenAPI schema too)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ID = Field(min_length=1, max_length=256)
_NAME = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HnswIn(_Strict):
    """Graph parameters."""

    m: int = Field(16, ge=2, le=256)
    ef_construction: int = Field(200, ge=1, le=100_000)
    ef_search: int = Field(100, ge=1, le=100_000)


class CompressionIn(_Strict):
    """Compression of the ANN index."""

    tier: Literal["none", "f16", "int8", "binary", "auto"] = "none"
    rescore: bool = True
    memory_budget_mb: float | None = Field(None, gt=0)


class EmbedderIn(_Strict):
    """The embedder turning texts into vectors for this collection."""

    kind: Literal["hashing", "sentence-transformers"] = "hashing"
    model: str | None = Field(None, max_length=256)


class CollectionIn(_Strict):
    """``POST /v1/collections``."""

    name: str = _NAME
    dimensions: int = Field(ge=1, le=65_536)
    distance: Literal["cosine", "l2", "dot"] = "cosine"
    hnsw: HnswIn | None = None
    compression: CompressionIn | None = None
    indexed_fields: list[str] = Field(default_factory=list, max_length=64)
    embedder: EmbedderIn | None = None


class CollectionOut(BaseModel):
    """A collection as listed."""

    name: str
    dimensions: int
    distance: str
    count: int | None = None
    indexed_fields: list[str] = Field(default_factory=list)
    embedder: dict[str, Any] | None = None
    created_at: float | None = None


class CollectionList(BaseModel):
    """``GET /v1/collections``."""

    collections: list[CollectionOut]


class PointIn(_Strict):
    """One point of an upsert."""

    id: str = _ID
    vector: list[float] = Field(min_length=1, max_length=65_536)
    metadata: dict[str, Any] | None = None


class PointsIn(_Strict):
    """``PUT /v1/collections/{name}/points``."""

    points: list[PointIn] = Field(min_length=1, max_length=100_000)


class ItemError(BaseModel):
    """A failed item of a batch."""

    id: str
    code: str
    detail: str


class BatchOut(BaseModel):
    """The per-item outcome of a batch write (``BatchResult``)."""

    total: int
    succeeded: int
    failed: int
    failures: list[ItemError] = Field(default_factory=list)


class JobOut(BaseModel):
    """A job and its progress."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    collection: str
    status: str
    progress: float
    total: int
    processed: int
    failed: int


class JobList(BaseModel):
    """``GET /v1/jobs``."""

    jobs: list[JobOut]


class JobIn(_Strict):
    """``POST /v1/collections/{name}/jobs``."""

    kind: Literal["snapshot", "verify", "rebuild", "migrate"]
    target: str | None = Field(None, max_length=2_048)


class PointOut(BaseModel):
    """``GET .../points/{id}``."""

    id: str
    metadata: dict[str, Any] | None = None
    vector: list[float] | None = None


class MetadataIn(_Strict):
    """``PATCH .../points/{id}``: the new metadata (replaces the old)."""

    metadata: dict[str, Any] | None


class SearchIn(_Strict):
    """``POST .../search``: exactly one of ``vector``, ``vectors`` or ``text``."""

    vector: list[float] | None = Field(None, min_length=1, max_length=65_536)
    vectors: list[list[float]] | None = Field(None, min_length=1, max_length=1_024)
    text: str | None = Field(None, min_length=1, max_length=100_000)
    k: int = Field(10, ge=1, le=10_000)
    filter: dict[str, Any] | None = None
    min_score: float | None = None
    with_vectors: bool = False
    ef_search: int | None = Field(None, ge=1, le=100_000)


class Hit(BaseModel):
    """One search result (``score``: higher is better)."""

    id: str
    score: float
    metadata: dict[str, Any] | None = None
    vector: list[float] | None = None


class SearchOut(BaseModel):
    """A single search's results."""

    results: list[Hit]


class BatchSearchOut(BaseModel):
    """A batch search's results, one list per query vector."""

    results: list[list[Hit]]


class DocumentsIn(_Strict):
    """``POST .../documents``: texts embedded by the collection's embedder."""

    texts: list[str] = Field(min_length=1, max_length=10_000)
    ids: list[str] | None = None
    metadatas: list[dict[str, Any] | None] | None = None


class KeyIn(_Strict):
    """``POST /v1/keys``."""

    subject: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@\-]+$")
    roles: list[Literal["admin", "writer", "reader"]] = Field(min_length=1, max_length=3)
    collections: list[str] | None = Field(None, max_length=256)
    tenant: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
    name: str | None = Field(None, max_length=128)


class KeyCreated(BaseModel):
    """The new key: shown once, only its hash is stored."""

    key: str
    id: str
    tenant: str


class KeyOut(BaseModel):
    """A key as listed (never the key itself)."""

    id: str
    subject: str
    tenant: str | None
    roles: list[str]
    collections: list[str] | None = None
    name: str | None = None
    created_at: float
    revoked: bool
    last_used_at: float | None = None


class KeyList(BaseModel):
    """``GET /v1/keys``."""

    keys: list[KeyOut]


class Deleted(BaseModel):
    """A deletion's outcome."""

    deleted: bool
