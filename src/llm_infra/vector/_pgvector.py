"""``PgVectorStore``: the sync driver of the operations in ``_pgvector_sql``.

It runs the generators of ``_pgvector_sql`` on a psycopg ``ConnectionPool``; the async twin
(``_pgvector_async``) runs the same ones on an ``AsyncConnectionPool``. Each operation is one
transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._lazy import require
from llm_infra.errors import InfraError, VectorError
from llm_infra.errors._foreign import postgres_error
from llm_infra.vector import _backend_codes as codes
from llm_infra.vector._backends import (
    PreparedBatch,
    as_matrix,
    as_vector,
    check_search,
    prepare_batch,
    server_stats,
)
from llm_infra.vector._base import Columns, SearchArgs, StoreBase
from llm_infra.vector._config import VectorStoreConfig
from llm_infra.vector._filters import MetadataFilter, parse_filter
from llm_infra.vector._pgvector_sql import Copy, Op, PgCollection, Step, Stmt, check_extension
from llm_infra.vector._points import closed_error
from llm_infra.vector._types import SearchResult, StoreStats, VectorRecord, VerifyReport
from llm_infra.vector._validate import check_id, check_snapshot_dest, encode_metadata, exists_error

if TYPE_CHECKING:
    from types import TracebackType

    from llm_infra.errors import BatchResult
    from llm_infra.vector._types import Progress


def _modules() -> tuple[Any, Any, Any]:
    psycopg = require("psycopg", "vector-pg")
    pool = require("psycopg_pool", "vector-pg")
    pgv = require("pgvector.psycopg", "vector-pg")
    return psycopg, pool, pgv


class PgOptions(TypedDict, total=False):
    """The keyword-only options of ``PgVectorStore`` and ``AsyncPgVectorStore.open``."""

    collection: str | None
    """The collection to open when no config is given."""
    pool_size: int
    """Maximum pooled connections (default 4)."""
    create_extension: bool
    """Run ``CREATE EXTENSION IF NOT EXISTS vector`` when it is missing (default True)."""


@dataclass(frozen=True, slots=True)
class _Opening:
    """One open of a store: its config and ``PgOptions``, with their defaults."""

    config: VectorStoreConfig | None
    collection: str | None = None
    pool_size: int = 4
    create_extension: bool = True

    def target(self) -> PgCollection:
        """The collection to open (``PgCollection.open`` replaces a name-only placeholder config)."""
        if self.config is not None:
            return PgCollection(self.config)
        if self.collection is None:
            raise VectorError(
                "pass a VectorStoreConfig (to create) or collection= (to open an existing collection)",
                operation="open",
                code=codes.COLLECTION_MISSING,
            )
        return PgCollection(VectorStoreConfig(collection=self.collection, dimensions=1))


class _Drive:
    """One run of an ``Op`` by a driver, and the translation of the driver's errors.

    Iterating yields the steps to execute; the driver puts each step's result in ``reply``, and
    ``value`` is the op's result once the steps run out. As a context manager around the driver's
    connection, it turns a psycopg (or pool) error into the failed statement's ``on_error`` or
    else the ``InfraError`` of ``operation``; an ``InfraError`` raised by the op passes unchanged.
    """

    def __init__(self, op: Op, operation: str, driver_error: type[Exception]) -> None:
        self._op = op
        self._operation = operation
        self._driver_error = driver_error
        self._step: Step | None = None
        self.reply: Any = None
        self.value: Any = None

    def __iter__(self) -> Iterator[Step]:
        return self

    def __next__(self) -> Step:
        reply, self.reply = self.reply, None
        try:
            self._step = self._op.send(reply)
        except StopIteration as stop:
            self._step, self.value = None, stop.value
            raise StopIteration from None
        return self._step

    def __enter__(self) -> _Drive:
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not isinstance(exc, Exception) or isinstance(exc, InfraError):
            return
        # psycopg's errors, and the pool's PoolTimeout and friends
        if isinstance(exc, self._driver_error) or type(exc).__module__.startswith("psycopg"):
            on_error = self._step.on_error if isinstance(self._step, Stmt) else None
            raise (on_error or self._driver_failure)(exc) from exc

    def _driver_failure(self, exc: Exception) -> InfraError:
        return postgres_error(exc, self._operation, area="vector")


def _execute(cur: Any, drive: _Drive) -> Any:
    """Run the steps of ``drive`` on a psycopg cursor; the op's result."""
    for step in drive:
        if isinstance(step, Copy):
            with cur.copy(step.query) as copy:
                copy.set_types(list(step.types))
                for row in step.rows:
                    copy.write_row(row)
            continue
        cur.execute(step.query, step.params)
        if step.fetch != "none":
            drive.reply = cur.fetchone() if step.fetch == "one" else cur.fetchall()
    return drive.value


class _PgBase:
    """What both drivers share: validation and result shaping around the operations."""

    _coll: PgCollection
    _closed: bool
    _psycopg: Any

    config: readonly[VectorStoreConfig] = readonly("_coll.config", "The collection's config.")

    dimensions: readonly[int] = readonly("_coll.config.dimensions", "Vector length.")

    table: readonly[str] = readonly("_coll.table_name", "The Postgres table holding the collection.")

    def _drive(self, op: Op, operation: str) -> _Drive:
        return _Drive(op, operation, self._psycopg.Error)

    def _check(self, operation: str) -> None:
        if self._closed:
            raise closed_error(operation)

    def _one(self, ident: str, vector: Any, metadata: Mapping[str, Any] | None, op: str) -> tuple[Any, ...]:
        self._check(op)
        vec = as_vector(vector, self.dimensions, op)
        key = check_id(ident)
        return key, vec, encode_metadata(metadata)[1]

    def _search_args(
        self, k: int, filter: MetadataFilter | Mapping[str, Any] | None, ef_search: int | None, min_score: Any
    ) -> tuple[MetadataFilter | None, int]:
        self._check("search")
        check_search(k, ef_search, min_score)
        flt = None if filter is None else parse_filter(filter)
        return flt, self._coll.config.hnsw.ef_search if ef_search is None else ef_search

    def _batch_op(
        self, items: Any, columns: Columns, *, upsert: bool
    ) -> tuple[str, PreparedBatch, list[int], Op | None]:
        """The checked batch and the write of its good items (None when there is none)."""
        op = "upsert_batch" if upsert else "insert_batch"
        self._check(op)
        prepared = prepare_batch(items, columns, self.dimensions, op)
        good = prepared.good(upsert=upsert)
        if not good:
            return op, prepared, good, None
        names = [prepared.names[i] for i in good]
        metas = [prepared.metas[i] for i in good]
        return op, prepared, good, self._coll.write_many(names, prepared.matrix[good], metas, upsert=upsert)

    @staticmethod
    def _batch_done(prepared: PreparedBatch, good: list[int], written: Any, *, upsert: bool) -> BatchResult:
        """The result once the write of ``good`` returned the ids it ``written``."""
        if not upsert:
            for i in good:
                if prepared.names[i] not in written:
                    prepared.errors[i] = exists_error(prepared.names[i])
        return prepared.finish()

    def _search_op(self, vector: Any, a: SearchArgs) -> Op:
        flt, ef = self._search_args(a.k, a.filter, a.ef_search, a.min_score)
        q = as_vector(vector, self.dimensions, "search")
        return self._coll.search(q, a.k, flt, ef, a.min_score, a.with_vectors, a.with_metadata)

    def _search_many_op(self, vectors: Any, a: SearchArgs) -> Op:
        flt, ef = self._search_args(a.k, a.filter, a.ef_search, a.min_score)
        queries = as_matrix(vectors, self.dimensions, "search_batch")
        return self._coll.search_batch(queries, a.k, flt, ef, a.min_score, a.with_vectors)

    def _stats(self, count: int, disk: int) -> StoreStats:
        tier = "f16" if self._coll.vtype == "halfvec" else "none"
        path = f"postgres:{self._coll.table_name}"
        return server_stats(self._coll.config, count, tier=tier, indexed=count, disk=disk, path=path)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"{type(self).__name__}(table={self._coll.table_name!r}, {state})"


def _write_snapshot(
    cfg: VectorStoreConfig, dest: str | os.PathLike[str], pages: Iterable[list[VectorRecord]]
) -> None:
    from llm_infra.vector._store import open_store

    target = Path(dest)
    check_snapshot_dest(target)
    with open_store(target, cfg.with_options(background_indexing=False)) as local:
        for page in pages:
            if page:
                local.upsert_batch(page)
        local.flush()


@final
class PgVectorStore(_PgBase, StoreBase):
    """A ``VectorStore`` on PostgreSQL with pgvector (``open_store("postgresql://...")``).

    Args:
        dsn: a libpq connection string or ``postgresql://`` URL.
        config: required to create the collection; reopening reads the stored one.
        collection: the collection to open when no config is given.
        pool_size: maximum pooled connections.
        create_extension: run ``CREATE EXTENSION IF NOT EXISTS vector`` when it is missing.

    Raises:
        VectorError: ``vector.pg_extension_missing`` (names the fix),
            ``vector.pg_dimensions_unsupported``, ``vector.collection_missing``.
        ConfigError: the config contradicts the stored collection, or the ``vector-pg`` extra
            is not installed (with the pip line).

    .. versionadded:: 0.2.0
    """

    def __init__(
        self, dsn: str, config: VectorStoreConfig | None = None, **options: Unpack[PgOptions]
    ) -> None:
        self._closed = True
        opening = _Opening(config, **options)
        self._psycopg, pool_mod, pgv = _modules()
        self._coll = opening.target()
        with (
            self._drive(check_extension(opening.create_extension), "open") as drive,
            self._psycopg.connect(dsn, autocommit=True) as conn,
            conn.cursor() as cur,
        ):
            self._coll.iterative = _execute(cur, drive)
        self._pool = pool_mod.ConnectionPool(
            dsn, min_size=1, max_size=opening.pool_size, configure=pgv.register_vector, open=True
        )
        self._closed = False
        try:
            self._run(self._coll.open(config), "open")
        except BaseException:
            self.close()
            raise

    def _run(self, op: Op, operation: str) -> Any:
        with (
            self._drive(op, operation) as drive,
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            return _execute(cur, drive)

    # ------------------------------------------------------------------ writes

    def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a new vector (``AlreadyExistsError`` when the id exists)."""
        key, vec, meta = self._one(id, vector, metadata, "insert")
        self._run(self._coll.write_one(key, vec, meta, upsert=False), "insert")

    def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert or replace."""
        key, vec, meta = self._one(id, vector, metadata, "upsert")
        self._run(self._coll.write_one(key, vec, meta, upsert=True), "upsert")

    def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult:
        op, prepared, good, write = self._batch_op(items, columns, upsert=upsert)
        written = self._run(write, op) if write is not None else ()
        return self._batch_done(prepared, good, written, upsert=upsert)

    def delete(self, id: str) -> bool:
        """Delete; True when it existed."""
        self._check("delete")
        return bool(self._run(self._coll.delete(check_id(id)), "delete"))

    def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata (``NotFoundError`` when the id is unknown)."""
        self._check("update_metadata")
        key = check_id(id)
        self._run(self._coll.update_metadata(key, encode_metadata(metadata)[1]), "update_metadata")

    # ------------------------------------------------------------------ reads

    def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """The record, or None."""
        self._check("get")
        result: VectorRecord | None = self._run(self._coll.get(check_id(id), with_vector), "get")
        return result

    def count(self) -> int:
        """Live vectors."""
        self._check("count")
        return int(self._run(self._coll.count(), "count"))

    def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]:
        hits: list[SearchResult] = self._run(self._search_op(vector, a), "search")
        return hits

    def _search_many(self, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]:
        out: list[list[SearchResult]] = self._run(self._search_many_op(vectors, a), "search_batch")
        return out

    def scan(self, cursor: str | None = None, limit: int = 1000) -> tuple[list[VectorRecord], str | None]:
        """A page of records (with vectors, in id order) and the next page's cursor (None at the end)."""
        self._check("scan")
        records: list[VectorRecord] = self._run(self._coll.scan(cursor, limit), "scan")
        return records, (records[-1].id if len(records) == limit else None)

    # ------------------------------------------------------------------ maintenance

    def stats(self) -> StoreStats:
        """Sizes and parameters (``disk_bytes`` is the table with its indexes)."""
        self._check("stats")
        count, disk = self._run(self._coll.sizes(), "stats")
        return self._stats(count, disk)

    def flush(self) -> None:
        """Nothing to do: every acknowledged write is committed and indexed."""
        self._check("flush")

    def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """A consistent copy at ``dest`` as an embedded store (``open_store(dest)`` opens it)."""
        self._check("snapshot")

        def pages() -> Iterable[list[VectorRecord]]:
            cursor: str | None = None
            while True:
                page, cursor = self.scan(cursor, 1000)
                yield page
                if cursor is None:
                    return

        _write_snapshot(self.config, dest, pages())

    def verify(self) -> VerifyReport:
        """Vector lengths and the HNSW index's validity."""
        self._check("verify")
        report: VerifyReport = self._run(self._coll.verify(), "verify")
        return report

    def rebuild(self, progress: Progress | None = None) -> None:
        """Build the HNSW index afresh."""
        self._check("rebuild")
        self._run(self._coll.rebuild(), "rebuild")
        if progress is not None:
            progress(1, 1)

    @contextmanager
    def bulk_load(self) -> Iterator[PgVectorStore]:
        """Load many rows fast: the HNSW index is dropped, then built once at the end.

        Searches inside the block are exact (no index). ``migrate`` uses it when the destination
        offers it. If the process dies inside the block, ``verify()`` reports the missing index
        and ``rebuild()`` builds it.
        """
        self._check("bulk_load")
        self._run(self._coll.drop_index(), "bulk_load")
        try:
            yield self
        finally:
            self._run(self._coll.rebuild(), "bulk_load")

    def drop(self) -> None:
        """Delete the collection (its table and registry entry)."""
        self._check("drop")
        self._run(self._coll.drop(), "drop")

    def close(self) -> None:
        """Close the pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._pool.close()
