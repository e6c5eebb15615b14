"""The SQLite points table: the durable source of truth (ids, vectors, metadata, the config).

One connection, guarded by a re-entrant lock (``PointsTable.lock``). Writers hold it from
``BEGIN`` until the in-memory state reflects the commit, and readers that need rows consistent
with memory (``get(with_vector=True)``, ``search(with_vectors=True)``) take it before the
store's read lock, so a reader sees the database and memory at the same point: never a slot
whose row a concurrent upsert already replaced.

SQLite failures become errors that name their cause: a full disk is ``io.disk_full``, a busy or
locked database a retryable ``vector.storage``, a call on a closed store ``vector.closed``,
anything else ``vector.storage_corrupt``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from llm_infra.errors import InfraError, IoError, VectorError
from llm_infra.vector import _codes

DB_FILE: Final = "store.sqlite"
MEMORY: Final = ":memory:"

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS points ("
    " label INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " vector BLOB NOT NULL,"
    " metadata TEXT)",
)
_SQLITE_FULL: Final = 13
_SQLITE_IOERR: Final = 10
DELETES_KEY: Final = "deletes"
"""Meta key: how many rows were ever deleted or replaced (with the label sequence, what the
database must have reached for a manifest written later to be covered)."""


def closed_error(operation: str) -> VectorError:
    """The error of a call on (or racing) a closed store."""
    return VectorError("the vector store is closed", operation=operation, code=_codes.CLOSED)


def storage_error(
    exc: BaseException, operation: str, *, path: str | None = None, closed: bool = False
) -> InfraError:
    """The error for a SQLite failure, naming its real cause."""
    if closed or (isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc)):
        return closed_error(operation)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    if primary == _SQLITE_FULL or "disk is full" in str(exc):
        return IoError(
            f"vector storage {operation} failed: the disk is full ({exc})",
            operation=operation,
            path=path,
            code="io.disk_full",
            remediation=["free space on the volume, then retry"],
        )
    if primary == _SQLITE_IOERR:
        return IoError(
            f"vector storage {operation} failed with an I/O error: {exc}",
            operation=operation,
            path=path,
            code="io.failed",
        )
    if isinstance(exc, sqlite3.OperationalError):  # busy, locked, interrupted: transient
        return IoError(
            f"vector storage {operation} failed: {exc}",
            operation=operation,
            path=path,
            code=_codes.STORAGE,
            retryable=True,
        )
    return VectorError(
        f"vector storage {operation} failed: {exc}",
        operation=operation,
        code=_codes.STORAGE_CORRUPT,
        remediation=["run verify(); restore the store from a snapshot if the database is damaged"],
    )


class PointsTable:
    """The ``points`` and ``meta`` tables behind one connection (see the module docstring)."""

    __slots__ = ("_db", "closed", "lock", "path")

    def __init__(self, directory: Path | None) -> None:
        self.path = MEMORY if directory is None else str(directory / DB_FILE)
        self.lock = threading.RLock()
        self.closed = False
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise storage_error(exc, "open", path=self.path) from exc
        self._db = db
        try:
            if directory is not None:
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=5000")
            for stmt in _SCHEMA:
                db.execute(stmt)
        except sqlite3.Error as exc:
            db.close()
            raise storage_error(exc, "open", path=self.path) from exc

    def _error(self, exc: BaseException, operation: str) -> InfraError:
        return storage_error(exc, operation, path=self.path, closed=self.closed)

    def execute(self, sql: str, args: tuple[Any, ...] = (), operation: str = "read") -> list[Any]:
        """Run one statement and fetch its rows."""
        try:
            with self.lock:
                return self._db.execute(sql, args).fetchall()
        except (sqlite3.Error, ValueError) as exc:
            raise self._error(exc, operation) from exc

    def meta_get(self, key: str) -> str | None:
        """A value of the ``meta`` table."""
        rows = self.execute("SELECT value FROM meta WHERE key = ?", (key,), "open")
        return None if not rows else str(rows[0][0])

    def meta_set(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table."""
        self.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
            "write",
        )

    def set_synchronous(self, full: bool) -> None:
        """``PRAGMA synchronous`` for the durability level."""
        self.execute(f"PRAGMA synchronous={'FULL' if full else 'NORMAL'}", (), "open")

    def sequence(self) -> int:
        """The highest label ever allocated (SQLite's AUTOINCREMENT sequence)."""
        rows = self.execute("SELECT seq FROM sqlite_sequence WHERE name = 'points'")
        return int(rows[0][0]) if rows else 0

    def deletes(self) -> int:
        """Rows ever deleted or replaced (see ``DELETES_KEY``)."""
        value = self.meta_get(DELETES_KEY)
        return int(value) if value is not None and value.isdigit() else 0

    def transaction(
        self, statements: Sequence[tuple[str, Any, bool]], operation: str, deleted: int = 0
    ) -> None:
        """Run ``(sql, args, many)`` statements in one ``BEGIN IMMEDIATE`` transaction.

        The caller holds ``lock``. A failure rolls back (when SQLite has not already done so)
        and raises the original cause, never the rollback's own error.
        """
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, args, many in statements:
                if many:
                    db.executemany(sql, args)
                else:
                    db.execute(sql, args)
            if deleted:
                db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key)"
                    " DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)",
                    (DELETES_KEY, str(deleted), deleted),
                )
            db.execute("COMMIT")
        except BaseException as exc:
            if not self.closed:
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error | ValueError):
                raise self._error(exc, operation) from exc
            raise

    def vectors_by_label(self, labels: list[int], dims: int) -> dict[int, np.ndarray]:
        """The stored vectors of ``labels`` (caller holds ``lock`` for a consistent view)."""
        out: dict[int, np.ndarray] = {}
        for lo in range(0, len(labels), 500):
            part = labels[lo : lo + 500]
            marks = ",".join("?" * len(part))
            rows = self.execute(f"SELECT label, vector FROM points WHERE label IN ({marks})", tuple(part))  # noqa: S608 - only placeholders are interpolated
            for label, blob in rows:
                if len(blob) == 4 * dims:
                    out[int(label)] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        return out

    def decode_vectors(self, blobs: Sequence[bytes], dims: int, operation: str = "open") -> np.ndarray:
        """Stored vector blobs as a float32 matrix."""
        width = 4 * dims
        if any(len(b) != width for b in blobs):
            raise VectorError(
                "a stored vector has the wrong length; the database is damaged",
                operation=operation,
                code=_codes.STORAGE_CORRUPT,
            )
        if not blobs:
            return np.empty((0, dims), dtype=np.float32)
        return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dims).astype(np.float32)

    def backup(self, dest: Path) -> None:
        """A consistent copy of the database at ``dest``."""
        try:
            dst = sqlite3.connect(str(dest))
            try:
                with self.lock:
                    self._db.backup(dst)
                dst.execute("PRAGMA journal_mode=WAL")
            finally:
                dst.close()
        except sqlite3.Error as exc:
            raise self._error(exc, "snapshot") from exc

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self.lock:
            if not self.closed:
                self.closed = True
                self._db.close()
