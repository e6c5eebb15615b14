"""``PostgresAuditSink``: events as rows of a PostgreSQL table (psycopg 3, sync and async).

``PgConnections`` and ``table_identifier`` serve the auth key store as well.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._lazy import require
from llm_infra.audit._events import SecurityEvent, event_from_dict
from llm_infra.errors import ConfigError
from llm_infra.errors._foreign import postgres_error
from llm_infra.secrets import Secret

if TYPE_CHECKING:
    import asyncio

    import psycopg

_IDENT = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


def table_identifier(table: str) -> Any:
    """A ``psycopg.sql.Identifier`` for ``table`` or ``schema.table``, validated strictly.

    Raises:
        ConfigError: the name is not one or two plain SQL identifiers (code ``config.invalid``).
    """
    parts = table.split(".") if isinstance(table, str) else []
    if not 1 <= len(parts) <= 2 or not all(_IDENT.match(p) for p in parts):
        raise ConfigError(
            "a table name must be [schema.]name with letters, digits and underscores",
            key="table",
        )
    sql = require("psycopg.sql", "postgres")
    return sql.Identifier(*parts)


@final
class PgConnections:
    """One sync and one async psycopg connection of a store, opened on first use.

    Opening a connection first runs ``ddl()`` (creating the store's table). After a driver error
    the connection is dropped (the next call reconnects) and the error becomes
    ``postgres_error(exc, operation, area=area)``. Sync work runs under a ``threading.Lock``,
    async work under an ``asyncio.Lock``.
    """

    __slots__ = ("_aconn", "_alock", "_area", "_conn", "_ddl", "_dsn", "_lock", "_timeout")

    def __init__(
        self, dsn: str | Secret[str], *, connect_timeout: float, ddl: Callable[[], Any], area: str
    ) -> None:
        self._dsn: Secret[str] = dsn if isinstance(dsn, Secret) else Secret(dsn)
        self._timeout = max(1, int(connect_timeout))
        self._ddl = ddl
        self._area = area
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._aconn: psycopg.AsyncConnection[Any] | None = None
        self._alock: asyncio.Lock | None = None

    @contextmanager
    def cursor(self, operation: str) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor in a transaction of the sync connection, under the lock."""
        import psycopg

        with self._lock:
            try:
                conn = self._conn
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._dsn.reveal(), connect_timeout=self._timeout)
                    with conn.transaction():
                        conn.execute(self._ddl())
                    self._conn = conn
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            except psycopg.Error as exc:
                self._drop()
                raise postgres_error(exc, operation, area=self._area) from exc

    @asynccontextmanager
    async def acursor(self, operation: str) -> AsyncIterator[psycopg.AsyncCursor[Any]]:
        """Async ``cursor``: a cursor in a transaction of the async connection."""
        import asyncio

        import psycopg

        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            try:
                aconn = self._aconn
                if aconn is None or aconn.closed:
                    aconn = await psycopg.AsyncConnection.connect(
                        self._dsn.reveal(), connect_timeout=self._timeout
                    )
                    async with aconn.transaction():
                        await aconn.execute(self._ddl())
                    self._aconn = aconn
                async with aconn.transaction(), aconn.cursor() as cur:
                    yield cur
            except psycopg.Error as exc:
                await self._adrop()
                raise postgres_error(exc, operation, area=self._area) from exc

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    async def _adrop(self) -> None:
        if self._aconn is not None:
            try:
                await self._aconn.close()
            finally:
                self._aconn = None

    def close(self) -> None:
        """Close the sync connection."""
        with self._lock:
            self._drop()

    async def aclose(self) -> None:
        """Close both connections."""
        self.close()
        await self._adrop()


@final
class PostgresAuditSink:
    """Stores each event as one row (``event_id`` primary key, so retried writes are idempotent).

    Columns: ``event_id`` text, ``event_type`` text, ``occurred_at`` timestamptz, ``trace_id``
    text, ``payload`` jsonb (the event's ``to_dict()``), ``inserted_at`` timestamptz. The table is
    created on first use. Requires ``llm-infra[postgres]``.

    Args:
        dsn: libpq connection string (a ``Secret`` is fine; it is never shown).
        table: ``[schema.]table`` name.
        connect_timeout: seconds to wait for a connection.
        name: the sink's name.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_db", "_name", "_table", "_table_name")

    def __init__(
        self,
        dsn: str | Secret[str],
        *,
        table: str = "llm_infra_security_audit",
        connect_timeout: float = 5.0,
        name: str = "postgres",
    ) -> None:
        require("psycopg", "postgres")
        self._table = table_identifier(table)
        self._table_name = table
        self._name = name
        self._db = PgConnections(dsn, connect_timeout=connect_timeout, ddl=self._ddl, area="audit")

    name: readonly[str] = readonly("_name", "The sink's name.")

    def _ddl(self) -> Any:
        sql = require("psycopg.sql", "postgres")
        return sql.SQL(
            "CREATE TABLE IF NOT EXISTS {t} ("
            " event_id text PRIMARY KEY,"
            " event_type text NOT NULL,"
            " occurred_at timestamptz NOT NULL,"
            " trace_id text,"
            " payload jsonb NOT NULL,"
            " inserted_at timestamptz NOT NULL DEFAULT now())"
        ).format(t=self._table)

    def _insert(self) -> Any:
        sql = require("psycopg.sql", "postgres")
        return sql.SQL(
            "INSERT INTO {t} (event_id, event_type, occurred_at, trace_id, payload)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"
        ).format(t=self._table)

    @staticmethod
    def _rows(events: Sequence[SecurityEvent]) -> list[tuple[Any, ...]]:
        from psycopg.types.json import Jsonb

        return [(e.event_id, e.event_type, e.timestamp, e.trace_id, Jsonb(e.to_dict())) for e in events]

    def write(self, events: Sequence[SecurityEvent]) -> None:
        """Insert ``events`` in one transaction.

        Raises:
            ExternalError: the database is unreachable or the insert failed (retryable).
        """
        if events:
            with self._db.cursor("audit.write") as cur:
                cur.executemany(self._insert(), self._rows(events))

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        """Async twin of ``write`` (``psycopg.AsyncConnection``)."""
        if events:
            async with self._db.acursor("audit.write") as cur:
                await cur.executemany(self._insert(), self._rows(events))

    def read(self, *, event_type: str | None = None, limit: int = 1000) -> list[SecurityEvent]:
        """Read stored events back, oldest first (by ``occurred_at``, then ``event_id``).

        Raises:
            ExternalError: the query failed.
            ValidationError: a stored row is not a valid event.
        """
        sql = require("psycopg.sql", "postgres")
        query = sql.SQL("SELECT payload FROM {t}").format(t=self._table)
        params: list[Any] = []
        if event_type is not None:
            query += sql.SQL(" WHERE event_type = %s")
            params.append(event_type)
        query += sql.SQL(" ORDER BY occurred_at, event_id LIMIT %s")
        params.append(int(limit))
        with self._db.cursor("audit.read") as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
        return [event_from_dict(row[0]) for row in rows]

    def close(self) -> None:
        """Close the sync connection (the async one is closed by ``aclose``)."""
        self._db.close()

    async def aclose(self) -> None:
        """Close both connections."""
        await self._db.aclose()

    def __repr__(self) -> str:
        return f"PostgresAuditSink(name={self._name!r}, table={self._table_name!r})"
