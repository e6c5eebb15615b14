"""The service's own small state (collection catalog, jobs): SQLite in the data dir or PostgreSQL.

Documents are JSON objects filed under ``(kind, tenant, name)``. Replicas sharing a Postgres
share the catalog and job progress; the embedded default keeps one SQLite file (WAL).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError, IoError
from llm_infra.errors._foreign import postgres_error
from llm_infra.json import dumps, loads


class StateStore(Protocol):
    """JSON documents keyed by ``(kind, tenant, name)``."""

    def put(self, kind: str, tenant: str, name: str, doc: dict[str, Any], *, create: bool = False) -> bool:
        """Write ``doc``; with ``create`` only when absent (returns False when it existed)."""
        ...

    def get(self, kind: str, tenant: str, name: str) -> dict[str, Any] | None:
        """The document, or None."""
        ...

    def list(self, kind: str, tenant: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """``(tenant, name, doc)`` of every document of ``kind`` (of one tenant), by name."""
        ...

    def delete(self, kind: str, tenant: str, name: str) -> bool:
        """Remove a document; False when there was none."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_DDL = (
    "CREATE TABLE IF NOT EXISTS {t} (kind TEXT NOT NULL, tenant TEXT NOT NULL, name TEXT NOT NULL, "
    "doc TEXT NOT NULL, PRIMARY KEY (kind, tenant, name))"
)


class SqliteStateStore:
    """``StateStore`` in one SQLite file (WAL, synchronous=FULL: a write is durable when it returns)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self._path), check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(_DDL.format(t="state"))
        except (OSError, sqlite3.Error) as exc:
            raise IoError(
                f"cannot open the service state at {self._path}: {exc}",
                operation="open",
                path=str(self._path),
                code="io.open_failed",
            ) from exc

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            try:
                cur = self._conn.execute(sql, args)
                return cur.fetchall()
            except sqlite3.Error as exc:
                raise IoError(
                    f"service state failed: {exc}", operation="sqlite", path=str(self._path), code="io.failed"
                ) from exc

    def put(self, kind: str, tenant: str, name: str, doc: dict[str, Any], *, create: bool = False) -> bool:
        """See ``StateStore.put``."""
        verb = "INSERT OR IGNORE" if create else "INSERT OR REPLACE"
        before = self._conn.total_changes
        self._run(f"{verb} INTO state VALUES (?, ?, ?, ?)", (kind, tenant, name, dumps(doc).decode()))
        return self._conn.total_changes != before

    def get(self, kind: str, tenant: str, name: str) -> dict[str, Any] | None:
        """See ``StateStore.get``."""
        rows = self._run("SELECT doc FROM state WHERE kind=? AND tenant=? AND name=?", (kind, tenant, name))
        return loads(rows[0][0]) if rows else None

    def list(self, kind: str, tenant: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """See ``StateStore.list``."""
        if tenant is None:
            rows = self._run("SELECT tenant, name, doc FROM state WHERE kind=? ORDER BY name", (kind,))
        else:
            rows = self._run(
                "SELECT tenant, name, doc FROM state WHERE kind=? AND tenant=? ORDER BY name", (kind, tenant)
            )
        return [(t, n, loads(d)) for t, n, d in rows]

    def delete(self, kind: str, tenant: str, name: str) -> bool:
        """See ``StateStore.delete``."""
        before = self._conn.total_changes
        self._run("DELETE FROM state WHERE kind=? AND tenant=? AND name=?", (kind, tenant, name))
        return self._conn.total_changes != before

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


_INSERT_NEW = "INSERT INTO {t} VALUES (%s, %s, %s, %s) ON CONFLICT (kind, tenant, name) DO NOTHING"
_UPSERT = (
    "INSERT INTO {t} VALUES (%s, %s, %s, %s) ON CONFLICT (kind, tenant, name) "
    "DO UPDATE SET doc = EXCLUDED.doc"
)
_TABLE = re.compile(r"\A[a-z_][a-z0-9_]{0,62}\Z")


class PostgresStateStore:
    """``StateStore`` in a PostgreSQL table, shared by every replica."""

    def __init__(self, dsn: str, *, table: str = "llm_infra_service_state") -> None:
        psycopg = require("psycopg", "postgres")
        if not _TABLE.match(table):
            raise ConfigError("a state table name is a lowercase SQL identifier", key="table")
        self._dsn = dsn
        self._table = table
        self._lock = threading.Lock()
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            self._conn.execute(_DDL.format(t=table))
        except psycopg.Error as exc:
            raise postgres_error(exc, "connect", area="server") from exc

    def _run(self, sql: str, args: tuple[Any, ...]) -> tuple[list[Any], int]:
        psycopg = require("psycopg", "postgres")
        with self._lock:
            try:
                cur = self._conn.execute(sql.format(t=self._table), args)
                rows = cur.fetchall() if cur.description else []
                return rows, cur.rowcount
            except psycopg.Error as exc:
                raise postgres_error(exc, "state", area="server") from exc

    def put(self, kind: str, tenant: str, name: str, doc: dict[str, Any], *, create: bool = False) -> bool:
        """See ``StateStore.put``."""
        sql = _INSERT_NEW if create else _UPSERT
        _, n = self._run(sql, (kind, tenant, name, dumps(doc).decode()))
        return n > 0

    def get(self, kind: str, tenant: str, name: str) -> dict[str, Any] | None:
        """See ``StateStore.get``."""
        rows, _ = self._run(
            "SELECT doc FROM {t} WHERE kind=%s AND tenant=%s AND name=%s", (kind, tenant, name)
        )
        return loads(rows[0][0]) if rows else None

    def list(self, kind: str, tenant: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """See ``StateStore.list``."""
        if tenant is None:
            rows, _ = self._run("SELECT tenant, name, doc FROM {t} WHERE kind=%s ORDER BY name", (kind,))
        else:
            rows, _ = self._run(
                "SELECT tenant, name, doc FROM {t} WHERE kind=%s AND tenant=%s ORDER BY name", (kind, tenant)
            )
        return [(t, n, loads(d)) for t, n, d in rows]

    def delete(self, kind: str, tenant: str, name: str) -> bool:
        """See ``StateStore.delete``."""
        _, n = self._run("DELETE FROM {t} WHERE kind=%s AND tenant=%s AND name=%s", (kind, tenant, name))
        return n > 0

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def open_state(url: str, data_dir: Path) -> StateStore:
    """PostgreSQL for a ``postgresql://`` URL, else ``<data_dir>/service.sqlite3``."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStateStore(url)
    return SqliteStateStore(data_dir / "service.sqlite3")
