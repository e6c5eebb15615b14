"""``PostgresKeyStore``: API key records in PostgreSQL (psycopg 3, sync and async)."""

from __future__ import annotations

import builtins
from typing import Any, final

from llm_infra._internal._lazy import require
from llm_infra.audit._postgres import PgConnections, table_identifier
from llm_infra.auth._store import COLUMNS, ApiKeyRecord, _exists, record_to_row, row_to_record
from llm_infra.secrets import Secret


@final
class PostgresKeyStore:
    """API key records in a PostgreSQL table, for services with several replicas.

    The table (``key_id`` primary key; ``roles``/``scopes``/``attributes`` as jsonb; times as
    Unix seconds) is created on first use. The sync methods share one connection under a lock;
    the async twins (``aget`` ...) share one ``AsyncConnection``. A broken connection is
    dropped and reopened by the next call. Requires ``llm-infra[postgres]``.

    Args:
        dsn: libpq connection string (a ``Secret`` is fine; it is never shown).
        table: ``[schema.]table`` name.
        connect_timeout: seconds to wait for a connection.

    Raises:
        ConfigError: invalid table name, or psycopg missing.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_db", "_table", "_table_name")

    def __init__(
        self, dsn: str | Secret[str], *, table: str = "llm_infra_api_keys", connect_timeout: float = 5.0
    ) -> None:
        self._table = table_identifier(table)
        self._table_name = table
        self._db = PgConnections(dsn, connect_timeout=connect_timeout, ddl=self._ddl, area="auth")

    # -- SQL -----------------------------------------------------------------------------------

    def _sql(self, template: str) -> Any:
        sql = require("psycopg.sql", "postgres")
        return sql.SQL(template).format(t=self._table, cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))

    def _ddl(self) -> Any:
        return self._sql(
            "CREATE TABLE IF NOT EXISTS {t} ("
            " key_id text PRIMARY KEY, subject text NOT NULL, key_hash text NOT NULL,"
            " roles jsonb NOT NULL, scopes jsonb NOT NULL, tenant text, attributes jsonb NOT NULL,"
            " name text, created_at double precision NOT NULL, expires_at double precision,"
            " revoked_at double precision, last_used_at double precision)"
        )

    def _statement(self, operation: str, subject: str | None = None) -> Any:
        if operation == "put":
            return self._sql(
                "INSERT INTO {t} ({cols})"
                " VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s::jsonb, %s, %s, %s, %s, %s)"
                " ON CONFLICT (key_id) DO NOTHING"
            )
        if operation == "get":
            return self._sql("SELECT {cols} FROM {t} WHERE key_id = %s")
        if operation == "revoke":
            return self._sql("UPDATE {t} SET revoked_at = COALESCE(revoked_at, %s) WHERE key_id = %s")
        if operation == "touch":
            return self._sql("UPDATE {t} SET last_used_at = %s WHERE key_id = %s")
        if operation == "delete":
            return self._sql("DELETE FROM {t} WHERE key_id = %s")
        if subject is None:
            return self._sql("SELECT {cols} FROM {t} ORDER BY created_at, key_id")
        return self._sql("SELECT {cols} FROM {t} WHERE subject = %s ORDER BY created_at, key_id")

    @staticmethod
    def _put_params(record: ApiKeyRecord) -> tuple[Any, ...]:
        row = record_to_row(record)
        return tuple(row[c] for c in COLUMNS)

    # -- sync ----------------------------------------------------------------------------------

    def _execute(
        self, operation: str, query: Any, params: tuple[Any, ...]
    ) -> tuple[int, builtins.list[tuple[Any, ...]]]:
        with self._db.cursor(f"keystore.{operation}") as cur:
            cur.execute(query, params)
            rows = cur.fetchall() if cur.description is not None else []
            return cur.rowcount, rows

    def put(self, record: ApiKeyRecord) -> None:
        """Store a new record (``AlreadyExistsError`` on a duplicate id)."""
        count, _ = self._execute("put", self._statement("put"), self._put_params(record))
        if count == 0:
            raise _exists(record.key_id)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for ``key_id``, or None."""
        _, rows = self._execute("get", self._statement("get"), (key_id,))
        return row_to_record(tuple(rows[0])) if rows else None

    def revoke(self, key_id: str, at: float) -> bool:
        """Mark revoked (keeps the first revocation time)."""
        count, _ = self._execute("revoke", self._statement("revoke"), (at, key_id))
        return count > 0

    def touch(self, key_id: str, at: float) -> None:
        """Set the last-used time."""
        self._execute("touch", self._statement("touch"), (at, key_id))

    def list(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """All records (of one subject), oldest first."""
        params: tuple[Any, ...] = () if subject is None else (subject,)
        _, rows = self._execute("list", self._statement("list", subject), params)
        return [row_to_record(tuple(r)) for r in rows]

    def delete(self, key_id: str) -> bool:
        """Remove the record."""
        count, _ = self._execute("delete", self._statement("delete"), (key_id,))
        return count > 0

    def close(self) -> None:
        """Close the sync connection."""
        self._db.close()

    # -- async ---------------------------------------------------------------------------------

    async def _aexecute(
        self, operation: str, query: Any, params: tuple[Any, ...]
    ) -> tuple[int, builtins.list[tuple[Any, ...]]]:
        async with self._db.acursor(f"keystore.{operation}") as cur:
            await cur.execute(query, params)
            rows = await cur.fetchall() if cur.description is not None else []
            return cur.rowcount, rows

    async def aput(self, record: ApiKeyRecord) -> None:
        """Async ``put``."""
        count, _ = await self._aexecute("put", self._statement("put"), self._put_params(record))
        if count == 0:
            raise _exists(record.key_id)

    async def aget(self, key_id: str) -> ApiKeyRecord | None:
        """Async ``get``."""
        _, rows = await self._aexecute("get", self._statement("get"), (key_id,))
        return row_to_record(tuple(rows[0])) if rows else None

    async def arevoke(self, key_id: str, at: float) -> bool:
        """Async ``revoke``."""
        count, _ = await self._aexecute("revoke", self._statement("revoke"), (at, key_id))
        return count > 0

    async def atouch(self, key_id: str, at: float) -> None:
        """Async ``touch``."""
        await self._aexecute("touch", self._statement("touch"), (at, key_id))

    async def alist(self, subject: str | None = None) -> builtins.list[ApiKeyRecord]:
        """Async ``list``."""
        params: tuple[Any, ...] = () if subject is None else (subject,)
        _, rows = await self._aexecute("list", self._statement("list", subject), params)
        return [row_to_record(tuple(r)) for r in rows]

    async def adelete(self, key_id: str) -> bool:
        """Async ``delete``."""
        count, _ = await self._aexecute("delete", self._statement("delete"), (key_id,))
        return count > 0

    async def aclose(self) -> None:
        """Close both connections."""
        await self._db.aclose()

    def drop_table(self) -> None:
        """Drop the table (tests and tear-down tooling)."""
        self._execute("drop", self._sql("DROP TABLE IF EXISTS {t}"), ())

    def __repr__(self) -> str:
        return f"PostgresKeyStore(table={self._table_name!r})"
