"""Shared plumbing of the remote backends (pgvector, Qdrant): validation, batches, URL dispatch.

Every backend validates input like the embedded store (the same messages and codes for what
both check), so ``VectorStoreContract`` holds for all of them; only the engine calls differ.
Known differences: the embedded store also refuses a vector whose squared norm overflows
float32 (it normalises in float32; the engines here compute in their own precision) and refuses
a whole batch given as an object-dtype array, where the backends report each bad item.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import numpy as np

from llm_infra.errors import (
    BatchError,
    BatchResult,
    ConfigError,
    InfraError,
    ValidationError,
    VectorError,
)
from llm_infra.vector import _backend_codes as codes
from llm_infra.vector._config import Distance, VectorStoreConfig
from llm_infra.vector._types import StoreStats, VectorRecord
from llm_infra.vector._validate import (
    MAX_ID_LENGTH,
    MAX_K,
    check_id,
    dimension_mismatch,
    encode_metadata,
    exists_error,
    invalid_vector,
)

if TYPE_CHECKING:
    from llm_infra.vector._base import Columns
    from llm_infra.vector._protocols import VectorStore

MAX_EF: Final = 100_000


def as_vector(value: object, dims: int, operation: str) -> np.ndarray:
    """A validated float32 vector of length ``dims`` (the embedded store's rules and messages)."""
    if isinstance(value, str | bytes) or value is None:
        raise invalid_vector(f"a vector must be a sequence of numbers, got {type(value).__name__}", operation)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise invalid_vector(f"a vector must be a sequence of numbers: {exc}", operation) from exc
    if arr.ndim != 1:
        raise invalid_vector(f"a vector must be 1-D, got shape {arr.shape}", operation)
    if arr.dtype.kind not in "fiu" or arr.dtype.itemsize > 8:
        raise invalid_vector(f"a vector must hold real numbers, got dtype {arr.dtype}", operation)
    if arr.shape[0] != dims:
        raise dimension_mismatch(dims, int(arr.shape[0]), operation)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise invalid_vector("Vector contains NaN or infinite values", operation)
    return out


def check_search(k: object, ef: object, min_score: object) -> None:
    """Validate ``k``, ``ef_search`` and ``min_score`` as the embedded store does."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValidationError(
            f"k must be an integer in [1, {MAX_K}], got {k!r}", field="k", code="vector.invalid_k"
        )
    if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= MAX_EF):
        raise ValidationError(
            f"ef_search must be an integer in [1, {MAX_EF}], got {ef!r}",
            field="ef_search",
            code="vector.invalid_ef",
        )
    if min_score is not None and (
        isinstance(min_score, bool) or not isinstance(min_score, int | float) or math.isnan(min_score)
    ):
        raise ValidationError(
            "min_score must be a number", field="min_score", code="vector.invalid_min_score"
        )


def as_matrix(vectors: Any, dims: int, operation: str) -> np.ndarray:
    """A validated ``(n, dims)`` float32 matrix of query vectors."""
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2:
        if vectors.shape[1] != dims:
            raise dimension_mismatch(dims, int(vectors.shape[1]), operation)
        return np.stack([as_vector(v, dims, operation) for v in vectors]) if len(vectors) else vectors
    if isinstance(vectors, str | bytes) or not isinstance(vectors, Iterable):
        raise invalid_vector("vectors must be a 2-D array or a list of vectors", operation)
    rows = [as_vector(v, dims, operation) for v in vectors]
    return np.stack(rows) if rows else np.empty((0, dims), np.float32)


def score_of(distance: Distance, raw: float) -> float:
    """Higher-is-better score from an engine distance (cosine distance, L2 distance, -dot)."""
    if distance is Distance.COSINE:
        return 1.0 - raw
    return -raw


@dataclass(slots=True)
class PreparedBatch:
    """A validated batch: per item its id, vector row, metadata and (when it failed) error."""

    names: list[str]
    matrix: np.ndarray
    metas: list[dict[str, Any] | None]
    errors: list[InfraError | None]

    def good(self, *, upsert: bool) -> list[int]:
        """Positions to write: valid items, repeats resolved (insert: first wins, others fail;
        upsert: the last wins, earlier repeats succeed without a write)."""
        order = range(len(self.names))
        seen: dict[str, int] = {}
        for i in order:
            if self.errors[i] is not None:
                continue
            name = self.names[i]
            if name in seen:
                if upsert:
                    seen[name] = i
                else:
                    self.errors[i] = exists_error(name)
            else:
                seen[name] = i
        return sorted(seen.values())

    def finish(self) -> BatchResult:
        """The ``BatchResult`` (``BatchError`` when every item failed)."""
        batch = BatchError(len(self.names))
        for name, err in zip(self.names, self.errors, strict=True):
            if err is None:
                batch.record_success(name)
            else:
                batch.record_failure(name, err)
        return batch.finalize()


def prepare_batch(
    items: Iterable[VectorRecord | tuple[Any, ...]] | None, columns: Columns, dims: int, operation: str
) -> PreparedBatch:
    """Validate a batch item by item (bad items fail alone, as in the embedded store)."""
    ids, vectors, metadatas = columns
    raw: list[tuple[object, object, object]] = []
    errors: list[InfraError | None] = []
    if items is not None:
        if ids is not None or vectors is not None or metadatas is not None:
            raise ValidationError(
                "pass either items or ids=/vectors=/metadatas=, not both",
                field="items",
                code="vector.invalid_batch",
            )
        for i, item in enumerate(items):
            if isinstance(item, VectorRecord):
                raw.append((item.id, item.vector, item.metadata))
                errors.append(None)
            elif isinstance(item, tuple | list) and len(item) in (2, 3):
                raw.append((item[0], item[1], item[2] if len(item) == 3 else None))
                errors.append(None)
            else:
                raw.append((f"#{i}", None, None))
                errors.append(
                    ValidationError(
                        f"item {i} must be (id, vector[, metadata]) or a VectorRecord",
                        field=f"items[{i}]",
                        code="vector.invalid_batch",
                    )
                )
    else:
        if ids is None or vectors is None:
            raise ValidationError(
                "pass items, or both ids= and vectors=", field="ids", code="vector.invalid_batch"
            )
        id_list = list(ids)
        n = len(id_list)
        meta_list = list(metadatas) if metadatas is not None else [None] * n
        if len(meta_list) != n:
            raise ValidationError(
                f"metadatas has {len(meta_list)} entries for {n} ids",
                field="metadatas",
                code="vector.invalid_batch",
            )
        try:
            arr = np.asarray(vectors)
        except (TypeError, ValueError) as exc:
            raise invalid_vector(f"vectors must be a 2-D numeric array: {exc}", operation) from exc
        if arr.ndim != 2 or arr.shape[0] != n:
            raise ValidationError(
                f"vectors must have shape ({n}, {dims}), got {arr.shape}",
                field="vectors",
                code="vector.invalid_batch",
            )
        raw = list(zip(id_list, list(arr), meta_list, strict=True))
        errors = [None] * n
    n = len(raw)
    matrix = np.zeros((n, dims), dtype=np.float32)
    names: list[str] = []
    metas: list[dict[str, Any] | None] = [None] * n
    for i, (ident, vec, meta) in enumerate(raw):
        ok_id = isinstance(ident, str) and ident and len(ident) <= MAX_ID_LENGTH and "\x00" not in ident
        names.append(ident if isinstance(ident, str) and ident else f"#{i}")
        if errors[i] is not None:
            continue
        try:
            if vec is None:
                raise invalid_vector("the item has no vector", operation)
            matrix[i] = as_vector(vec, dims, operation)
            if not ok_id:
                check_id(ident, f"items[{i}].id")
            metas[i] = encode_metadata(meta)[1]
        except InfraError as exc:
            errors[i] = exc
    return PreparedBatch(names, matrix, metas, errors)


def check_same(stored: VectorStoreConfig, given: VectorStoreConfig, where: str) -> None:
    """A given config must agree with the stored one on collection, dimensions, distance, model."""
    for name in ("collection", "dimensions", "distance"):
        if getattr(stored, name) != getattr(given, name):
            raise ConfigError(
                f"the {where} has {name}={getattr(stored, name)!s}; the config says {getattr(given, name)!s}",
                key=name,
                code=codes.CONFIG_MISMATCH,
            )
    have = getattr(stored, "embedder_model", None)
    want = getattr(given, "embedder_model", None)
    if have and want and have != want:
        raise VectorError(
            f"the {where} was built with the embedding model {have!r}; the config says {want!r}",
            operation="open",
            code=codes.EMBEDDER_MISMATCH,
            remediation=["embed with the collection's model, or migrate to a new collection"],
        )


def open_backend(url: str, config: VectorStoreConfig | None = None, **options: Any) -> VectorStore | None:
    """The remote store for ``url``, or None when ``url`` is not a remote backend's URL.

    - ``postgresql://...`` / ``postgres://...``: ``PgVectorStore`` (the collection comes from
      ``config`` or the ``collection`` option).
    - ``qdrant://host:port/collection``: ``QdrantVectorStore`` on a Qdrant server.
    - ``qdrant+local:///path`` or ``qdrant+local://:memory:``: qdrant-client's local mode.

    Raises:
        ConfigError: ``vector.invalid_url`` when a backend URL lacks its parts, or the missing
            extra with its pip line when the backend's client is not installed.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        from llm_infra._internal._lazy import require

        for module in ("psycopg", "psycopg_pool", "pgvector.psycopg"):
            require(module, "vector-pg")  # a missing client is ConfigError with the pip line
        from llm_infra.vector._pgvector import PgVectorStore

        return PgVectorStore(url, config, **options)
    if scheme == "qdrant":
        from llm_infra.vector._qdrant import QdrantVectorStore

        parts = urlsplit(url)
        collection = parts.path.strip("/")
        if not parts.hostname or not collection:
            raise ConfigError(
                "a Qdrant URL is qdrant://host:port/collection", key="url", code=codes.INVALID_URL
            )
        if config is not None and config.collection != collection:
            config = config.with_options(collection=collection)  # the URL names the collection
        return QdrantVectorStore(
            config,
            host=parts.hostname,
            port=parts.port or 6333,
            collection=collection,
            **options,
        )
    if scheme == "qdrant+local":
        from llm_infra.vector._qdrant import QdrantVectorStore

        rest = url.split("://", 1)[1]
        path = ":memory:" if rest in (":memory:", "/:memory:", "") else rest
        return QdrantVectorStore(config, path=path, **options)
    return None


def search_batch_of(
    store: Any, vectors: Any, k: int = 10, filter: Any = None, **kwargs: Any
) -> list[list[Any]]:
    """``store.search_batch(...)``, or a loop of ``search`` for a store without it."""
    batch = getattr(store, "search_batch", None)
    if callable(batch):
        result: list[list[Any]] = batch(vectors, k, filter, **kwargs)
        return result
    ef = kwargs.pop("ef_search", None)
    return [store.search(v, k, filter, ef, **kwargs) for v in vectors]


def server_stats(
    cfg: VectorStoreConfig, count: int, *, tier: str, indexed: int, disk: int, path: str
) -> StoreStats:
    """``StoreStats`` of a collection kept by a server (nothing pending or tombstoned, always fresh)."""
    return StoreStats(
        collection=cfg.collection,
        dimensions=cfg.dimensions,
        count=count,
        distance=cfg.distance,
        hnsw=cfg.hnsw,
        compression_tier=tier,
        indexed=indexed,
        pending=0,
        tombstones=0,
        memory_bytes=0,
        disk_bytes=disk,
        index_fresh=True,
        persisted_count=count,
        indexed_fields=cfg.indexed_fields,
        path=path,
    )
