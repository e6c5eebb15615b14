"""The embedded vector store: SQLite (truth) + faiss HNSW (derived) + planned filtering.

Write path: validate (``_validate``), one SQLite transaction per chunk (``_points``), then
apply to the slot table (``_slots``). A write is acknowledged when its transaction has
committed, and it is searchable at once: the slots the graph has not absorbed yet (the *tail*)
are searched exactly and merged. The graph absorbs the tail in a background thread
(``_indexer``) or at ``flush()``; the index and manifest files are written by ``_persist``.

Search path (no SQLite access): validate the query, evaluate the filter on the payload index
to a mask, then let the planner (``_planner``) scan the matching rows exactly or search the
graph with a bitmap selector, and build the results from in-memory ids and metadata.

This module is the façade: the public methods, their locking, spans and errors.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, final

import numpy as np
from opentelemetry import trace

from llm_infra._internal._attrs import readonly
from llm_infra.errors import (
    BatchError,
    BatchResult,
    ConfigError,
    InfraError,
    VectorError,
)
from llm_infra.vector import _backend_codes, _codes, _files
from llm_infra.vector._base import Columns, SearchArgs, StoreBase
from llm_infra.vector._config import VectorStoreConfig
from llm_infra.vector._filters import MetadataFilter, parse_filter
from llm_infra.vector._indexer import WorkerControl
from llm_infra.vector._opening import Opening, Resources
from llm_infra.vector._points import MEMORY, closed_error
from llm_infra.vector._slab import RWLock
from llm_infra.vector._slots import build_batch_results, build_results
from llm_infra.vector._types import Progress, SearchResult, StoreStats, VectorRecord, VerifyReport
from llm_infra.vector._validate import (
    check_id,
    check_search_args,
    check_snapshot_dest,
    check_vector,
    encode_metadata,
    exists_error,
    not_found,
    prepare_batch,
    query_row,
    query_rows,
)
from llm_infra.vector._verify import verify_store

if TYPE_CHECKING:
    from llm_infra.vector._planner import Hits
    from llm_infra.vector._protocols import VectorStore

_TRACER = trace.get_tracer("llm_infra.vector")


def _tracing() -> bool:
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


_Rows = tuple[list[str], np.ndarray, list[str | None], list[dict[str, Any] | None]]
"""Validated rows of a write: ids, vectors, metadata texts and plain metadata."""


@final
class LocalVectorStore(Opening, StoreBase):
    """The embedded vector store (see ``open_store``).

    Thread-safe: searches run concurrently; writes are serialized. One process at a time may
    open an on-disk store (``vector.locked`` otherwise). A store dropped without ``close()``
    releases its lock, thread and files when it is garbage-collected (or at interpreter exit);
    its pending vectors are replayed on the next open.

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
        self._dir = None if str(path) == MEMORY else Path(path)
        self._path_text = MEMORY if self._dir is None else str(self._dir)
        self._write_mutex = threading.RLock()
        self._index_mutex = threading.RLock()
        self._rw = RWLock()
        self._worker_control = WorkerControl()
        self._resources = Resources(self._worker_control)
        self._finalizer = weakref.finalize(self, self._resources.release)
        try:
            self._open(config, progress)
        except BaseException:
            self._finalizer()
            raise
        self._closed = False
        if self._cfg.background_indexing and self._g < self._n:
            self._kick()

    def _check_open(self, operation: str = "call") -> None:
        if self._closed:
            raise closed_error(operation)

    # ------------------------------------------------------------------ writes

    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a new vector.

        Raises:
            AlreadyExistsError: the id exists.
            VectorError: ``vector.dimension_mismatch`` or ``vector.invalid_vector`` (NaN/inf,
                or a squared norm that overflows float32).
            ValidationError: a bad id or metadata.
        """
        self._single(id, vector, metadata, upsert=False)

    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert, or replace the vector and metadata of an existing id."""
        self._single(id, vector, metadata, upsert=True)

    def _single(
        self, ident: object, vector: Any, metadata: Mapping[str, Any] | None, *, upsert: bool
    ) -> None:
        op = "upsert" if upsert else "insert"
        self._check_open(op)
        with _TRACER.start_as_current_span(f"vector.{op}") as span:
            if span.is_recording():
                span.set_attribute("vector.dimensions", self._dims)
            key = check_id(ident)
            arr = check_vector(vector, self._dims, op)
            text, plain = encode_metadata(metadata)
            failures = self._commit([key], arr.reshape(1, -1), [text], [plain], upsert=upsert, operation=op)
            if failures:
                raise failures[0][1]

    def _batch(
        self,
        items: Iterable[VectorRecord | tuple[Any, ...]] | None,
        columns: Columns,
        *,
        upsert: bool,
    ) -> BatchResult:
        op = "upsert_batch" if upsert else "insert_batch"
        self._check_open(op)
        with _TRACER.start_as_current_span(f"vector.{op}") as span:
            names, mat, metas, errors = prepare_batch(items, columns, self._dims, op)
            total = len(names)
            if span.is_recording():
                span.set_attribute("vector.batch_size", total)
                span.set_attribute("vector.dimensions", self._dims)
            good = [i for i in range(total) if errors[i] is None]
            failures = self._commit(
                [names[i] for i in good],
                mat[good] if good else np.empty((0, self._dims), np.float32),
                [metas[i][0] for i in good],  # type: ignore[index]  # set when no error
                [metas[i][1] for i in good],  # type: ignore[index]  # set when no error
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
            self._check_open(operation)
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
                        failures.append((i, exists_error(ident)))
                    else:
                        seen.add(ident)
                        order.append(i)
            chunk = self._cfg.chunk_size
            rows_in = (names, mat, texts, plains)
            for start in range(0, len(order), chunk):
                part = order[start : start + chunk]
                err = self._commit_chunk(part, rows_in, upsert=upsert, operation=operation)
                if err is not None:
                    failures.extend((i, err) for i in part)
        if self._cfg.background_indexing:
            self._kick()
        return failures

    def _commit_chunk(
        self, part: list[int], rows_in: _Rows, *, upsert: bool, operation: str
    ) -> InfraError | None:
        names, mat, texts, plains = rows_in
        c = len(part)
        first = self._next_label
        labels = np.arange(first, first + c, dtype=np.int64)
        rows = mat[part]
        chunk_ids = [names[i] for i in part]
        chunk_texts = [texts[i] for i in part]
        params = [(first + j, chunk_ids[j], rows[j].tobytes(), chunk_texts[j]) for j in range(c)]
        statements: list[tuple[str, Any, bool]] = []
        replaced = [(ident,) for ident in chunk_ids if ident in self._id_to_slot] if upsert else []
        if replaced:
            statements.append(("DELETE FROM points WHERE id = ?", replaced, True))
        statements.append(
            ("INSERT INTO points(label, id, vector, metadata) VALUES (?, ?, ?, ?)", params, True)
        )
        # The points lock spans the commit and the memory update: a reader holding it sees both
        # at the same point (see _points).
        with self._points.lock:
            try:
                self._points.transaction(statements, operation, deleted=len(replaced))
            except InfraError as exc:
                return exc
            self._next_label = first + c
            vecs = self._search_space(rows)
            with self._rw.write:
                self._append_slots(labels, chunk_ids, chunk_texts, [plains[i] for i in part], vecs)
                self._maybe_compact_locked()
        return None

    def delete(self, id: str) -> bool:
        """Delete a vector; True when it existed. Never returned by a search afterwards."""
        self._check_open("delete")
        key = check_id(id)
        with _TRACER.start_as_current_span("vector.delete"), self._write_mutex:
            self._check_open("delete")
            if key not in self._id_to_slot:
                return False
            with self._points.lock:
                self._points.transaction(
                    [("DELETE FROM points WHERE id = ?", (key,), False)], "delete", deleted=1
                )
                with self._rw.write:
                    slot = self._id_to_slot.pop(key)
                    self._tombstone(slot)
                    self._maybe_compact_locked()
        return True

    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata of an existing vector (the vector is unchanged).

        Raises:
            NotFoundError: no vector has this id.
            ValidationError: a bad id or metadata.
        """
        self._check_open("update_metadata")
        key = check_id(id)
        text, plain = encode_metadata(metadata)
        with _TRACER.start_as_current_span("vector.update_metadata"), self._write_mutex:
            self._check_open("update_metadata")
            if key not in self._id_to_slot:
                raise not_found(key)
            with self._points.lock:
                self._points.transaction(
                    [("UPDATE points SET metadata = ? WHERE id = ?", (text, key), False)], "update_metadata"
                )
                with self._rw.write:
                    slot = self._id_to_slot[key]
                    self._write_gen += 1
                    self._meta[slot] = text
                    if self._payload.fields and not self._payload_pending:
                        self._payload.set(slot, plain)

    # ------------------------------------------------------------------ reads

    def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """The record with this id, or None. ``with_vector`` reads the stored vector."""
        self._check_open("get")
        key = check_id(id)
        if not with_vector:
            with self._rw.read:
                slot = self._id_to_slot.get(key)
                return None if slot is None else VectorRecord(id=key, metadata=self._meta_dict(slot))
        # The points lock first: no commit can land between reading the slot and its row.
        with self._points.lock, self._rw.read:
            self._check_open("get")
            slot = self._id_to_slot.get(key)
            if slot is None:
                return None
            meta = self._meta_dict(slot)
            label = int(self._labels[slot])
            found = self._points.vectors_by_label([label], self._dims)
        if label not in found:
            raise _row_missing(key)
        return VectorRecord(id=key, vector=found[label], metadata=meta)

    def count(self) -> int:
        """Live vectors."""
        self._check_open("count")
        return self._live

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and id in self._id_to_slot

    def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]:
        k, filter, ef_search, min_score, with_vectors, with_metadata = a
        self._check_open("search")
        ef = check_search_args(k, ef_search, self._cfg.hnsw.ef_search, min_score)
        if not _tracing():
            return self._search_exec(vector, k, filter, ef, min_score, with_vectors, with_metadata)
        with _TRACER.start_as_current_span("vector.search") as span:
            span.set_attribute("vector.k", k)
            span.set_attribute("vector.dimensions", self._dims)
            span.set_attribute("vector.has_filter", filter is not None)
            return self._search_exec(vector, k, filter, ef, min_score, with_vectors, with_metadata)

    def _parse(self, filter: MetadataFilter | Mapping[str, Any] | None) -> MetadataFilter | None:
        flt = None if filter is None else parse_filter(filter)
        if flt is not None:
            self._prepare_payload(flt)
        return flt

    def _search_exec(  # noqa: PLR0917 - search() once its arguments are checked
        self,
        vector: Any,
        k: int,
        filter: MetadataFilter | Mapping[str, Any] | None,
        ef: int,
        min_score: float | None,
        with_vectors: bool,
        with_metadata: bool,
    ) -> list[SearchResult]:
        q = query_row(vector, self._dims, self._cosine)
        flt = self._parse(filter)
        if with_vectors:
            with self._points.lock, self._rw.read:
                return self._hits(
                    self._search_locked(q, k, flt, ef), min_score, with_metadata, with_vectors=True
                )
        with self._rw.read:
            return self._hits(
                self._search_locked(q, k, flt, ef), min_score, with_metadata, with_vectors=False
            )

    def _hits(
        self, hits: Hits, min_score: float | None, with_metadata: bool, *, with_vectors: bool
    ) -> list[SearchResult]:
        """Results of ``hits`` (caller holds the read lock, and the points lock for vectors)."""
        scores, slots = hits
        return self._results(
            slots.tolist(), scores.tolist(), min_score, with_metadata, with_vectors=with_vectors
        )

    def _results(
        self,
        slot_list: list[int],
        score_list: list[float],
        min_score: float | None,
        with_metadata: bool,
        *,
        with_vectors: bool,
    ) -> list[SearchResult]:
        if min_score is not None:
            keep = sum(1 for sc in score_list if sc >= min_score)  # sorted: a prefix qualifies
            slot_list, score_list = slot_list[:keep], score_list[:keep]
        out = build_results(self._ids, self._meta if with_metadata else None, slot_list, score_list)
        if not with_vectors or not out:
            return out
        self._check_open("search")
        labels = self._labels[slot_list].tolist()
        found = self._points.vectors_by_label(labels, self._dims)
        missing = [r.id for r, label in zip(out, labels, strict=True) if label not in found]
        if missing:
            raise _row_missing(missing[0])
        return [
            SearchResult(r.id, r.score, r.metadata, found[label])
            for r, label in zip(out, labels, strict=True)
        ]

    def _search_many(self, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]:
        k, filter, ef_search, min_score, with_vectors, _ = a
        self._check_open("search_batch")
        ef = check_search_args(k, ef_search, self._cfg.hnsw.ef_search, min_score)
        qs = query_rows(vectors, self._dims, self._cosine)
        if qs.shape[0] == 0:
            return []
        with _TRACER.start_as_current_span("vector.search_batch") as span:
            if span.is_recording():
                span.set_attribute("vector.k", k)
                span.set_attribute("vector.batch_size", int(qs.shape[0]))
                span.set_attribute("vector.has_filter", filter is not None)
            flt = self._parse(filter)
            if with_vectors:
                with self._points.lock, self._rw.read:
                    return self._batch_results(qs, k, flt, ef, min_score, with_vectors=True)
            with self._rw.read:
                return self._batch_results(qs, k, flt, ef, min_score, with_vectors=False)

    def _batch_results(
        self,
        qs: np.ndarray,
        k: int,
        flt: MetadataFilter | None,
        ef: int,
        min_score: float | None,
        *,
        with_vectors: bool,
    ) -> list[list[SearchResult]]:
        slots, scores = self._search_many_lists(qs, k, flt, ef)
        if min_score is None and not with_vectors:
            return build_batch_results(self._ids, self._meta, slots, scores)
        results = self._results
        return [
            results(sl, sc, min_score, True, with_vectors=with_vectors)
            for sl, sc in zip(slots, scores, strict=True)
        ]

    def plan(self, filter: MetadataFilter | Mapping[str, Any] | None) -> Literal["exact", "graph"]:
        """How a search with this filter would run: ``"exact"`` scan or ``"graph"`` search."""
        self._check_open("plan")
        flt = self._parse(filter)
        with self._rw.read:
            return self._plan_locked(flt)

    # ------------------------------------------------------------------ maintenance

    def flush(self) -> None:
        """Absorb every pending vector into the graph, compact if due, and persist the index.

        After ``flush()`` a reopen replays nothing.
        """
        self._check_open("flush")
        with _TRACER.start_as_current_span("vector.flush"):
            self._absorb()
            if self._needs_compaction():
                self._compact()
            self._persist()

    def rebuild(self, progress: Progress | None = None) -> None:
        """Rebuild the graph from the vectors in SQLite (the source of truth), then persist.

        Searches keep working (exactly) while it runs; writes wait. It also accepts a database
        that an open found behind its manifest (``verify()`` stops reporting that).
        """
        self._check_open("rebuild")
        with _TRACER.start_as_current_span("vector.rebuild"), self._write_mutex, self._index_mutex:
            rows = self._points.execute("SELECT label, id, metadata, vector FROM points ORDER BY label")
            mat = self._points.decode_vectors([r[3] for r in rows], self._dims, "rebuild")
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
            if self._damage:
                self._points.execute("DELETE FROM meta WHERE key = 'damage'", (), "rebuild")
                self._damage = []

    def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """Write a consistent copy of the store to the directory ``dest`` (opened by ``open_store``).

        Raises:
            AlreadyExistsError: ``dest`` exists and is not an empty directory.
        """
        self._check_open("snapshot")
        target = check_snapshot_dest(dest)
        with _TRACER.start_as_current_span("vector.snapshot"), self._write_mutex:
            self._check_open("snapshot")
            target.mkdir(parents=True, exist_ok=True)
            self._points.backup(target / _files.DB_FILE)
            self._snapshot_derived(target)

    def verify(self) -> VerifyReport:
        """Check the database, the derived files and the in-memory state against each other.

        Checks: SQLite's ``quick_check``; that the database is not behind its manifest (lost
        commits found at open); every stored vector has the right size and equals the
        in-memory copy exactly; every metadata row parses as a JSON object and equals the
        in-memory copy; ids agree; the graph size; the derived files' checksums.
        """
        self._check_open("verify")
        with _TRACER.start_as_current_span("vector.verify"), self._write_mutex:
            return verify_store(self)

    def stats(self) -> StoreStats:
        """Size, parameters, memory and disk use, and index freshness."""
        self._check_open("stats")
        with self._rw.read:
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
                memory_bytes=self._memory_bytes(),
                disk_bytes=int(disk),
                index_fresh=fresh,
                persisted_count=self._persisted_g,
                indexed_fields=self._payload.fields,
                path=self._path_text,
                embedder_model=self._cfg.embedder_model,
            )

    config: readonly[VectorStoreConfig] = readonly(
        "_cfg", "The store's configuration (as persisted, including ``embedder_model``)."
    )

    dimensions: readonly[int] = readonly("_dims", "Vector length.")

    path: readonly[str] = readonly("_path_text", 'The store directory, or ``":memory:"``.')

    # ------------------------------------------------------------------ closing

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
                self._finalizer()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"count={self._live}"
        return f"LocalVectorStore({self._path_text!r}, dimensions={getattr(self, '_dims', '?')}, {state})"


def _row_missing(ident: str) -> VectorError:
    return VectorError(
        f"the row of id {ident!r} is missing from the database although memory holds it",
        operation="read",
        code=_codes.STORAGE_CORRUPT,
        remediation=["run verify(); restore the store from a snapshot"],
    )


def open_store(
    path: str | os.PathLike[str],
    config: VectorStoreConfig | None = None,
    *,
    progress: Progress | None = None,
    **options: Any,
) -> VectorStore:
    """Open (or create) a vector store: the embedded engine at a directory or ``":memory:"``, or
    a scale-out backend named by URL.

    - a directory (created if missing) or ``":memory:"``: the embedded store (``LocalVectorStore``);
    - ``postgresql://...`` / ``postgres://...``: ``PgVectorStore`` (pgvector; ``vector-pg`` extra);
    - ``qdrant://host:port/collection``: ``QdrantVectorStore`` on a Qdrant server, and
      ``qdrant+local:///path`` (or ``qdrant+local://:memory:``) for qdrant-client's local mode
      (``vector-qdrant`` extra).

    The same application code runs on every backend: they all pass ``VectorStoreContract``.
    Reopening an existing store needs no config: it is stored with the data. With a config,
    collection, dimensions and distance must match (and ``embedder_model``, when both name
    one); other options take the new values (changed graph parameters rebuild the index).

    Args:
        path: a directory, ``":memory:"`` or a backend URL.
        config: required to create a store.
        progress: ``progress(done, total)`` while an embedded index is rebuilt on open.
        options: backend options passed to the URL's store (e.g. ``collection=`` for pgvector).

    Raises:
        ConfigError: no store at ``path`` and no config, a config that contradicts the store,
            ``vector.invalid_url`` for a URL no backend serves, or a missing extra (with the
            ``pip install`` line).
        VectorError: ``vector.locked`` when another store object holds the directory;
            ``vector.embedder_mismatch``; ``vector.storage_missing`` when the database is
            missing beside an existing index.

    .. versionadded:: 0.1.0
    """
    location = os.fspath(path)
    if isinstance(location, str) and "://" in location:
        from llm_infra.vector._backends import open_backend

        store = open_backend(location, config, **options)
        if store is None:
            raise ConfigError(
                f"no vector backend serves {location.split('://', 1)[0]}:// URLs "
                "(use a directory, ':memory:', postgresql://, qdrant:// or qdrant+local://)",
                key="vector.url",
                code=_backend_codes.INVALID_URL,
            )
        return store
    if options:
        raise ConfigError(
            f"unknown option(s) for the embedded store: {', '.join(sorted(options))}",
            key="vector.options",
            code=_backend_codes.INVALID_URL,
        )
    return LocalVectorStore(path, config, progress=progress)
