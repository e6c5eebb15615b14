"""The embedded vector store: SQLite (truth) + faiss HNSW (derived) + planned filtering.

Write path: validate (vectorised), one SQLite transaction per chunk, then apply to memory.
A write is acknowledged when its transaction has committed, and it is searchable at once: the
slots the graph has not absorbed yet (the *tail*) are searched exactly and merged. The graph
absorbs the tail in a background thread (or at ``flush()``), in small steps under a
readers-writer lock.

Search path (no SQLite access): validate the query, evaluate the filter on the payload index
to a mask, then either scan the matching rows exactly (selective filters) or search the graph
with an ``IDSelectorBitmap`` (and a raised ef), merge with the exact tail, rescore compressed
candidates with full vectors, and build the results from in-memory ids and metadata.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, final

import numpy as np
import orjson
from opentelemetry import trace

from llm_infra.errors import (
    AlreadyExistsError,
    BatchError,
    BatchResult,
    ConfigError,
    InfraError,
    IoError,
    NotFoundError,
    ValidationError,
    VectorError,
)
from llm_infra.vector import _files
from llm_infra.vector._ann import AnnIndex, estimate_bytes_per_vector
from llm_infra.vector._config import Distance, VectorStoreConfig
from llm_infra.vector._filters import MetadataFilter, parse_filter
from llm_infra.vector._payload import PayloadIndex
from llm_infra.vector._scan_cache import ScanCache
from llm_infra.vector._slab import RWLock, VectorSlab, dense_scores, sq_norm
from llm_infra.vector._types import SearchResult, StoreStats, VectorRecord, VerifyReport

if TYPE_CHECKING:
    from llm_infra.vector._query import SearchQuery

logger = logging.getLogger("llm_infra.vector")
_TRACER = trace.get_tracer("llm_infra.vector")

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called while the graph is built."""

MEMORY: Final = ":memory:"
MAX_ID_LENGTH: Final = 512
MAX_METADATA_BYTES: Final = 1 << 20
MAX_K: Final = 10_000
_ABSORB_STEP: Final = 512
_FLUSH_STEP: Final = 2_048
_MIN_COMPACT: Final = 64
_AUTOPERSIST_MIN: Final = 50_000
_MAX_DEPTH: Final = 64
_FILTER_EF_CAP: Final = 4_096
_FILTER_EF_PIVOT: Final = 0.3
_FILTER_EF_BOOST_CAP: Final = 16.0
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS points ("
    " label INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " vector BLOB NOT NULL,"
    " metadata TEXT)",
)


def _tracing() -> bool:
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _storage_error(exc: sqlite3.Error, operation: str) -> InfraError:
    if isinstance(exc, sqlite3.OperationalError):
        return IoError(
            f"vector storage {operation} failed: {exc}",
            operation=operation,
            code="vector.storage",
            retryable=True,
        )
    return VectorError(
        f"vector storage {operation} failed: {exc}",
        operation=operation,
        code="vector.storage_corrupt",
        remediation=["run verify(); restore the store from a snapshot if the database is damaged"],
    )


def dimension_mismatch(expected: int, actual: int, operation: str) -> VectorError:
    """The spec's error: ``Dimension mismatch: expected N, got M``."""
    return VectorError(
        f"Dimension mismatch: expected {expected}, got {actual}",
        operation=operation,
        dimensions=expected,
        expected=expected,
        actual=actual,
        code="vector.dimension_mismatch",
        remediation=[
            "check that the embedding model matches the store (stats().dimensions)",
            "a store's dimensions are fixed: create a new collection for another model",
        ],
    )


def _invalid_vector(message: str, operation: str) -> VectorError:
    return VectorError(message, operation=operation, code="vector.invalid_vector")


def check_id(value: object, where: str = "id") -> str:
    """Validate a vector id (a non-empty string of at most 512 characters, no NUL)."""
    if not isinstance(value, str):
        raise ValidationError(
            f"{where} must be a string, got {type(value).__name__}",
            field=where,
            expected="str",
            actual=type(value).__name__,
            code="vector.invalid_id",
        )
    if not value or len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise ValidationError(
            f"{where} must be 1..{MAX_ID_LENGTH} characters without NUL",
            field=where,
            expected=f"1..{MAX_ID_LENGTH} characters",
            actual=f"{len(value)} characters",
            code="vector.invalid_id",
        )
    return value


def _check_json(value: object, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValidationError(
            f"metadata nests deeper than {_MAX_DEPTH} at {path}", field=path, code="vector.invalid_metadata"
        )
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValidationError(
                f"metadata integer out of 64-bit range at {path}", field=path, code="vector.invalid_metadata"
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                f"metadata number at {path} is not finite (NaN/inf are not JSON)",
                field=path,
                code="vector.invalid_metadata",
            )
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(
                    f"metadata keys must be strings at {path}", field=path, code="vector.invalid_metadata"
                )
            _check_json(v, f"{path}.{k}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]", depth + 1)
        return
    raise ValidationError(
        f"metadata value at {path} is a {type(value).__name__}, not a JSON type",
        field=path,
        expected="str, number, bool, null, list or dict",
        actual=type(value).__name__,
        code="vector.invalid_metadata",
    )


def encode_metadata(metadata: object) -> tuple[str | None, dict[str, Any] | None]:
    """Validate metadata (a JSON object) and return ``(json text, plain dict)``."""
    if metadata is None:
        return None, None
    if not isinstance(metadata, Mapping):
        raise ValidationError(
            f"metadata must be a dict, got {type(metadata).__name__}",
            field="metadata",
            expected="dict",
            actual=type(metadata).__name__,
            code="vector.invalid_metadata",
        )
    plain = dict(metadata)
    _check_json(plain, "metadata", 0)
    text = orjson.dumps(plain).decode()
    if len(text) > MAX_METADATA_BYTES:
        raise ValidationError(
            f"metadata is {len(text)} bytes; the limit is {MAX_METADATA_BYTES}",
            field="metadata",
            code="vector.invalid_metadata",
        )
    # Round-trip so the in-memory copy is exactly what a reopen will see (tuples become lists).
    return text, orjson.loads(text)


_SCALAR_TYPES: Final = frozenset((str, int, float, bool, type(None)))


def _decode_meta(metas: list[str | dict[str, Any] | None], slot: int, text: str) -> dict[str, Any]:
    """Decode a slot's metadata text; a flat result is kept decoded in ``metas`` for next time.

    Flat dicts (scalar values) are copied by ``dict.copy()``, so the cached one is never handed
    out; nested ones are re-parsed on each read (a shallow copy would share inner lists).
    Caller holds the store's read or write lock, and writers replace the entry itself, so a
    cached dict can never outlive the text it came from.
    """
    d: dict[str, Any] = orjson.loads(text)
    if all(type(v) in _SCALAR_TYPES for v in d.values()):
        metas[slot] = d
        return d.copy()
    return d


def _topk(scores: np.ndarray, slots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if scores.shape[0] > k:
        part = np.argpartition(-scores, k - 1)[:k]
        scores, slots = scores[part], slots[part]
    order = np.argsort(-scores, kind="stable")
    return scores[order], slots[order]


_new_result = object.__new__
_RESULT_SLOTS: Final[Any] = vars(SearchResult)  # the slot descriptors, looked up untyped
_set_id = _RESULT_SLOTS["id"].__set__
_set_score = _RESULT_SLOTS["score"].__set__
_set_metadata = _RESULT_SLOTS["metadata"].__set__
_set_vector = _RESULT_SLOTS["vector"].__set__


def _results(
    ids: list[str | None],
    metas: list[str | dict[str, Any] | None] | None,
    slots: list[int],
    scores: list[float],
) -> list[SearchResult]:
    """Build the hits (caller holds the read lock).

    The arguments are already valid, so this fills the frozen slots directly instead of going
    through the dataclass ``__init__`` (same type, same fields, ~2x cheaper per result).
    """
    out: list[SearchResult] = []
    append = out.append
    for s, sc in zip(slots, scores, strict=True):
        r = _new_result(SearchResult)
        _set_id(r, ids[s] or "")
        _set_score(r, sc)
        if metas is None or (m := metas[s]) is None:
            _set_metadata(r, None)
        elif type(m) is dict:
            _set_metadata(r, m.copy())
        else:
            _set_metadata(r, _decode_meta(metas, s, m))  # type: ignore[arg-type]  # str here
        _set_vector(r, None)
        append(r)
    return out


def _filter_key(flt: MetadataFilter) -> object:
    """A cache key for ``flt``, or None when it is not hashable.

    Filters are frozen dataclasses whose equality includes their class; the repr tells apart
    values that compare equal across types (``1``, ``1.0`` and ``True``).
    """
    try:
        key = (flt, repr(flt))
        hash(key)
    except TypeError:
        return None
    return key


def _grow(arr: np.ndarray, size: int, fill: Any) -> np.ndarray:
    if size <= arr.shape[0]:
        return arr
    new = np.full(max(size, 2 * arr.shape[0], 64), fill, dtype=arr.dtype)
    new[: arr.shape[0]] = arr
    return new


@final
class LocalVectorStore:
    """The embedded vector store (see ``open_store``).

    Thread-safe: searches run concurrently; writes are serialized. One process at a time may
    open an on-disk store (``vector.locked`` otherwise).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        config: VectorStoreConfig | None = None,
        *,
        progress: Progress | None = None,
    ) -> None:
        self._closed = True
        self._lock: _files.StoreLock | None = None
        self._dir: Path | None = None if str(path) == MEMORY else Path(path)
        self._path_text = MEMORY if self._dir is None else str(self._dir)
        self._db_lock = threading.Lock()
        self._write_mutex = threading.RLock()
        self._index_mutex = threading.RLock()
        self._rw = RWLock()
        self._wake = threading.Event()
        self._stop = False
        self._worker: threading.Thread | None = None
        self.worker_error: BaseException | None = None
        try:
            self._open(config, progress)
        except BaseException:
            self._release()
            raise
        self._closed = False
        if self._cfg.background_indexing and self._g < self._n:
            self._kick()

    # ------------------------------------------------------------------ opening

    def _connect(self) -> sqlite3.Connection:
        target = MEMORY if self._dir is None else str(self._dir / _files.DB_FILE)
        try:
            db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            if self._dir is not None:
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=5000")
            for stmt in _SCHEMA:
                db.execute(stmt)
        except sqlite3.Error as exc:
            raise _storage_error(exc, "open") from exc
        return db

    def _open(self, config: VectorStoreConfig | None, progress: Progress | None) -> None:
        if self._dir is not None:
            try:
                self._dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IoError(
                    f"cannot create the store directory: {exc.strerror}",
                    operation="open",
                    path=str(self._dir),
                    errno=exc.errno,
                    code="vector.io",
                ) from exc
            self._lock = _files.StoreLock(self._dir)
        self._db = self._connect()
        stored = self._meta_get("config")
        if stored is None:
            if config is None:
                raise ConfigError(
                    f"no vector store at {self._path_text}; pass a VectorStoreConfig to create one",
                    code="vector.config_required",
                )
            cfg = config
        else:
            cfg = VectorStoreConfig.from_dict(orjson.loads(stored))
            if config is not None:
                for name in ("collection", "dimensions", "distance"):
                    if getattr(config, name) != getattr(cfg, name):
                        raise ConfigError(
                            f"the store at {self._path_text} has {name}={getattr(cfg, name)!s}; "
                            f"the config says {getattr(config, name)!s}",
                            key=name,
                            code="vector.config_mismatch",
                        )
                cfg = config
        if stored is None or config is not None:
            self._meta_set("config", orjson.dumps(cfg.to_dict()).decode())
        self._cfg = cfg
        self._dims = cfg.dimensions
        self._distance = cfg.distance
        self._cosine = cfg.distance is Distance.COSINE
        self._ip = cfg.distance is not Distance.L2
        try:
            with self._db_lock:
                self._db.execute(f"PRAGMA synchronous={'FULL' if cfg.durability == 'full' else 'NORMAL'}")
        except sqlite3.Error as exc:  # pragma: no cover - pragma on an open connection
            raise _storage_error(exc, "open") from exc
        self._reset_memory()
        manifest = _files.read_manifest(self._dir) if self._dir is not None else None
        loaded = self._load_index(manifest) if manifest is not None else None
        if manifest is not None and loaded is not None:
            self._derived: set[str] = {manifest.index.name} | (
                {manifest.vectors.name} if manifest.vectors else set()
            )
        self._load_rows(loaded, manifest, progress)
        if self._dir is not None:
            _files.cleanup(self._dir, self._derived)

    def _reset_memory(self) -> None:
        self._n = 0
        self._g = 0
        self._live = 0
        self._dead_graph = 0
        self._labels = np.zeros(64, dtype=np.int64)
        self._alive = np.zeros(64, dtype=np.bool_)
        self._ids: list[str | None] = []
        # Per slot: None, the metadata's JSON text, or (once a search decoded it) the decoded
        # dict of a *flat* object (scalar values only), handed out as shallow copies.
        self._meta: list[str | dict[str, Any] | None] = []
        self._id_to_slot: dict[str, int] = {}
        self._slab = VectorSlab(self._dims)
        self._ann: AnnIndex | None = None
        self._ann_version = 0
        self._tier: str = self._cfg.compression.tier if self._cfg.compression.tier != "auto" else "none"
        self._payload = PayloadIndex(self._cfg.indexed_fields)
        # Set at open: the payload index is built on first use (a filter or plan), from
        # ``_meta`` as it is then; writes skip it meanwhile.
        self._payload_pending = False
        self._alive_bits: np.ndarray | None = None
        self._persisted_version = -1
        self._persisted_g = 0
        self._generation = 0
        self._next_label = 1
        self._derived = set()
        # Bumped by every change to slots, liveness or metadata (under the write lock); the
        # exact-scan cache is valid for one value.
        self._write_gen = 0
        self._scan_cache = ScanCache()

    def _meta_get(self, key: str) -> str | None:
        try:
            with self._db_lock:
                row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise _storage_error(exc, "open") from exc
        return None if row is None else str(row[0])

    def _meta_set(self, key: str, value: str) -> None:
        try:
            with self._db_lock:
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
        except sqlite3.Error as exc:
            raise _storage_error(exc, "open") from exc

    def _index_params(self) -> dict[str, Any]:
        cfg = self._cfg
        return {
            "dimensions": cfg.dimensions,
            "distance": str(cfg.distance),
            "m": cfg.hnsw.m,
            "ef_construction": cfg.hnsw.ef_construction,
            "tier": cfg.compression.tier,
            "memory_budget_mb": cfg.compression.memory_budget_mb,
        }

    def _load_index(self, manifest: _files.Manifest) -> tuple[AnnIndex, np.ndarray, np.ndarray | None] | None:
        """Load and verify the persisted index; None (after a warning) when it cannot be used."""
        assert self._dir is not None
        self._generation = manifest.generation
        if manifest.params != self._index_params():
            logger.info("vector store %s: index parameters changed; rebuilding the index", self._dir)
            return None
        path = self._dir / manifest.index.name
        try:
            data, digest = _files.sha256_file(path)
        except OSError as exc:
            logger.warning(
                "vector store %s: index file unreadable (%s); rebuilding from SQLite", self._dir, exc
            )
            return None
        if len(data) != manifest.index.size or digest != manifest.index.sha256:
            logger.warning(
                "vector store %s: index file %s failed its checksum; rebuilding from SQLite",
                self._dir,
                manifest.index.name,
            )
            return None
        try:
            header, labels, blob = _files.decode_index_bundle(data)
            if (
                header.get("tier") != manifest.tier
                or header.get("dimensions") != self._dims
                or labels.shape[0] != manifest.count
            ):
                raise ValueError("index header does not match the manifest")
            ann = AnnIndex.deserialize(blob, manifest.tier, self._dims, self._distance, header)
            if ann.ntotal != manifest.count:
                raise ValueError("index size does not match the manifest")
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            logger.warning(
                "vector store %s: index file unusable (%s); rebuilding from SQLite", self._dir, exc
            )
            return None
        vectors: np.ndarray | None = None
        if manifest.tier != "none":
            if manifest.vectors is None:
                return None
            vpath = self._dir / manifest.vectors.name
            try:
                size, vdigest = _files.sha256_stream(vpath)
                if size != manifest.vectors.size or vdigest != manifest.vectors.sha256:
                    raise ValueError("checksum mismatch")
                vectors = _files.map_vectors(vpath, manifest.count, self._dims)
            except (OSError, ValueError) as exc:
                logger.warning(
                    "vector store %s: vectors file unusable (%s); rebuilding from SQLite", self._dir, exc
                )
                return None
        return ann, labels, vectors

    def _fetch_rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            with self._db_lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _storage_error(exc, "read") from exc

    def _decode_vectors(self, blobs: Sequence[bytes]) -> np.ndarray:
        width = 4 * self._dims
        if any(len(b) != width for b in blobs):
            raise VectorError(
                "a stored vector has the wrong length; the database is damaged",
                operation="open",
                code="vector.storage_corrupt",
            )
        if not blobs:
            return np.empty((0, self._dims), dtype=np.float32)
        return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), self._dims).astype(np.float32)

    def _search_space(self, mat: np.ndarray) -> np.ndarray:
        if not self._cosine:
            return np.ascontiguousarray(mat, dtype=np.float32)
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(mat / norms, dtype=np.float32)

    def _load_rows(
        self,
        loaded: tuple[AnnIndex, np.ndarray, np.ndarray | None] | None,
        manifest: _files.Manifest | None,
        progress: Progress | None,
    ) -> None:
        rows = self._fetch_rows("SELECT label, id, metadata FROM points ORDER BY label")
        seq = self._fetch_rows("SELECT seq FROM sqlite_sequence WHERE name = 'points'")
        live_labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        top = max([int(seq[0][0]) if seq else 0, int(live_labels[-1]) if rows else 0])
        if manifest is not None:
            top = max(top, manifest.max_label)
        self._next_label = top + 1
        tail_rows = np.arange(len(rows))
        if loaded is not None:
            ann, idx_labels, vectors = loaded
            g = idx_labels.shape[0]
            pos = np.searchsorted(live_labels, idx_labels)
            pos_c = np.minimum(pos, max(len(rows) - 1, 0))
            found = (pos < len(rows)) & (live_labels[pos_c] == idx_labels) if rows else np.zeros(g, np.bool_)
            in_index = np.zeros(len(rows), dtype=np.bool_)
            in_index[pos[found]] = True
            tail_rows = np.flatnonzero(~in_index)
            if tail_rows.size and g and live_labels[tail_rows].min() <= idx_labels.max():
                logger.warning("vector store %s: index does not match the database; rebuilding", self._dir)
                loaded = None
                tail_rows = np.arange(len(rows))
        if loaded is not None:
            ann, idx_labels, vectors = loaded
            g = idx_labels.shape[0]
            self._labels = _grow(self._labels, g, 0)
            self._alive = _grow(self._alive, g, False)
            self._labels[:g] = idx_labels
            self._alive[:g] = found
            found_list = found.tolist()
            pos_list = pos.tolist()
            self._ids = [rows[p][1] if f else None for p, f in zip(pos_list, found_list, strict=True)]
            texts: list[str | None] = [
                rows[p][2] if f else None for p, f in zip(pos_list, found_list, strict=True)
            ]
            self._meta = list(texts)
            self._id_to_slot = {ident: slot for slot, ident in enumerate(self._ids) if ident is not None}
            self._ann = ann
            self._tier = ann.tier
            self._n = self._g = g
            self._dead_graph = g - int(found.sum())
            self._live = g - self._dead_graph
            view = ann.storage_view()
            self._slab.replace(view if view is not None else vectors, np.empty((0, self._dims), np.float32))  # type: ignore[arg-type]  # one of them is set
            self._persisted_version = self._ann_version
            self._persisted_g = g
            self._payload_pending = bool(self._payload.fields)
        rebuild = loaded is None and bool(rows)
        if tail_rows.size:
            labels = live_labels[tail_rows]
            if loaded is not None:
                vrows = self._fetch_rows(
                    "SELECT vector FROM points WHERE label > ? ORDER BY label",
                    (int(loaded[1].max(initial=0)),),
                )
            else:
                vrows = self._fetch_rows("SELECT vector FROM points ORDER BY label")
            mat = self._decode_vectors([r[0] for r in vrows])
            if mat.shape[0] != labels.shape[0]:  # pragma: no cover - rows changed under an exclusive lock
                raise VectorError(
                    "the database changed while opening", operation="open", code="vector.storage"
                )
            picked = [rows[i] for i in tail_rows.tolist()]
            self._append_slots(
                labels, [r[1] for r in picked], [r[2] for r in picked], None, self._search_space(mat)
            )
        if rebuild:
            self._absorb(progress=progress)
            self._persist()

    # ------------------------------------------------------------------ memory state

    def _append_slots(
        self,
        labels: np.ndarray,
        ids: list[str],
        metas: list[str | None],
        dicts: list[dict[str, Any] | None] | None,
        vecs: np.ndarray,
    ) -> None:
        """Append slots (caller holds the write lock or is opening)."""
        start = self._n
        c = len(ids)
        end = start + c
        self._labels = _grow(self._labels, end, 0)
        self._alive = _grow(self._alive, end, False)
        self._labels[start:end] = labels
        self._alive[start:end] = True
        self._ids.extend(ids)
        self._meta.extend(metas)
        for j, ident in enumerate(ids):
            old = self._id_to_slot.get(ident)
            if old is not None:
                self._tombstone(old)
            self._id_to_slot[ident] = start + j
        self._slab.append(vecs)
        self._write_gen += 1
        if self._payload.fields and not self._payload_pending:
            self._payload.reserve(end)
            for j in range(c):
                if dicts is not None:
                    d = dicts[j]
                else:
                    text = metas[j]
                    d = None if text is None else orjson.loads(text)
                if d is not None:
                    self._payload.set(start + j, d)
        self._n = end
        self._live += c

    def _tombstone(self, slot: int) -> None:
        self._write_gen += 1
        self._alive[slot] = False
        self._meta[slot] = None
        self._ids[slot] = None
        self._live -= 1
        if slot < self._g:
            self._dead_graph += 1
            self._alive_bits = None

    def _meta_plain(self, slot: int) -> dict[str, Any] | None:
        """The slot's metadata for internal read-only use (not copied, not cached)."""
        m = self._meta[slot]
        if isinstance(m, str):
            decoded: dict[str, Any] = orjson.loads(m)
            return decoded
        return m

    def _prepare_payload(self, flt: MetadataFilter) -> None:
        """Build the payload index if the open deferred it, and index the filter's new fields."""
        missing = [f for f in flt.fields() if f not in self._payload.fields]
        if not missing and not self._payload_pending:
            return
        with self._rw.write:
            if self._payload_pending:
                self._payload.rebuild([self._meta_plain(slot) for slot in range(self._n)])
                self._payload_pending = False
            missing = [f for f in flt.fields() if f not in self._payload.fields]
            if missing:
                self._payload.ensure(missing, self._n, self._meta_plain)

    def _meta_dict(self, slot: int) -> dict[str, Any] | None:
        """A private copy of the slot's metadata (callers may mutate it)."""
        m = self._meta[slot]
        if m is None:
            return None
        if type(m) is dict:
            return m.copy()
        return _decode_meta(self._meta, slot, m)  # type: ignore[arg-type]  # str here

    # ------------------------------------------------------------------ validation

    def _check_open(self) -> None:
        if self._closed:
            raise VectorError("the vector store is closed", code="vector.closed")

    def _vector(self, vector: object, operation: str) -> np.ndarray:
        """One vector as a float32 row, validated (dimension, finiteness)."""
        try:
            arr = np.asarray(vector)
        except (TypeError, ValueError) as exc:
            raise _invalid_vector(f"not a numeric vector: {exc}", operation) from exc
        if arr.dtype != np.float32:
            if arr.dtype.kind not in "fiu" or arr.dtype.itemsize > 8:
                raise _invalid_vector(f"a vector must hold real numbers, got dtype {arr.dtype}", operation)
            with np.errstate(over="ignore", invalid="ignore"):
                arr = arr.astype(np.float32)
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 1:
            raise _invalid_vector(f"a vector must be 1-D, got shape {arr.shape}", operation)
        if arr.shape[0] != self._dims:
            raise dimension_mismatch(self._dims, int(arr.shape[0]), operation)
        if not np.isfinite(arr).all():
            raise _invalid_vector("Vector contains NaN or infinite values", operation)
        return arr

    def _query(self, vector: object) -> np.ndarray:
        if (
            type(vector) is np.ndarray
            and vector.dtype == np.float32
            and vector.shape == (self._dims,)
            and vector.flags.c_contiguous
        ):
            # Fast path: one reduction checks finiteness (a NaN or inf element makes the sum of
            # squares NaN or inf; squares cannot cancel) and gives the norm.
            sq = sq_norm(vector)
            if math.isfinite(sq):
                if self._cosine and sq > 0:
                    return (vector / np.float32(math.sqrt(sq))).reshape(1, self._dims)
                return vector.reshape(1, self._dims).copy()
            # Not finite: NaN/inf in the vector, or finite values whose squares overflow float32;
            # the full check decides.
        q = np.ascontiguousarray(self._vector(vector, "search"), dtype=np.float32)
        if self._cosine:
            norm = math.sqrt(sq_norm(q))
            if norm > 0:
                q = q / np.float32(norm)
        return q.reshape(1, self._dims)

    # ------------------------------------------------------------------ writes

    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a new vector.

        Raises:
            AlreadyExistsError: the id exists.
            VectorError: ``vector.dimension_mismatch`` or ``vector.invalid_vector`` (NaN/inf).
            ValidationError: a bad id or metadata.
        """
        self._single(id, vector, metadata, upsert=False)

    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert, or replace the vector and metadata of an existing id."""
        self._single(id, vector, metadata, upsert=True)

    def _single(
        self, ident: object, vector: Any, metadata: Mapping[str, Any] | None, *, upsert: bool
    ) -> None:
        self._check_open()
        op = "upsert" if upsert else "insert"
        with _TRACER.start_as_current_span(f"vector.{op}") as span:
            if span.is_recording():
                span.set_attribute("vector.dimensions", self._dims)
            key = check_id(ident)
            arr = self._vector(vector, op)
            text, plain = encode_metadata(metadata)
            failures = self._commit([key], arr.reshape(1, -1), [text], [plain], upsert=upsert, operation=op)
            if failures:
                raise failures[0][1]

    def insert_batch(
        self,
        items: Iterable[VectorRecord | tuple[Any, ...]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: Any = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> BatchResult:
        """Insert many vectors; bad items fail alone (with their id), the rest are written.

        Items are ``(id, vector)`` / ``(id, vector, metadata)`` tuples or ``VectorRecord``s;
        or use the fast path ``ids=[...], vectors=<(n, d) array>, metadatas=[...]``.

        Returns:
            ``BatchResult``; ``failures`` holds each failed id with its error
            (``AlreadyExistsError`` for existing ids and repeats within the batch).

        Raises:
            BatchError: every item of a non-empty batch failed.
        """
        return self._batch(items, ids, vectors, metadatas, upsert=False)

    def upsert_batch(
        self,
        items: Iterable[VectorRecord | tuple[Any, ...]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: Any = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> BatchResult:
        """Like ``insert_batch`` but replaces existing ids (the last repeat of an id wins)."""
        return self._batch(items, ids, vectors, metadatas, upsert=True)

    def _batch(
        self,
        items: Iterable[VectorRecord | tuple[Any, ...]] | None,
        ids: Sequence[str] | None,
        vectors: Any,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        *,
        upsert: bool,
    ) -> BatchResult:
        self._check_open()
        op = "upsert_batch" if upsert else "insert_batch"
        with _TRACER.start_as_current_span(f"vector.{op}") as span:
            names, mat, row_ok, metas, errors = self._prepare_batch(items, ids, vectors, metadatas, op)
            total = len(names)
            if span.is_recording():
                span.set_attribute("vector.batch_size", total)
                span.set_attribute("vector.dimensions", self._dims)
            good = [i for i in range(total) if row_ok[i] and errors[i] is None]
            texts = [metas[i][0] for i in good]  # type: ignore[index]  # set when no error
            plains = [metas[i][1] for i in good]  # type: ignore[index]  # set when no error
            failures = self._commit(
                [names[i] for i in good],
                mat[good] if good else np.empty((0, self._dims), np.float32),
                texts,
                plains,
                upsert=upsert,
                operation=op,
            )
            for local, err in failures:
                errors[good[local]] = err
            batch = BatchError(total)
            for i in range(total):
                outcome = errors[i]
                if outcome is None:
                    batch.record_success(names[i])
                else:
                    batch.record_failure(names[i], outcome)
            if span.is_recording():
                span.set_attribute("vector.batch_failed", len(batch.failures))
            return batch.finalize()

    def _prepare_batch(
        self,
        items: Iterable[VectorRecord | tuple[Any, ...]] | None,
        ids: Sequence[str] | None,
        vectors: Any,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        op: str,
    ) -> tuple[
        list[str],
        np.ndarray,
        np.ndarray,
        list[tuple[str | None, dict[str, Any] | None] | None],
        list[InfraError | None],
    ]:
        d = self._dims
        if items is not None:
            if ids is not None or vectors is not None or metadatas is not None:
                raise ValidationError(
                    "pass either items or ids=/vectors=/metadatas=, not both",
                    field="items",
                    code="vector.invalid_batch",
                )
            raw_ids: list[object] = []
            raw_vecs: list[object] = []
            raw_meta: list[object] = []
            shape_errors: dict[int, InfraError] = {}
            for i, item in enumerate(items):
                if isinstance(item, VectorRecord):
                    raw_ids.append(item.id)
                    raw_vecs.append(item.vector)
                    raw_meta.append(item.metadata)
                elif isinstance(item, tuple | list) and len(item) in (2, 3):
                    raw_ids.append(item[0])
                    raw_vecs.append(item[1])
                    raw_meta.append(item[2] if len(item) == 3 else None)
                else:
                    raw_ids.append(f"#{i}")
                    raw_vecs.append(None)
                    raw_meta.append(None)
                    shape_errors[i] = ValidationError(
                        f"item {i} must be (id, vector[, metadata]) or a VectorRecord",
                        field=f"items[{i}]",
                        code="vector.invalid_batch",
                    )
            n = len(raw_ids)
            mat = np.zeros((n, d), dtype=np.float32)
            row_ok = np.ones(n, dtype=np.bool_)
            errors: list[InfraError | None] = [None] * n
            for i, v in enumerate(raw_vecs):
                if i in shape_errors:
                    errors[i] = shape_errors[i]
                    row_ok[i] = False
                    continue
                if v is None:
                    errors[i] = _invalid_vector("the item has no vector", op)
                    row_ok[i] = False
                    continue
                try:
                    mat[i] = self._vector(v, op)
                except InfraError as exc:
                    errors[i] = exc
                    row_ok[i] = False
        else:
            if ids is None or vectors is None:
                raise ValidationError(
                    "pass items, or both ids= and vectors=", field="ids", code="vector.invalid_batch"
                )
            raw_ids = list(ids)
            n = len(raw_ids)
            raw_meta = list(metadatas) if metadatas is not None else [None] * n
            if len(raw_meta) != n:
                raise ValidationError(
                    f"metadatas has {len(raw_meta)} entries for {n} ids",
                    field="metadatas",
                    code="vector.invalid_batch",
                )
            errors = [None] * n
            try:
                arr = np.asarray(vectors)
            except (TypeError, ValueError) as exc:
                raise _invalid_vector(f"vectors must be a 2-D numeric array: {exc}", op) from exc
            if arr.ndim != 2 or arr.shape[0] != n:
                raise ValidationError(
                    f"vectors must have shape ({n}, {d}), got {arr.shape}",
                    field="vectors",
                    code="vector.invalid_batch",
                )
            if arr.dtype.kind not in "fiu" or arr.dtype.itemsize > 8:
                raise _invalid_vector(f"vectors must hold real numbers, got dtype {arr.dtype}", op)
            if arr.shape[1] != d:
                for i in range(n):
                    errors[i] = dimension_mismatch(d, int(arr.shape[1]), op)
                mat = np.zeros((n, d), dtype=np.float32)
                row_ok = np.zeros(n, dtype=np.bool_)
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    mat = np.ascontiguousarray(arr, dtype=np.float32)
                row_ok = np.asarray(np.isfinite(mat).all(axis=1), dtype=np.bool_)
                for i in np.flatnonzero(~row_ok).tolist():
                    errors[i] = _invalid_vector("Vector contains NaN or infinite values", op)
        names: list[str] = []
        metas: list[tuple[str | None, dict[str, Any] | None] | None] = [None] * n
        for i in range(n):
            ident = raw_ids[i]
            if isinstance(ident, str) and ident and len(ident) <= MAX_ID_LENGTH and "\x00" not in ident:
                names.append(ident)
            else:
                names.append(ident if isinstance(ident, str) and ident else f"#{i}")
                if errors[i] is None:
                    try:
                        check_id(ident, f"items[{i}].id")
                    except ValidationError as exc:
                        errors[i] = exc
                continue
            if errors[i] is None:
                m = raw_meta[i]
                if m is None:
                    metas[i] = (None, None)
                else:
                    try:
                        metas[i] = encode_metadata(m)
                    except ValidationError as exc:
                        errors[i] = exc
        return names, mat, row_ok, metas, errors

    def _commit(
        self,
        names: list[str],
        mat: np.ndarray,
        texts: list[str | None],
        plains: list[dict[str, Any] | None],
        *,
        upsert: bool,
        operation: str,
    ) -> list[tuple[int, InfraError]]:
        """Write validated rows; returns ``(position, error)`` of the rows that failed."""
        failures: list[tuple[int, InfraError]] = []
        if not names:
            return failures
        with self._write_mutex:
            self._check_open()
            if upsert:
                last: dict[str, int] = {}
                for i, ident in enumerate(names):
                    last[ident] = i
                order = sorted(last.values())
            else:
                seen: set[str] = set()
                order = []
                for i, ident in enumerate(names):
                    if ident in self._id_to_slot or ident in seen:
                        failures.append(
                            (
                                i,
                                AlreadyExistsError(
                                    f"a vector with id {ident!r} already exists",
                                    resource_type="vector",
                                    resource_id=ident,
                                    code="vector.already_exists",
                                ),
                            )
                        )
                    else:
                        seen.add(ident)
                        order.append(i)
            chunk = self._cfg.chunk_size
            for start in range(0, len(order), chunk):
                part = order[start : start + chunk]
                err = self._commit_chunk(part, names, mat, texts, plains, upsert=upsert, operation=operation)
                if err is not None:
                    failures.extend((i, err) for i in part)
        if self._cfg.background_indexing:
            self._kick()
        return failures

    def _commit_chunk(
        self,
        part: list[int],
        names: list[str],
        mat: np.ndarray,
        texts: list[str | None],
        plains: list[dict[str, Any] | None],
        *,
        upsert: bool,
        operation: str,
    ) -> InfraError | None:
        c = len(part)
        first = self._next_label
        labels = np.arange(first, first + c, dtype=np.int64)
        rows = mat[part]
        chunk_ids = [names[i] for i in part]
        chunk_texts = [texts[i] for i in part]
        params = [(first + j, chunk_ids[j], rows[j].tobytes(), chunk_texts[j]) for j in range(c)]
        try:
            with self._db_lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    if upsert:
                        replaced = [(ident,) for ident in chunk_ids if ident in self._id_to_slot]
                        if replaced:
                            self._db.executemany("DELETE FROM points WHERE id = ?", replaced)
                    self._db.executemany(
                        "INSERT INTO points(label, id, vector, metadata) VALUES (?, ?, ?, ?)", params
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            return _storage_error(exc, operation)
        self._next_label = first + c
        vecs = self._search_space(rows)
        with self._rw.write:
            self._append_slots(labels, chunk_ids, chunk_texts, [plains[i] for i in part], vecs)
            self._maybe_compact_locked()
        return None

    def delete(self, id: str) -> bool:
        """Delete a vector; True when it existed. Never returned by a search afterwards."""
        self._check_open()
        key = check_id(id)
        with _TRACER.start_as_current_span("vector.delete"), self._write_mutex:
            self._check_open()
            if key not in self._id_to_slot:
                return False
            try:
                with self._db_lock:
                    self._db.execute("DELETE FROM points WHERE id = ?", (key,))
            except sqlite3.Error as exc:
                raise _storage_error(exc, "delete") from exc
            with self._rw.write:
                slot = self._id_to_slot.pop(key)
                self._tombstone(slot)
                self._maybe_compact_locked()
        return True

    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata of an existing vector (the vector is unchanged).

        Raises:
            NotFoundError: no vector has this id.
        """
        self._check_open()
        key = check_id(id)
        text, plain = encode_metadata(metadata)
        with _TRACER.start_as_current_span("vector.update_metadata"), self._write_mutex:
            self._check_open()
            if key not in self._id_to_slot:
                raise NotFoundError(
                    f"no vector with id {key!r}",
                    resource_type="vector",
                    resource_id=key,
                    code="vector.not_found",
                )
            try:
                with self._db_lock:
                    self._db.execute("UPDATE points SET metadata = ? WHERE id = ?", (text, key))
            except sqlite3.Error as exc:
                raise _storage_error(exc, "update_metadata") from exc
            with self._rw.write:
                slot = self._id_to_slot[key]
                self._write_gen += 1
                self._meta[slot] = text
                if self._payload.fields and not self._payload_pending:
                    self._payload.set(slot, plain)

    # ------------------------------------------------------------------ reads

    def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """The record with this id, or None. ``with_vector`` reads the stored vector."""
        self._check_open()
        key = check_id(id)
        with self._rw.read:
            slot = self._id_to_slot.get(key)
            if slot is None:
                return None
            meta = self._meta_dict(slot)
            label = int(self._labels[slot])
        vector = None
        if with_vector:
            found = self._vectors_by_label([label])
            if label not in found:
                return None
            vector = found[label]
        return VectorRecord(id=key, vector=vector, metadata=meta)

    def _vectors_by_label(self, labels: list[int]) -> dict[int, np.ndarray]:
        marks = ",".join("?" * len(labels))
        rows = self._fetch_rows(f"SELECT label, vector FROM points WHERE label IN ({marks})", tuple(labels))  # noqa: S608 - only placeholders are interpolated
        return {int(r[0]): np.frombuffer(r[1], dtype="<f4").astype(np.float32) for r in rows}

    def count(self) -> int:
        """Live vectors."""
        self._check_open()
        return self._live

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and id in self._id_to_slot

    def query(self, vector: Any) -> SearchQuery:
        """Start a fluent query: ``store.query(v).limit(5).where_eq("lang", "en").execute()``."""
        from llm_infra.vector._query import SearchQuery

        return SearchQuery(vector, store=self)

    def search(
        self,
        vector: Any,
        k: int = 10,
        filter: MetadataFilter | Mapping[str, Any] | None = None,
        ef_search: int | None = None,
        *,
        min_score: float | None = None,
        with_vectors: bool = False,
        with_metadata: bool = True,
    ) -> list[SearchResult]:
        """The ``k`` best matches, best first (scores: higher is better for every distance).

        Args:
            vector: the query vector.
            k: results wanted (1..10000).
            filter: a ``MetadataFilter`` or its dict form.
            ef_search: graph candidate list size for this call (default: the store's).
            min_score: drop results scoring below it (applied to the exact top ``k``).
            with_vectors: include the stored vectors.
            with_metadata: include metadata (default True).

        Raises:
            VectorError: ``vector.dimension_mismatch`` / ``vector.invalid_vector``.
            ValidationError: a malformed filter (the path is named) or a bad ``k``/``ef_search``.
        """
        self._check_open()
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValidationError(
                f"k must be an integer in [1, {MAX_K}], got {k!r}", field="k", code="vector.invalid_k"
            )
        ef = self._cfg.hnsw.ef_search if ef_search is None else ef_search
        if isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= 100_000:
            raise ValidationError(
                f"ef_search must be an integer in [1, 100000], got {ef_search!r}",
                field="ef_search",
                code="vector.invalid_ef",
            )
        if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, int | float)):
            raise ValidationError(
                "min_score must be a number", field="min_score", code="vector.invalid_min_score"
            )
        if not _tracing():
            return self._search(vector, k, filter, ef, min_score, with_vectors, with_metadata)
        with _TRACER.start_as_current_span("vector.search") as span:
            span.set_attribute("vector.k", k)
            span.set_attribute("vector.dimensions", self._dims)
            span.set_attribute("vector.has_filter", filter is not None)
            return self._search(vector, k, filter, ef, min_score, with_vectors, with_metadata)

    def _search(  # noqa: PLR0917 - private twin of search()'s signature
        self,
        vector: Any,
        k: int,
        filter: MetadataFilter | Mapping[str, Any] | None,
        ef: int,
        min_score: float | None,
        with_vectors: bool,
        with_metadata: bool,
    ) -> list[SearchResult]:
        q = self._query(vector)
        flt = None if filter is None else parse_filter(filter)
        if flt is not None:
            self._prepare_payload(flt)
        with self._rw.read:
            scores, slots = self._search_locked(q, k, flt, ef)
            slot_list = slots.tolist()
            score_list = scores.tolist()
            if min_score is not None:
                keep = sum(1 for sc in score_list if sc >= min_score)  # sorted: a prefix qualifies
                slot_list, score_list = slot_list[:keep], score_list[:keep]
            out = _results(self._ids, self._meta if with_metadata else None, slot_list, score_list)
            labels = self._labels[slot_list].tolist() if with_vectors else []
        if with_vectors and out:
            found = self._vectors_by_label(labels)
            out = [
                SearchResult(r.id, r.score, r.metadata, found.get(label))
                for r, label in zip(out, labels, strict=True)
                if label in found
            ]
        return out

    def _exact_limit(self) -> float:
        return max(float(self._cfg.exact_scan_min_rows), self._cfg.exact_scan_fraction * self._g)

    def plan(self, filter: MetadataFilter | Mapping[str, Any] | None) -> Literal["exact", "graph"]:
        """How a search with this filter would run: ``"exact"`` scan or ``"graph"`` search."""
        self._check_open()
        flt = None if filter is None else parse_filter(filter)
        if flt is not None:
            self._prepare_payload(flt)
        with self._rw.read:
            if self._g == 0:
                return "exact"
            if flt is None:
                return "graph"
            matched = int(np.count_nonzero(self._filter_mask(flt)[0]))
            return "exact" if matched <= self._exact_limit() else "graph"

    def _filter_mask(self, flt: MetadataFilter) -> tuple[np.ndarray, bool]:
        """The live slots matching ``flt``, and whether the payload index decided it (cacheable)."""
        n = self._n
        indexed = True
        try:
            mask = self._payload.evaluate(flt, n)
        except (TypeError, KeyError):
            # A user-defined MetadataFilter subclass: evaluate its own matches() per live row.
            indexed = False
            mask = np.zeros(n, dtype=np.bool_)
            for slot in np.flatnonzero(self._alive[:n]).tolist():
                mask[slot] = flt.matches(self._meta_dict(slot))
        mask &= self._alive[:n]
        return mask, indexed

    def _cached_exact(self, key: object, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact scan of a filter seen before at this write generation, or None."""
        gen = self._write_gen
        entry = self._scan_cache.get(key, gen)
        if entry is None:
            return None
        slots = entry.slots
        if not (self._g == 0 or slots.shape[0] <= self._exact_limit()):
            return None  # the graph grew since: re-plan
        rows = entry.rows
        if rows is None and entry.uses >= 2:
            gathered = np.ascontiguousarray(self._slab.gather(slots), dtype=np.float32)
            if self._scan_cache.attach_rows(key, gen, entry, gathered):
                rows = gathered
        if rows is None:
            return _topk(self._exact_scores(slots, q), slots, k)
        raw = dense_scores(rows, q, not self._ip)
        return _topk(raw if self._ip else -np.sqrt(np.maximum(raw, 0.0)), slots, k)

    def _exact_scores(self, slots: np.ndarray, q: np.ndarray) -> np.ndarray:
        raw = self._slab.scores(slots, q, not self._ip)
        return raw if self._ip else -np.sqrt(np.maximum(raw, 0.0))

    def _tail_scores(self, lo: int, hi: int, q: np.ndarray) -> np.ndarray:
        raw = self._slab.scores_range(lo, hi, q, not self._ip)
        return raw if self._ip else -np.sqrt(np.maximum(raw, 0.0))

    def _search_locked(
        self, q: np.ndarray, k: int, flt: MetadataFilter | None, ef: int
    ) -> tuple[np.ndarray, np.ndarray]:
        n, g = self._n, self._g
        empty = (np.empty(0, np.float32), np.empty(0, np.int64))
        if self._live == 0:
            return empty
        factor = self._cfg.compression.factor_for(self._tier)
        kk = k * factor
        bitmap: np.ndarray | None
        if flt is not None:
            key = _filter_key(flt)
            if key is not None:
                hit = self._cached_exact(key, q, k)
                if hit is not None:
                    return hit
            mask, indexed = self._filter_mask(flt)
            matched = int(np.count_nonzero(mask))
            if matched == 0:
                return empty
            if g == 0 or matched <= self._exact_limit():
                slots = np.flatnonzero(mask)
                if key is not None and indexed:
                    self._scan_cache.put(key, self._write_gen, slots)
                return _topk(self._exact_scores(slots, q), slots, k)
            graph_matched = int(np.count_nonzero(mask[:g]))
            bitmap = np.packbits(mask[:g], bitorder="little")
            selectivity = max(graph_matched, 1) / g
            # Measured on 50k/100k x 384 (docs/vector.md): the ef a selector-filtered HNSW search
            # needs for recall 0.95 grows roughly with 1/selectivity^2 below ~30%.
            boost = min(_FILTER_EF_BOOST_CAP, (_FILTER_EF_PIVOT / selectivity) ** 2)
            ef = max(ef, min(_FILTER_EF_CAP, math.ceil(ef * boost)))
            tail: np.ndarray | None = np.flatnonzero(mask[g:]) + g
        else:
            if self._dead_graph:
                if self._alive_bits is None:
                    self._alive_bits = np.packbits(self._alive[:g], bitorder="little")
                bitmap = self._alive_bits
                ef = math.ceil(ef * g / max(g - self._dead_graph, 1))
            else:
                bitmap = None
            tail = None if self._live - (g - self._dead_graph) == 0 else np.arange(g, n, dtype=np.int64)
        parts_s: list[np.ndarray] = []
        parts_i: list[np.ndarray] = []
        if g:
            assert self._ann is not None
            dist, found = self._ann.search(q, min(kk, g), max(ef, kk), bitmap)
            if found.shape[0] and found[-1] < 0:
                ok = found >= 0
                found, dist = found[ok], dist[ok]
            if self._tier == "none":
                scores = dist if self._ip else -np.sqrt(np.maximum(dist, 0.0))
                if tail is None:
                    # faiss returns the graph's hits best first: nothing to merge or re-rank.
                    return scores, found
            else:
                scores = self._exact_scores(found, q)
            parts_s.append(scores.astype(np.float32, copy=False))
            parts_i.append(found)
        if tail is not None and tail.size:
            if flt is None:
                scores = self._tail_scores(g, n, q)
                live = self._alive[g:n]
                if not live.all():
                    tail, scores = tail[live], scores[live]
            else:
                scores = self._exact_scores(tail, q)
            parts_s.append(scores.astype(np.float32, copy=False))
            parts_i.append(tail)
        if not parts_s:
            return empty
        if len(parts_s) == 1:
            return _topk(parts_s[0], parts_i[0], k)
        return _topk(np.concatenate(parts_s), np.concatenate(parts_i), k)

    # ------------------------------------------------------------------ graph maintenance

    def _resolve_tier(self, count: int) -> str:
        comp = self._cfg.compression
        if comp.tier != "auto":
            return comp.tier
        assert comp.memory_budget_mb is not None
        budget = comp.memory_budget_mb * (1 << 20)
        for tier in ("none", "f16", "int8", "binary"):
            if estimate_bytes_per_vector(tier, self._dims, self._cfg.hnsw.m) * max(count, 1) <= budget:
                return tier
        logger.warning("vector store %s: even the binary tier exceeds the memory budget", self._path_text)
        return "binary"

    def _new_ann(self, count: int, sample: Callable[[], np.ndarray]) -> AnnIndex:
        tier = self._resolve_tier(count)
        ann = AnnIndex.create(
            tier, self._dims, self._distance, self._cfg.hnsw.m, self._cfg.hnsw.ef_construction
        )
        if not ann.is_trained:
            with self._rw.read:
                rows = np.array(sample())
            ann.train(rows)
        return ann

    def _kick(self) -> None:
        if self._closed and self._worker is None:
            return
        if self._worker is None or not self._worker.is_alive():
            self._stop = False
            self._worker = threading.Thread(target=self._work, name="llm-infra-vector-indexer", daemon=True)
            self._worker.start()
        self._wake.set()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            try:
                self._absorb(stop=lambda: self._stop)
                if self._stop:
                    return
                if self._needs_compaction():
                    self._compact(stop=lambda: self._stop)
                if self._dir is not None and self._g - self._persisted_g >= max(
                    _AUTOPERSIST_MIN, self._persisted_g
                ):
                    # Bound what a crash makes the next open replay (and re-index).
                    self._persist()
            except BaseException as exc:
                self.worker_error = exc
                logger.exception("vector store %s: background indexing failed", self._path_text)
                return

    def _absorb(self, *, progress: Progress | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Move tail slots into the graph in small steps (MemoryError halves the step)."""
        step = _ABSORB_STEP if stop is not None else _FLUSH_STEP
        with self._index_mutex:
            total = self._n
            while stop is None or not stop():
                with self._rw.read:
                    g, n = self._g, self._n
                    if g >= n:
                        break
                    hi = min(n, g + step)
                    rows = self._slab.rows(g, hi)
                    ann = self._ann
                ann_new = ann is None
                if ann is None:
                    ann = self._new_ann(self._live, partial(self._slab.rows, g, n))
                try:
                    with self._rw.write:
                        before = ann.ntotal
                        try:
                            ann.add(rows)
                        except MemoryError:
                            if ann.ntotal != before:
                                self._drop_graph_locked()
                            raise
                        if ann_new:
                            self._ann = ann
                            self._tier = ann.tier
                        self._g = hi
                        self._ann_version += 1
                        dead = int(np.count_nonzero(~self._alive[g:hi]))
                        self._dead_graph += dead
                        self._alive_bits = None
                        view = ann.storage_view()
                        if view is not None:
                            self._slab.rebase(view)
                except MemoryError:
                    if hi - g <= 1:
                        raise VectorError(
                            "out of memory while indexing, even one vector at a time",
                            operation="index",
                            code="vector.out_of_memory",
                        ) from None
                    step = max(1, (hi - g) // 2)
                    logger.warning(
                        "vector store %s: MemoryError while indexing; step now %d", self._path_text, step
                    )
                    continue
                if progress is not None:
                    progress(hi, max(total, hi))

    def _drop_graph_locked(self) -> None:
        """Forget the graph (caller holds the write lock); every slot becomes tail."""
        self._slab.materialize()
        self._write_gen += 1
        self._ann = None
        self._g = 0
        self._dead_graph = 0
        self._alive_bits = None
        self._ann_version += 1

    def _needs_compaction(self) -> bool:
        g = self._g
        return g >= _MIN_COMPACT and self._dead_graph > self._cfg.compaction_threshold * g

    def _maybe_compact_locked(self) -> None:
        if self._cfg.background_indexing and self._needs_compaction():
            self._wake.set()

    def _compact(self, progress: Progress | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Rebuild the graph over the live slots; searches continue on the old one meanwhile.

        ``stop`` (the background indexer's) abandons the new graph, leaving the old one in place.
        """
        with self._index_mutex:
            with self._rw.read:
                g0 = self._g
                keep = np.flatnonzero(self._alive[:g0])
                vecs = self._slab.gather(keep)
            ann = self._new_ann(keep.shape[0], lambda: vecs) if keep.size else None
            if ann is not None:
                step = _FLUSH_STEP
                for lo in range(0, keep.shape[0], step):
                    if stop is not None and stop():
                        return
                    ann.add(vecs[lo : lo + step])
                    if progress is not None:
                        progress(min(lo + step, keep.shape[0]), keep.shape[0])
            with self._rw.write:
                n = self._n
                order = np.concatenate([keep, np.arange(g0, n, dtype=np.int64)])
                tail = self._slab.rows(g0, n).copy()
                self._write_gen += 1
                self._labels = self._labels[order]
                self._alive = self._alive[order]
                self._ids = [self._ids[i] for i in order.tolist()]
                self._meta = [self._meta[i] for i in order.tolist()]
                self._id_to_slot = {ident: s for s, ident in enumerate(self._ids) if ident is not None}
                self._g = int(keep.shape[0])
                self._n = int(order.shape[0])
                self._dead_graph = int(np.count_nonzero(~self._alive[: self._g]))
                self._alive_bits = None
                self._ann = ann
                if ann is not None:
                    self._tier = ann.tier
                view = None if ann is None else ann.storage_view()
                self._slab = VectorSlab(self._dims)
                self._slab.replace(view if view is not None else vecs, tail)
                if ann is None:
                    self._slab.replace(np.empty((0, self._dims), np.float32), tail)
                if not self._payload_pending:
                    self._payload.rebuild([self._meta_plain(slot) for slot in range(self._n)])
                self._ann_version += 1

    # ------------------------------------------------------------------ persistence

    def _persist(self) -> None:
        """Write the index bundle (and vectors file) and then the manifest, atomically."""
        directory = self._dir
        if directory is None:
            return
        with self._index_mutex:
            with self._rw.read:
                if self._ann is None or self._persisted_version == self._ann_version:
                    return
                version = self._ann_version
                g = self._g
                labels = self._labels[:g].copy()
                blob = self._ann.serialize()
                extra = self._ann.header()
                tier = self._ann.tier
                full = self._slab.rows(0, g).copy() if tier != "none" else None
            gen = self._generation + 1
            self._write_derived(directory, gen, tier, labels, blob, full, extra)
            if full is not None:
                mapped = _files.map_vectors(directory / f"vectors-{gen}.bin", g, self._dims)
                with self._rw.write:
                    if self._g >= g and self._ann_version == version:
                        self._slab.replace(mapped, self._slab.rows(g, self._n).copy())
            self._generation = gen
            self._persisted_version = version
            self._persisted_g = g
            self._derived = {f"index-{gen}.bin"} | ({f"vectors-{gen}.bin"} if full is not None else set())
            _files.cleanup(directory, self._derived)

    def _write_derived(  # noqa: PLR0917 - private helper; every argument is required
        self,
        directory: Path,
        gen: int,
        tier: str,
        labels: np.ndarray,
        blob: np.ndarray,
        full: np.ndarray | None,
        extra: dict[str, Any],
    ) -> None:
        header = {"tier": tier, "dimensions": self._dims, "count": int(labels.shape[0]), **extra}
        index_name = f"index-{gen}.bin"
        size, sha = _files.atomic_write(
            directory / index_name, _files.encode_index_bundle(header, labels, blob)
        )
        vectors_entry = None
        if full is not None:
            vname = f"vectors-{gen}.bin"
            vsize, vsha = _files.atomic_write(directory / vname, _files.vectors_chunks(full))
            vectors_entry = _files.FileEntry(vname, vsize, vsha)
        manifest = _files.Manifest(
            generation=gen,
            index=_files.FileEntry(index_name, size, sha),
            vectors=vectors_entry,
            count=int(labels.shape[0]),
            max_label=int(labels.max(initial=0)),
            tier=tier,
            params=self._index_params(),
            config=self._cfg.to_dict(),
        )
        _files.write_manifest(directory, manifest)

    def flush(self) -> None:
        """Absorb every pending vector into the graph, compact if due, and persist the index.

        After ``flush()`` a reopen replays nothing.
        """
        self._check_open()
        with _TRACER.start_as_current_span("vector.flush"):
            self._absorb()
            if self._needs_compaction():
                self._compact()
            self._persist()

    def rebuild(self, progress: Progress | None = None) -> None:
        """Rebuild the graph from the vectors in SQLite (the source of truth), then persist.

        Searches keep working (exactly) while it runs; writes wait.
        """
        self._check_open()
        with _TRACER.start_as_current_span("vector.rebuild"), self._write_mutex, self._index_mutex:
            rows = self._fetch_rows("SELECT label, id, metadata, vector FROM points ORDER BY label")
            mat = self._decode_vectors([r[3] for r in rows])
            with self._rw.write:
                self._reset_memory_keep_persisted()
                self._append_slots(
                    np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                    None,
                    self._search_space(mat),
                )
            self._absorb(progress=progress)
            self._persist()

    def _reset_memory_keep_persisted(self) -> None:
        gen, next_label, derived = self._generation, self._next_label, self._derived
        self._reset_memory()
        self._generation, self._next_label, self._derived = gen, next_label, derived

    def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """Write a consistent copy of the store to the directory ``dest`` (opened by ``open_store``).

        Raises:
            AlreadyExistsError: ``dest`` exists and is not an empty directory.
        """
        self._check_open()
        target = Path(dest)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise AlreadyExistsError(
                f"snapshot destination {target} exists and is not empty",
                resource_type="directory",
                resource_id=str(target),
                code="vector.snapshot_exists",
            )
        with _TRACER.start_as_current_span("vector.snapshot"), self._write_mutex:
            self._check_open()
            target.mkdir(parents=True, exist_ok=True)
            try:
                dst = sqlite3.connect(str(target / _files.DB_FILE))
                try:
                    with self._db_lock:
                        self._db.backup(dst)
                    dst.execute("PRAGMA journal_mode=WAL")
                finally:
                    dst.close()
            except sqlite3.Error as exc:
                raise _storage_error(exc, "snapshot") from exc
            with self._index_mutex, self._rw.read:
                if self._ann is None:
                    return
                g = self._g
                labels = self._labels[:g].copy()
                blob = self._ann.serialize()
                extra = self._ann.header()
                tier = self._ann.tier
                full = self._slab.rows(0, g).copy() if tier != "none" else None
            self._write_derived(target, 1, tier, labels, blob, full, extra)

    def verify(self) -> VerifyReport:
        """Check the database, the derived files and the in-memory state against each other."""
        self._check_open()
        problems: list[str] = []
        checked: list[str] = []
        with _TRACER.start_as_current_span("vector.verify"), self._write_mutex:
            try:
                result = self._fetch_rows("PRAGMA quick_check")
                checked.append("sqlite")
                if not result or result[0][0] != "ok":
                    problems.append(f"sqlite quick_check: {result[0][0] if result else 'no answer'}")
            except InfraError as exc:
                problems.append(f"sqlite: {exc.message}")
            rows = self._fetch_rows("SELECT label, id, vector FROM points ORDER BY label")
            with self._rw.read:
                checked.append("ids")
                live = np.flatnonzero(self._alive[: self._n])
                mem_labels = self._labels[live]
                db_labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                if not np.array_equal(mem_labels, db_labels):
                    problems.append(f"memory holds {live.size} vectors, the database {len(rows)}")
                elif rows:
                    checked.append("vectors")
                    try:
                        mat = self._search_space(self._decode_vectors([r[2] for r in rows]))
                    except VectorError as exc:
                        problems.append(exc.message)
                    else:
                        if not np.allclose(mat, self._slab.gather(live), rtol=1e-3, atol=1e-3):
                            problems.append("in-memory vectors differ from the database")
                    if any(self._ids[s] != r[1] for s, r in zip(live.tolist(), rows, strict=True)):
                        problems.append("in-memory ids differ from the database")
                if self._ann is not None and self._ann.ntotal != self._g:
                    problems.append(f"graph holds {self._ann.ntotal} vectors, expected {self._g}")
            if self._dir is not None:
                manifest = _files.read_manifest(self._dir)
                if manifest is not None:
                    checked.append("index file")
                    for entry in (manifest.index, manifest.vectors):
                        if entry is None:
                            continue
                        try:
                            size, sha = _files.sha256_stream(self._dir / entry.name)
                        except OSError as exc:
                            problems.append(f"{entry.name}: {exc.strerror}")
                            continue
                        if size != entry.size or sha != entry.sha256:
                            problems.append(f"{entry.name} failed its checksum")
        return VerifyReport(
            ok=not problems, count=len(rows), problems=tuple(problems), checked=tuple(checked)
        )

    def stats(self) -> StoreStats:
        """Size, parameters, memory and disk use, and index freshness."""
        self._check_open()
        with self._rw.read:
            ann_bytes = 0 if self._ann is None else self._ann.memory_bytes()
            ids_bytes = sum(len(i) + 49 for i in self._id_to_slot) + 8 * len(self._ids)
            meta_bytes = 8 * len(self._meta) + sum(
                len(m) + 49 if type(m) is str else 64 + 104 * len(m) for m in self._meta if m is not None
            )
            slab_ram = self._slab.ram_bytes()
            memory = (
                ann_bytes
                + slab_ram
                + self._labels.nbytes
                + self._alive.nbytes
                + ids_bytes
                + meta_bytes
                + 100 * len(self._id_to_slot)
                + self._payload.memory_bytes()
                + self._scan_cache.nbytes
            )
            disk = 0
            if self._dir is not None:
                disk = sum(p.stat().st_size for p in self._dir.iterdir() if p.is_file())
            fresh = self._g == self._n and (self._dir is None or self._persisted_version == self._ann_version)
            return StoreStats(
                collection=self._cfg.collection,
                dimensions=self._dims,
                count=self._live,
                distance=self._distance,
                hnsw=self._cfg.hnsw,
                compression_tier=self._tier,
                indexed=self._g,
                pending=self._n - self._g,
                tombstones=self._dead_graph,
                memory_bytes=int(memory),
                disk_bytes=int(disk),
                index_fresh=fresh,
                persisted_count=self._persisted_g,
                indexed_fields=self._payload.fields,
                path=self._path_text,
            )

    @property
    def config(self) -> VectorStoreConfig:
        """The store's configuration."""
        return self._cfg

    @property
    def dimensions(self) -> int:
        """Vector length."""
        return self._dims

    @property
    def path(self) -> str:
        """The store directory, or ``":memory:"``."""
        return self._path_text

    # ------------------------------------------------------------------ closing

    def wait_indexed(self, timeout: float | None = None) -> bool:
        """Block until the background indexer has absorbed every pending vector.

        Returns False on timeout (or when the indexer stopped with ``worker_error``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._g < self._n:
            if self.worker_error is not None or (deadline is not None and time.monotonic() > deadline):
                return False
            self._kick()
            time.sleep(0.005)
        return True

    def _stop_worker(self) -> None:
        worker = self._worker
        if worker is not None:
            self._stop = True
            self._wake.set()
            worker.join()
            self._worker = None

    def close(self) -> None:
        """Stop the indexer, persist the graph, close the database and release the lock.

        Pending vectors not yet in the graph are replayed (searched exactly, then indexed) on
        the next open. Idempotent.
        """
        if self._closed:
            return
        with self._write_mutex:
            if self._closed:
                return
            self._stop_worker()
            try:
                self._persist()
            finally:
                self._closed = True
                self._release()

    def _release(self) -> None:
        self._stop_worker()
        db = getattr(self, "_db", None)
        if db is not None:
            with self._db_lock:
                db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> LocalVectorStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"count={self._live}"
        return f"LocalVectorStore({self._path_text!r}, dimensions={getattr(self, '_dims', '?')}, {state})"


def open_store(
    path: str | os.PathLike[str],
    config: VectorStoreConfig | None = None,
    *,
    progress: Progress | None = None,
) -> LocalVectorStore:
    """Open (or create) the embedded vector store at ``path`` (a directory) or ``":memory:"``.

    Reopening an existing store needs no config: it is stored with the data. With a config,
    collection, dimensions and distance must match; other options take the new values (changed
    graph parameters rebuild the index).

    Args:
        path: a directory (created if missing) or ``":memory:"``.
        config: required to create a store.
        progress: ``progress(done, total)`` while an index is rebuilt on open.

    Raises:
        ConfigError: no store at ``path`` and no config, or a config that contradicts the store.
        VectorError: ``vector.locked`` when another store object holds the directory.

    .. versionadded:: 0.1.0
    """
    return LocalVectorStore(path, config, progress=progress)
