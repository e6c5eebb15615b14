"""Collections of a tenant: the catalog (``StateStore``) plus one open vector store per collection."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import importlib
import importlib.util
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from llm_infra.errors import (
    AlreadyExistsError,
    AuthError,
    ConfigError,
    InfraError,
    NotFoundError,
    ValidationError,
)
from llm_infra.otel import counter, histogram, span
from llm_infra.server import _codes
from llm_infra.server._state import StateStore
from llm_infra.vector import (
    CompressionConfig,
    Distance,
    HnswConfig,
    SearchResult,
    VectorStore,
    VectorStoreConfig,
    open_store,
)

_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_\-]{0,63}\Z")
KIND = "collection"


def check_name(value: str, what: str = "collection") -> str:
    """A collection or tenant name: 1-64 letters, digits, ``_`` or ``-`` (starting alphanumeric)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            f"a {what} name is 1-64 letters, digits, '_' or '-', starting with a letter or digit",
            field="name",
            code=_codes.INVALID_REQUEST,
        )
    return value


def not_found(name: str) -> NotFoundError:
    """The one answer for a missing collection and for another tenant's (names cannot be probed)."""
    return NotFoundError(
        f"no collection named {name!r}",
        resource_type="collection",
        resource_id=name,
        code=_codes.COLLECTION_NOT_FOUND,
    )


def is_postgres(url: str) -> bool:
    """Whether a backend URL names PostgreSQL."""
    return url.startswith(("postgresql://", "postgres://"))


def pgvector_available() -> bool:
    """Whether ``llm_infra.vector`` has a PostgreSQL (pgvector) backend behind ``open_store``."""
    return any(
        importlib.util.find_spec(f"llm_infra.vector.{mod}") is not None
        for mod in ("_pgvector", "_postgres", "_pg")
    )


def vector_api(name: str) -> Any:
    """A public name of ``llm_infra.vector`` (``open_backend``, ``migrate``, ``HashingEmbedder``...).

    Falls back to the backend modules while the package does not export the name yet.
    """
    from llm_infra import vector

    found = getattr(vector, name, None)
    if found is not None:
        return found
    for module in ("_backends", "_migrate", "_embed"):
        if importlib.util.find_spec(f"llm_infra.vector.{module}") is not None:
            found = getattr(importlib.import_module(f"llm_infra.vector.{module}"), name, None)
            if found is not None:
                return found
    return None


def store_config(spec: Mapping[str, Any], store_name: str) -> VectorStoreConfig:
    """The ``VectorStoreConfig`` of a catalog entry."""
    hnsw = spec.get("hnsw") or {}
    compression = spec.get("compression") or {}
    try:
        return VectorStoreConfig(
            collection=store_name,
            dimensions=int(spec["dimensions"]),
            distance=Distance(spec.get("distance", "cosine")),
            hnsw=HnswConfig(**hnsw),
            compression=CompressionConfig(**compression),
            indexed_fields=tuple(spec.get("indexed_fields") or ()),
        )
    except ConfigError as exc:  # the caller's settings, not the server's: a 422
        raise ValidationError(
            f"invalid collection settings: {exc.message}",
            field=exc.key or "collection",
            code=_codes.INVALID_REQUEST,
        ) from exc
    except InfraError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ValidationError(
            f"invalid collection settings: {exc}", field="collection", code=_codes.INVALID_REQUEST
        ) from exc


def make_embedder(spec: Mapping[str, Any] | None, dimensions: int) -> Any:
    """The collection's embedder (``{"kind": "hashing"}`` or ``{"kind": "sentence-transformers", "model"}``).

    Raises:
        ValidationError: the embedder class is not in this installation (``server.embedder_unavailable``).
    """
    if not spec:
        return None
    kind = str(spec.get("kind", "hashing"))
    names = {"hashing": "HashingEmbedder", "sentence-transformers": "SentenceTransformerEmbedder"}
    cls = vector_api(names[kind]) if kind in names else None
    if cls is None:
        raise ValidationError(
            f"embedder {kind!r} is not available in this installation",
            field="embedder.kind",
            code=_codes.EMBEDDER_UNAVAILABLE,
            remediation=["Use kind 'hashing', or install llm-infra[embeddings] for sentence-transformers."],
        )
    try:
        if kind == "hashing":
            return cls(dimensions=dimensions)
        return cls()  # the bundled local model: a client never names a path on the server
    except InfraError as exc:
        raise ValidationError(
            f"embedder {kind!r} cannot be used here: {exc.message}",
            field="embedder.kind",
            code=_codes.EMBEDDER_UNAVAILABLE,
        ) from exc


def embed(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """Vectors of ``texts`` through whichever method the embedder offers."""
    for method in ("embed_documents", "embed", "encode"):
        fn = getattr(embedder, method, None)
        if fn is not None:
            return np.asarray(fn(list(texts)), dtype=np.float32)
    raise ConfigError("the embedder has no embed method", key="embedder", code=_codes.EMBEDDER_UNAVAILABLE)


_SEARCH_SECONDS = "server.store.search.duration"


@dataclass(slots=True)
class _Pending:
    vector: Any
    future: asyncio.Future[list[SearchResult]]


@dataclass(slots=True)
class Collection:
    """One open collection: its catalog entry, store and embedder."""

    tenant: str
    name: str
    spec: dict[str, Any]
    store: VectorStore
    embedder: Any = None
    coalesce: bool = False
    _queues: dict[tuple[Any, ...], list[_Pending]] = field(default_factory=dict)
    _draining: set[tuple[Any, ...]] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def call(self, op: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a store operation in a worker thread, with a span and a duration metric.

        Even searches leave the event loop: a store's search waits while a concurrent write or
        the background indexer holds its lock (measured: up to 1.5 s), and the loop must keep
        serving other requests meanwhile.
        """
        start = time.perf_counter()
        with span(f"server.store.{op}", collection=self.name, tenant=self.tenant):
            try:
                return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
            finally:
                histogram("server.store.duration", unit="s").record(time.perf_counter() - start, {"op": op})

    async def search(
        self,
        vector: Any,
        k: int,
        flt: Any,
        *,
        min_score: float | None,
        with_vectors: bool,
        ef_search: int | None,
    ) -> list[SearchResult]:
        """One search; concurrent equal-parameter ones are batched when the store has ``search_batch``."""
        batch = getattr(self.store, "search_batch", None)
        if not self.coalesce or batch is None:
            result: list[SearchResult] = await self.call(
                "search",
                self.store.search,
                vector,
                k,
                flt,
                ef_search,
                min_score=min_score,
                with_vectors=with_vectors,
            )
            return result
        key = (k, repr(flt), min_score, with_vectors, ef_search)
        loop = asyncio.get_running_loop()
        pending = _Pending(vector, loop.create_future())
        self._queues.setdefault(key, []).append(pending)
        if key not in self._draining:
            self._draining.add(key)
            self._tasks.add(task := loop.create_task(self._drain(key, flt)))
            task.add_done_callback(self._tasks.discard)
        return await pending.future

    async def _drain(self, key: tuple[Any, ...], flt: Any) -> None:
        k, _, min_score, with_vectors, ef_search = key
        try:
            while self._queues.get(key):
                group = self._queues.pop(key)
                counter("server.search.coalesced").add(len(group))
                try:
                    results = await self.call(
                        "search_batch",
                        self.store.search_batch,
                        np.asarray([p.vector for p in group], dtype=np.float32),
                        k,
                        flt,
                        min_score=min_score,
                        with_vectors=with_vectors,
                        ef_search=ef_search,
                    )
                except Exception as exc:  # noqa: BLE001 - handed to every waiter
                    for p in group:
                        if not p.future.done():
                            p.future.set_exception(exc)
                    continue
                for p, res in zip(group, results, strict=True):
                    if not p.future.done():
                        p.future.set_result(list(res))
        finally:
            self._draining.discard(key)


class Collections:
    """The catalog plus the open stores of every tenant's collections."""

    def __init__(
        self,
        state: StateStore,
        *,
        vector_url: str,
        data_dir: Path,
        coalesce: bool = True,
        quota_collections: int = 1_000,
        quota_points: int = 10**9,
    ) -> None:
        self._state = state
        self._url = vector_url
        self._root = (
            Path(vector_url) if vector_url and not is_postgres(vector_url) else data_dir / "collections"
        )
        self._coalesce = coalesce
        self._quota_collections = quota_collections
        self._quota_points = quota_points
        self._open: dict[tuple[str, str], Collection] = {}
        self._lock = threading.RLock()
        if is_postgres(vector_url) and not pgvector_available():
            raise ConfigError(
                "vector.url names PostgreSQL but this installation has no pgvector backend",
                key="vector.url",
                code=_codes.BACKEND_UNAVAILABLE,
            )

    @property
    def backend(self) -> str:
        """``pgvector`` or ``embedded``."""
        return "pgvector" if is_postgres(self._url) else "embedded"

    def _open_store(self, tenant: str, name: str, spec: Mapping[str, Any], *, create: bool) -> VectorStore:
        store_name = f"{tenant}.{name}"
        config = store_config(spec, store_name)
        if is_postgres(self._url):
            # the pgvector backend keys its tables by the config's collection name
            opener = vector_api("open_backend") or open_store
            store: VectorStore = opener(self._url, config)
            return store
        path = self._root / tenant / name
        if create and path.exists():
            shutil.rmtree(path)  # a leftover of a delete interrupted by a crash
        return open_store(path, config)

    def create(self, tenant: str, spec: dict[str, Any]) -> Collection:
        """Create a collection (catalog first, so a concurrent create on another replica loses).

        Raises:
            AlreadyExistsError: the tenant has a collection of that name.
            AuthError: the tenant's collection quota is reached (``server.quota_exceeded``).
            ValidationError: bad settings.
        """
        name = check_name(str(spec.get("name", "")))
        store_config(spec, f"{tenant}.{name}")  # validate before anything is written
        make_embedder(spec.get("embedder"), int(spec["dimensions"]))
        with self._lock:
            if len(self._state.list(KIND, tenant)) >= self._quota_collections:
                raise AuthError(
                    f"the tenant may have at most {self._quota_collections} collections",
                    kind="insufficient_permissions",
                    code=_codes.QUOTA_EXCEEDED,
                )
            doc = {**spec, "name": name, "created_at": time.time()}
            if not self._state.put(KIND, tenant, name, doc, create=True):
                raise AlreadyExistsError(
                    f"collection {name!r} exists",
                    resource_type="collection",
                    resource_id=name,
                    code=_codes.COLLECTION_EXISTS,
                )
            try:
                store = self._open_store(tenant, name, doc, create=True)
            except BaseException:
                self._state.delete(KIND, tenant, name)
                raise
            coll = self._wrap(tenant, name, doc, store)
            self._open[(tenant, name)] = coll
            return coll

    def _wrap(self, tenant: str, name: str, doc: dict[str, Any], store: VectorStore) -> Collection:
        embedder = make_embedder(doc.get("embedder"), int(doc["dimensions"])) if doc.get("embedder") else None
        return Collection(tenant, name, doc, store, embedder, coalesce=self._coalesce)

    def get(self, tenant: str, name: str) -> Collection:
        """The open collection (opened on first use).

        Raises:
            NotFoundError: no such collection in this tenant (``server.collection_not_found``).
        """
        key = (tenant, name)
        coll = self._open.get(key)
        if coll is not None:
            return coll
        with self._lock:
            coll = self._open.get(key)
            if coll is not None:
                return coll
            doc = self._state.get(KIND, tenant, name) if _NAME.match(name) else None
            if doc is None:
                raise not_found(name)
            coll = self._wrap(tenant, name, doc, self._open_store(tenant, name, doc, create=False))
            self._open[key] = coll
            return coll

    def list(self, tenant: str | None) -> list[tuple[str, str, dict[str, Any]]]:
        """Catalog entries of one tenant (every tenant's with None)."""
        return self._state.list(KIND, tenant)

    def delete(self, tenant: str, name: str) -> None:
        """Drop a collection and its data.

        Raises:
            NotFoundError: no such collection in this tenant.
        """
        coll = self.get(tenant, name)
        with self._lock:
            self._open.pop((tenant, name), None)
            self._state.delete(KIND, tenant, name)
            drop = getattr(coll.store, "drop", None)
            if callable(drop):
                drop()
            coll.store.close()
            if not is_postgres(self._url):
                shutil.rmtree(self._root / tenant / name, ignore_errors=True)

    def check_points_quota(self, tenant: str, adding: int) -> None:
        """Refuse a write that would take the tenant past its points quota.

        Raises:
            AuthError: ``server.quota_exceeded``.
        """
        if self._quota_points >= 10**9:
            return
        total = sum(self.get(tenant, name).store.count() for _, name, _ in self.list(tenant))
        if total + adding > self._quota_points:
            raise AuthError(
                f"the tenant may store at most {self._quota_points} points",
                kind="insufficient_permissions",
                code=_codes.QUOTA_EXCEEDED,
            )

    def open_collections(self) -> builtins.list[Collection]:
        """The collections opened so far."""
        return list(self._open.values())

    def flush_all(self) -> None:
        """Flush every open store (shutdown)."""
        for coll in self.open_collections():
            coll.store.flush()

    def close(self) -> None:
        """Flush and close every open store."""
        with self._lock:
            for coll in self._open.values():
                with contextlib.suppress(InfraError):
                    coll.store.close()
            self._open.clear()
