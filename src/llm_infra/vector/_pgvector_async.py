"""``AsyncPgVectorStore``: the asyncio driver of the operations in ``_pgvector_sql``.

The same generators as ``PgVectorStore`` run here on an ``AsyncConnectionPool``: one
implementation of the SQL, two thin drivers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Unpack, final

from llm_infra.vector._base import AsyncStoreBase, Columns, SearchArgs
from llm_infra.vector._config import VectorStoreConfig
from llm_infra.vector._pgvector import PgOptions, _Drive, _modules, _Opening, _PgBase, _write_snapshot
from llm_infra.vector._pgvector_sql import Copy, Op, PgCollection, check_extension
from llm_infra.vector._types import SearchResult, StoreStats, VectorRecord, VerifyReport
from llm_infra.vector._validate import check_id, encode_metadata

if TYPE_CHECKING:
    from llm_infra.errors import BatchResult
    from llm_infra.vector._types import Progress


async def _execute(cur: Any, drive: _Drive) -> Any:
    """Run the steps of ``drive`` on a psycopg async cursor; the op's result."""
    for step in drive:
        if isinstance(step, Copy):
            async with cur.copy(step.query) as copy:
                copy.set_types(list(step.types))
                for row in step.rows:
                    await copy.write_row(row)
            continue
        await cur.execute(step.query, step.params)
        if step.fetch != "none":
            drive.reply = await (cur.fetchone() if step.fetch == "one" else cur.fetchall())
    return drive.value


@final
class AsyncPgVectorStore(_PgBase, AsyncStoreBase):
    """The async twin of ``PgVectorStore`` (same operations, an ``AsyncConnectionPool``).

    Create it with ``await AsyncPgVectorStore.open(dsn, config)``.

    .. versionadded:: 0.2.0
    """

    def __init__(self, pool: Any, coll: PgCollection, psycopg: Any) -> None:
        self._pool = pool
        self._coll = coll
        self._psycopg = psycopg
        self._closed = False

    @classmethod
    async def open(
        cls, dsn: str, config: VectorStoreConfig | None = None, **options: Unpack[PgOptions]
    ) -> AsyncPgVectorStore:
        """Open (or create) the collection; see ``PgVectorStore`` for the arguments and errors."""
        opening = _Opening(config, **options)
        psycopg, pool_mod, pgv = _modules()
        coll = opening.target()
        with _Drive(check_extension(opening.create_extension), "open", psycopg.Error) as drive:
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            async with conn, conn.cursor() as cur:
                coll.iterative = await _execute(cur, drive)
        pool = pool_mod.AsyncConnectionPool(
            dsn, min_size=1, max_size=opening.pool_size, configure=pgv.register_vector_async, open=False
        )
        await pool.open()
        store = cls(pool, coll, psycopg)
        try:
            await store._run(coll.open(config), "open")
        except BaseException:
            await store.aclose()
            raise
        return store

    async def _run(self, op: Op, operation: str) -> Any:
        with self._drive(op, operation) as drive:
            async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                return await _execute(cur, drive)

    async def insert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert a new vector."""
        key, vec, meta = self._one(id, vector, metadata, "insert")
        await self._run(self._coll.write_one(key, vec, meta, upsert=False), "insert")

    async def upsert(self, id: str, vector: Any, metadata: Mapping[str, Any] | None = None) -> None:
        """Insert or replace."""
        key, vec, meta = self._one(id, vector, metadata, "upsert")
        await self._run(self._coll.write_one(key, vec, meta, upsert=True), "upsert")

    async def _batch(self, items: Any, columns: Columns, *, upsert: bool) -> BatchResult:
        op, prepared, good, write = self._batch_op(items, columns, upsert=upsert)
        written = await self._run(write, op) if write is not None else ()
        return self._batch_done(prepared, good, written, upsert=upsert)

    async def get(self, id: str, with_vector: bool = False) -> VectorRecord | None:
        """The record, or None."""
        self._check("get")
        result: VectorRecord | None = await self._run(self._coll.get(check_id(id), with_vector), "get")
        return result

    async def delete(self, id: str) -> bool:
        """Delete; True when it existed."""
        self._check("delete")
        return bool(await self._run(self._coll.delete(check_id(id)), "delete"))

    async def update_metadata(self, id: str, metadata: Mapping[str, Any] | None) -> None:
        """Replace the metadata."""
        self._check("update_metadata")
        key = check_id(id)
        await self._run(self._coll.update_metadata(key, encode_metadata(metadata)[1]), "update_metadata")

    async def _search_one(self, vector: Any, a: SearchArgs) -> list[SearchResult]:
        hits: list[SearchResult] = await self._run(self._search_op(vector, a), "search")
        return hits

    async def _search_many(self, vectors: Any, a: SearchArgs) -> list[list[SearchResult]]:
        out: list[list[SearchResult]] = await self._run(self._search_many_op(vectors, a), "search_batch")
        return out

    async def scan(
        self, cursor: str | None = None, limit: int = 1000
    ) -> tuple[list[VectorRecord], str | None]:
        """A page of records (with vectors, in id order) and the next page's cursor (None at the end)."""
        self._check("scan")
        records: list[VectorRecord] = await self._run(self._coll.scan(cursor, limit), "scan")
        return records, (records[-1].id if len(records) == limit else None)

    async def count(self) -> int:
        """Live vectors."""
        self._check("count")
        return int(await self._run(self._coll.count(), "count"))

    async def stats(self) -> StoreStats:
        """Sizes and parameters."""
        self._check("stats")
        count, disk = await self._run(self._coll.sizes(), "stats")
        return self._stats(count, disk)

    async def flush(self) -> None:
        """Nothing to do: writes are committed and indexed."""
        self._check("flush")

    async def snapshot(self, dest: str | os.PathLike[str]) -> None:
        """A consistent copy at ``dest`` as an embedded store."""
        self._check("snapshot")
        pages: list[list[VectorRecord]] = []
        cursor: str | None = None
        while True:
            page, cursor = await self.scan(cursor, 1000)
            pages.append(page)
            if cursor is None:
                break
        _write_snapshot(self.config, dest, pages)

    async def verify(self) -> VerifyReport:
        """Vector lengths and the HNSW index's validity."""
        self._check("verify")
        report: VerifyReport = await self._run(self._coll.verify(), "verify")
        return report

    async def rebuild(self, progress: Progress | None = None) -> None:
        """Build the HNSW index afresh."""
        self._check("rebuild")
        await self._run(self._coll.rebuild(), "rebuild")
        if progress is not None:
            progress(1, 1)

    async def drop(self) -> None:
        """Delete the collection."""
        self._check("drop")
        await self._run(self._coll.drop(), "drop")

    async def aclose(self) -> None:
        """Close the pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._pool.close()
