"""``QdrantVectorStore``: a ``VectorStore`` on Qdrant through qdrant-client.

Works against a Qdrant server (``qdrant://host:6333/collection``) and qdrant-client's local
mode (``qdrant+local:///path`` or ``:memory:``), which speaks the same API. String ids map to
Qdrant point ids with ``uuid5`` (the original id is kept in the payload, so the mapping is
reversible); the config is kept in the collection's metadata, so reopening needs none.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

import numpy as np

from llm_infra._internal._attrs import readonly
from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError, ExternalError, InfraError, VectorError
from llm_infra.vector import _backend_codes as codes
from llm_infra.vector._backends import (
    as_matrix,
    as_vector,
    check_same,
    check_search,
    prepare_batch,
    server_stats,
)
from llm_infra.vector._base import Columns, SearchArgs, StoreBase
from llm_infra.vector._config import Distance, VectorStoreConfig
from llm_infra.vector._filters import parse_filter
from llm_infra.vector._points import closed_error
from llm_infra.vector._qdrant_filters import TOKENS, derive, path_key, to_qdrant
from llm_infra.vector._types import SearchResult, StoreStats, VectorRecord, VerifyReport
from llm_infra.vector._validate import check_id, check_snapshot_dest, encode_metadata, exists_error, not_found

if TYPE_CHECKING:
    from llm_infra.errors import BatchResult
    from llm_infra.vector._types import Progress

_NAMESPACE: Final = uuid.UUID("6f1c4a52-0d7e-4c0e-9a55-7e0f3c1b2a9d")
_META_KEY: Final = "llm_infra"
_NORM: Final = "_norm"
_WRITE_CHUNK: Final = 512


def point_id(ident: str) -> str:
    """The Qdrant point id of a string id (``uuid5``; the id itself is kept in the payload)."""
    return str(uuid.uuid5(_NAMESPACE, ident))


def _qdrant_error(exc: BaseException, operation: str) -> ExternalError:
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    transient = bool(
        names
        & {"ResponseHandlingException", "ConnectError", "ConnectionError", "TimeoutException", "RpcError"}
        or (isinstance(status, int) and status >= 500)
        or isinstance(exc, OSError)
    )
    return ExternalError(
        f"qdrant {operation} failed: {type(exc).__name__}",
        service="qdrant",
        operation=operation,
        code=codes.QDRANT_UNAVAILABLE if transient else codes.QDRANT_ERROR,
        retryable=transient,
    )


@final
class QdrantVectorStore(StoreBase):
    """A ``VectorStore`` on Qdrant (server or qdrant-client's local mode).

    Args:
        config: required to create the collection; reopening reads it from the collection.
        client: an existing ``qdrant_client.QdrantClient`` (not closed by ``close()``).
        host / port / url / api_key: a Qdrant server (``url`` wins over host and port).
        path: local mode on disk, or ``":memory:"``.
        collection: the collection to open when no config is given.

    Raises:
        ConfigError: the ``vector-qdrant`` extra is missing (with the pip line), or the config
            contradicts the collection.
        VectorError: ``vector.collection_missing`` when opening an unknown collection without config.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        config: VectorStoreConfig | None = None,
        *,
        client: Any = None,
        host: str | None = None,
        port: int = 6333,
        url: str | None = None,
        api_key: str | None = None,
        path: str | os.PathLike[str] | None = None,
        collection: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._closed = True
        name = config.collection if config is not None else collection
        if name is None:
            raise VectorError(
                "pass a VectorStoreConfig (to create) or collection= (to open)",
                operation="open",
                code=codes.COLLECTION_MISSING,
            )
        qc = require("qdrant_client", "vector-qdrant")
        self._models = qc.models
        self._owns_client = client is None
        if client is None:
            try:
                if path is not None:
                    target = str(path)
                    client = (
                        qc.QdrantClient(location=":memory:")
                        if target == ":memory:"
                        else qc.QdrantClient(path=target)
                    )
                else:
                    client = qc.QdrantClient(
                        url=url,
                        host=None if url else (host or "localhost"),
                        port=port,
                        api_key=api_key,
                        timeout=int(timeout),
                        check_compatibility=False,
                    )
            except (RuntimeError, ValueError, OSError) as exc:
                raise _qdrant_error(exc, "open") from exc
        self._client = client
        self._name = name
        self._closed = False
        try:
            self._cfg = self._open(config)
        except BaseException:
            self.close()
            raise
        self._dims = self._cfg.dimensions
        self._distance = self._cfg.distance

    # ------------------------------------------------------------------ plumbing

    def _call(self, operation: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise closed_error(operation)
        try:
            return fn(*args, **kwargs)
        except InfraError:
            raise
        except Exception as exc:
            raise _qdrant_error(exc, operation) from exc

    def _open(self, config: VectorStoreConfig | None) -> VectorStoreConfig:
        m = self._models
        exists = self._call("open", self._client.collection_exists, self._name)
        if exists:
            info = self._call("open", self._client.get_collection, self._name)
            stored_dict = (info.config.metadata or {}).get(_META_KEY)
            if stored_dict is None:
                raise ConfigError(
                    f"the qdrant collection {self._name!r} was not created by llm-infra",
                    key="collection",
                    code=codes.CONFIG_MISMATCH,
                )
            stored = VectorStoreConfig.from_dict(stored_dict)
            if config is None:
                return stored
            check_same(stored, config, f"qdrant collection {self._name}")
            self._ensure_indexes(config)
            return config
        if config is None:
            raise VectorError(
                f"no qdrant collection {self._name!r}; pass a VectorStoreConfig to create it",
                operation="open",
                code=codes.COLLECTION_MISSING,
            )
        distance = {
            Distance.COSINE: m.Distance.COSINE,
            Distance.L2: m.Distance.EUCLID,
            Distance.DOT: m.Distance.DOT,
        }
        tier = config.compression.tier
        quantization: Any = None
        if tier == "int8":
            quantization = m.ScalarQuantization(
                scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=True)
            )
        elif tier == "binary":
            quantization = m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True))
        self._call(
            "open",
            self._client.create_collection,
            self._name,
            vectors_config=m.VectorParams(
                size=config.dimensions,
                distance=distance[config.distance],
                datatype=m.Datatype.FLOAT16 if tier == "f16" else None,
            ),
            hnsw_config=m.HnswConfigDiff(m=config.hnsw.m, ef_construct=config.hnsw.ef_construction),
            quantization_config=quantization,
            metadata={_META_KEY: config.to_dict()},
        )
        self._ensure_indexes(config)
        return config

    @property
    def is_local(self) -> bool:
        """True in qdrant-client's local mode (no server, exact search, no payload indexes)."""
        return type(getattr(self._client, "_client", None)).__name__.startswith("QdrantLocal")

    def _ensure_indexes(self, config: VectorStoreConfig) -> None:
        if self.is_local:
            return  # local mode has no payload indexes (and warns when asked for one)
        m = self._models
        self._call(
            "open",
            self._client.create_payload_index,
            self._name,
            TOKENS,
            field_schema=m.PayloadSchemaType.KEYWORD,
        )
        for name in config.indexed_fields:
            self._call(
                "open",
                self._client.create_payload_index,
                self._name,
                f"_n.{path_key(name)}",
                field_schema=m.PayloadSchemaType.FLOAT,
            )

    def _payload(self, ident: str, vec: np.ndarray, meta: dict[str, Any] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"id": ident, "m": meta, **derive(meta)}
        if self._distance is Distance.COSINE:
            payload[_NORM] = float(np.linalg.norm(vec))
        return payload

    def _vector_of(self, raw: Any, payload: Mapping[str, Any]) -> np.ndarray:
        vec = np.asarray(raw, dtype=np.float32)
        norm = payload.get(_NORM)
        if norm is not None:
            vec = (vec.astype(np.float64) * float(norm)).astype(np.float32)
        return vec

    def _retrieve(
        self, idents: Sequence[str], *, vectors: bool = False, operation: str = "get"
    ) -> dict[str, Any]:
        points = self._call(
            operation,
            self._client.retrieve,
            self._name,
            ids=[point_id(i) for i in idents],
            with_payload=True,
            with_vectors=vectors,
        )
        return {p.payload["id"]: p for p in points}

    def _upsert_points(
        self, rows: list[tuple[str, np.ndarray, dict[str, Any] | None]], operation: str
    ) -> None:
        m = self._models
        for start in range(0, len(rows), _WRITE_CHUNK):
            chunk = rows[start : start + _WRITE_CHUNK]
            points = [
                m.PointStruct(
                    id=point_id(ident), vector=vec.tolist(), payload=self._payload(ident, vec, meta)
                )
                for ident, vec, meta in chunk
            ]
            self._call(operation, self._client.upsert, self._name, points=points, wait=True)

    # ------------------------------------------------------------------ writes

    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a new vector (``AlreadyExistsError`` when the id exists)."""
        vec = as_vector(vector, self._dims, "insert")
        key = check_id(id)
        meta = encode_metadata(metadata)[1]
        if self._retrieve([key], operation="insert"):
            raise exists_error(key)
        self._upsert_points([(key, vec, meta)], "insert")

    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert or replace."""
        vec = as_vector(vector, self._dims, "upsert")
        key = check_id(id)
        self._upsert_points([(key, vec, encode_metadata(metadata)[1])], "upsert")

    def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult:
        op = "upsert_batch" if upsert else "insert_batch"
        if self._closed:
            raise closed_error(op)
        prepared = prepare_batch(items, columns, self._dims, op)
        good = prepared.good(upsert=upsert)
        if not upsert and good:
            existing: set[str] = set()
            names = [prepared.names[i] for i in good]
            for start in range(0, len(names), _WRITE_CHUNK):
                existing |= set(self._retrieve(names[start : start + _WRITE_CHUNK], operation=op))
            for i in good:
                if prepared.names[i] in existing:
                    prepared.errors[i] = exists_error(prepared.names[i])
            good = [i for i in good if prepared.errors[i] is None]
        self._upsert_points([(prepared.names[i], prepared.matrix[i], prepared.metas[i]) for i in good], op)
        return prepared.finish()

    def delete(self, id: str) -> bool:
        """Delete; True when it existed."""
        key = check_id(id)
        if not self._retrieve([key], operation="delete"):
            return False
        m = self._models
        self._call(
            "delete",
            self._client.delete,
            self._name,
            points_selector=m.PointIdsList(points=[point_id(key)]),
            wait=True,
        )
        return True

    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata (``NotFoundError`` when the id is unknown)."""
        key = check_id(id)
        meta = encode_metadata(metadata)[1]
        found = self._retrieve([key], operation="update_metadata")
        if key not in found:
            raise not_found(key)
        payload: dict[str, Any] = {"id": key, "m": meta, **derive(meta)}
        norm = found[key].payload.get(_NORM)
        if norm is not None:
            payload[_NORM] = norm
        self._call(
            "update_metadata",
            self._client.overwrite_payload,
            self._name,
            payload=payload,
            points=[point_id(key)],
            wait=True,
        )

    # ------------------------------------------------------------------ reads

    def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """The record, or None."""
        key = check_id(id)
        point = self._retrieve([key], vectors=with_vector).get(key)
        if point is None:
            return None
        vec = self._vector_of(point.vector, point.payload) if with_vector else None
        return VectorRecord(id=key, vector=vec, metadata=point.payload.get("m"))

    def count(self) -> int:
        """Live vectors."""
        return int(self._call("count", self._client.count, self._name, exact=True).count)

    def _hits(
        self, points: Any, min_score: float | None, with_vectors: bool, with_metadata: bool
    ) -> list[SearchResult]:
        out: list[SearchResult] = []
        l2 = self._distance is Distance.L2
        for p in points:
            score = -float(p.score) if l2 else float(p.score)
            if min_score is not None and score < min_score:
                continue
            out.append(
                SearchResult(
                    p.payload["id"],
                    score,
                    p.payload.get("m") if with_metadata else None,
                    self._vector_of(p.vector, p.payload) if with_vectors else None,
                )
            )
        out.sort(key=lambda h: -h.score)
        return out

    def _request_parts(self, a: SearchArgs) -> tuple[Any, Any]:
        k, filter, ef_search, min_score, _, _ = a
        if self._closed:
            raise closed_error("search")
        check_search(k, ef_search, min_score)
        flt = None if filter is None else parse_filter(filter)
        qfilter = None if flt is None else to_qdrant(flt, self._models)
        if self.is_local:
            return qfilter, None  # local mode searches exactly (and warns about search params)
        ef = self._cfg.hnsw.ef_search if ef_search is None else ef_search
        return qfilter, self._models.SearchParams(hnsw_ef=max(ef, k))

    def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]:
        """The ``k`` best matches, best first (Qdrant plans filtered searches itself)."""
        parts = self._request_parts(a)
        return self._query(as_vector(vector, self._dims, "search")[None], a, parts, "search")[0]

    def _search_many(self, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]:
        """Many queries in one ``query_batch_points`` request; results equal per-query ``search``."""
        parts = self._request_parts(a)
        return self._query(as_matrix(vectors, self._dims, "search_batch"), a, parts, "search_batch")

    def _query(
        self, queries: np.ndarray, a: SearchArgs, parts: tuple[Any, Any], operation: str
    ) -> list[list[SearchResult]]:
        """One ``query_batch_points`` request for the rows of ``queries`` (none: no request)."""
        if len(queries) == 0:
            return []
        qfilter, params = parts
        requests = [
            self._models.QueryRequest(
                query=q.tolist(),
                filter=qfilter,
                params=params,
                limit=a.k,
                with_payload=True,
                with_vector=a.with_vectors,
            )
            for q in queries
        ]
        responses = self._call(operation, self._client.query_batch_points, self._name, requests=requests)
        return [self._hits(r.points, a.min_score, a.with_vectors, a.with_metadata) for r in responses]

    def scan(self, cursor: str | None = None, limit: int = 1000) -> tuple[list[VectorRecord], str | None]:
        """A page of records (with vectors) and the cursor of the next page (None at the end)."""
        points, nxt = self._call(
            "scan",
            self._client.scroll,
            self._name,
            limit=limit,
            offset=cursor,
            with_payload=True,
            with_vectors=True,
        )
        records = [
            VectorRecord(
                id=p.payload["id"], vector=self._vector_of(p.vector, p.payload), metadata=p.payload.get("m")
            )
            for p in points
        ]
        return records, None if nxt is None else str(nxt)

    # ------------------------------------------------------------------ maintenance

    def stats(self) -> StoreStats:
        """Sizes and parameters as Qdrant reports them."""
        info = self._call("stats", self._client.get_collection, self._name)
        count = self.count()
        cfg = self._cfg
        indexed = info.indexed_vectors_count
        tier = cfg.compression.tier if cfg.compression.tier != "auto" else "none"
        done = int(indexed) if indexed is not None else count
        return server_stats(cfg, count, tier=tier, indexed=done, disk=0, path=f"qdrant:{self._name}")

    def flush(self) -> None:
        """Nothing to do: every write is acknowledged with ``wait=True``."""
        if self._closed:
            raise closed_error("flush")

    def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """A consistent copy at ``dest`` as an embedded store (``open_store(dest)`` opens it)."""
        from llm_infra.vector._store import open_store

        check_snapshot_dest(dest)
        cursor: str | None = None
        with open_store(Path(dest), self._cfg.with_options(background_indexing=False)) as local:
            while True:
                page, cursor = self.scan(cursor, 1000)
                if page:
                    local.upsert_batch(page)
                if cursor is None:
                    break
            local.flush()

    def verify(self) -> VerifyReport:
        """The collection's status as Qdrant reports it, and the point count."""
        info = self._call("verify", self._client.get_collection, self._name)
        status = str(getattr(info.status, "value", info.status)).lower()
        problems = () if status in ("green", "yellow", "grey") else (f"collection status is {status}",)
        return VerifyReport(
            ok=not problems, count=self.count(), problems=problems, checked=("collection status",)
        )

    def rebuild(self, progress: Progress | None = None) -> None:
        """Qdrant maintains its own index: nothing to rebuild from here."""
        if self._closed:
            raise closed_error("rebuild")
        if progress is not None:
            progress(1, 1)

    def drop(self) -> None:
        """Delete the collection."""
        self._call("drop", self._client.delete_collection, self._name)

    config: readonly[VectorStoreConfig] = readonly("_cfg", "The collection's config.")

    dimensions: readonly[int] = readonly("_cfg.dimensions", "Vector length.")

    def close(self) -> None:
        """Close the client when this store created it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            try:
                self._client.close()
            except Exception as exc:  # noqa: BLE001 - closing is best effort
                _ = exc

    def __repr__(self) -> str:
        return f"QdrantVectorStore(collection={self._name!r}, {'closed' if self._closed else 'open'})"
