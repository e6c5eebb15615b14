"""API key records and their stores: the ``KeyStore`` protocol, memory and SQLite."""

from __future__ import annotations

import abc
import builtins
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, final, runtime_checkable

from llm_infra._internal._attrs import readonly
from llm_infra.audit import AuthMethod
from llm_infra.auth import _codes
from llm_infra.auth._identity import Identity
from llm_infra.errors import AlreadyExistsError, IoError

DEFAULT_KEYSTORE_FILE = Path("auth") / "api_keys.sqlite3"
"""Where ``SqliteKeyStore.in_data_dir`` keeps keys, relative to the data directory."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRecord:
    """What a store keeps about one API key: its hash, never the key.

    Attributes:
        key_id: the public part of the key (``lli_<key_id>_<secret>``).
        subject: the identity the key authenticates as.
        key_hash: ``sha256:<hex>`` or ``hmac-sha256:<hex>`` of the key (not shown in ``repr``).
        roles, scopes, tenant, attributes: copied into the ``Identity``.
        name: a label for humans.
        created_at, expires_at, revoked_at, last_used_at: Unix times (seconds), or None.

    .. versionadded:: 0.1.0
    """

    key_id: str
    subject: str
    key_hash: str = field(repr=False)
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    tenant: str | None = None
    attributes: Mapping[str, object] = field(default_factory=dict, hash=False)
    name: str | None = None
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(self.roles))
        object.__setattr__(self, "scopes", frozenset(self.scopes))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    def is_expired(self, now: float) -> bool:
        """Whether the key has expired at ``now``."""
        return self.expires_at is not None and now >= self.expires_at

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked."""
        return self.revoked_at is not None

    def identity(self) -> Identity:
        """The ``Identity`` this key authenticates as (``attributes`` gains ``key_id``)."""
        return Identity(
            self.subject,
            self.roles,
            self.scopes,
            self.tenant,
            {**self.attributes, "key_id": self.key_id},
            method=AuthMethod.API_KEY,
        )


@runtime_checkable
class KeyStore(Protocol):
    """Persistence for ``ApiKeyRecord``s, looked up by key id.

    Implementations: ``MemoryKeyStore``, ``SqliteKeyStore`` (the default), ``PostgresKeyStore``.
    Each also has the async twins ``aput``/``aget``/``arevoke``/``atouch``/``alist``/``adelete``.

    .. versionadded:: 0.1.0
    """

    def put(self, record: ApiKeyRecord) -> None:
        """Store a new record.

        Raises:
            AlreadyExistsError: a record with that key id exists.
        """
        ...

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for ``key_id``, or None."""
        ...

    def revoke(self, key_id: str, at: float) -> bool:
        """Mark the key revoked at ``at``; False when there is no such key."""
        ...

    def touch(self, key_id: str, at: float) -> None:
        """Set the key's last-used time."""
        ...

    def list(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """All records (of one subject), oldest first."""
        ...

    def delete(self, key_id: str) -> bool:
        """Remove the record; False when there is none."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


@runtime_checkable
class AsyncKeyStore(Protocol):
    """The async twin of ``KeyStore`` (same semantics).

    .. versionadded:: 0.1.0
    """

    async def aput(self, record: ApiKeyRecord) -> None:
        """Async ``put``."""
        ...

    async def aget(self, key_id: str) -> ApiKeyRecord | None:
        """Async ``get``."""
        ...

    async def arevoke(self, key_id: str, at: float) -> bool:
        """Async ``revoke``."""
        ...

    async def atouch(self, key_id: str, at: float) -> None:
        """Async ``touch``."""
        ...

    async def alist(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """Async ``list``."""
        ...

    async def adelete(self, key_id: str) -> bool:
        """Async ``delete``."""
        ...


class _LocalAsync(abc.ABC):
    """Async twins for stores whose operations are local and fast (no network): they call the sync ones."""

    __slots__ = ()

    @abc.abstractmethod
    def put(self, record: ApiKeyRecord) -> None:
        """Store a new record."""

    @abc.abstractmethod
    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for ``key_id``, or None."""

    @abc.abstractmethod
    def revoke(self, key_id: str, at: float) -> bool:
        """Mark the key revoked."""

    @abc.abstractmethod
    def touch(self, key_id: str, at: float) -> None:
        """Set the last-used time."""

    @abc.abstractmethod
    def list(self, subject: str | None = None) -> builtins.list[ApiKeyRecord]:
        """All records (of one subject)."""

    @abc.abstractmethod
    def delete(self, key_id: str) -> bool:
        """Remove the record."""

    async def aput(self, record: ApiKeyRecord) -> None:
        """Same as ``put``."""
        self.put(record)

    async def aget(self, key_id: str) -> ApiKeyRecord | None:
        """Same as ``get``."""
        return self.get(key_id)

    async def arevoke(self, key_id: str, at: float) -> bool:
        """Same as ``revoke``."""
        return self.revoke(key_id, at)

    async def atouch(self, key_id: str, at: float) -> None:
        """Same as ``touch``."""
        self.touch(key_id, at)

    async def alist(self, subject: str | None = None) -> builtins.list[ApiKeyRecord]:
        """Same as ``list``."""
        return self.list(subject)

    async def adelete(self, key_id: str) -> bool:
        """Same as ``delete``."""
        return self.delete(key_id)


def _exists(key_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        "an API key with this id already exists", resource_type="api_key", resource_id=key_id
    )


@final
class MemoryKeyStore(_LocalAsync):
    """Keeps records in a dict (tests, examples, ephemeral services).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_lock", "_records")

    def __init__(self) -> None:
        self._records: dict[str, ApiKeyRecord] = {}
        self._lock = threading.Lock()

    def put(self, record: ApiKeyRecord) -> None:
        """Store a new record (``AlreadyExistsError`` on a duplicate id)."""
        with self._lock:
            if record.key_id in self._records:
                raise _exists(record.key_id)
            self._records[record.key_id] = record

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for ``key_id``, or None."""
        return self._records.get(key_id)

    def revoke(self, key_id: str, at: float) -> bool:
        """Mark revoked (keeps the first revocation time)."""
        with self._lock:
            record = self._records.get(key_id)
            if record is None:
                return False
            if record.revoked_at is None:
                self._records[key_id] = replace(record, revoked_at=at)
            return True

    def touch(self, key_id: str, at: float) -> None:
        """Set the last-used time."""
        with self._lock:
            record = self._records.get(key_id)
            if record is not None:
                self._records[key_id] = replace(record, last_used_at=at)

    def list(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """All records (of one subject), oldest first."""
        with self._lock:
            records = list(self._records.values())
        records.sort(key=lambda r: (r.created_at, r.key_id))
        return [r for r in records if subject is None or r.subject == subject]

    def delete(self, key_id: str) -> bool:
        """Remove the record."""
        with self._lock:
            return self._records.pop(key_id, None) is not None

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryKeyStore(keys={len(self._records)})"


def record_to_row(record: ApiKeyRecord) -> dict[str, Any]:
    """The column values of ``record`` (roles/scopes/attributes as JSON text)."""
    from llm_infra.json import dumps

    return {
        "key_id": record.key_id,
        "subject": record.subject,
        "key_hash": record.key_hash,
        "roles": dumps(sorted(record.roles)).decode(),
        "scopes": dumps(sorted(record.scopes)).decode(),
        "tenant": record.tenant,
        "attributes": dumps(dict(record.attributes)).decode(),
        "name": record.name,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "last_used_at": record.last_used_at,
    }


COLUMNS = (
    "key_id",
    "subject",
    "key_hash",
    "roles",
    "scopes",
    "tenant",
    "attributes",
    "name",
    "created_at",
    "expires_at",
    "revoked_at",
    "last_used_at",
)


def row_to_record(row: Mapping[str, Any] | tuple[Any, ...]) -> ApiKeyRecord:
    """Rebuild a record from a row in ``COLUMNS`` order (JSON columns as text or decoded)."""
    from llm_infra.json import loads

    values = dict(zip(COLUMNS, row, strict=True)) if isinstance(row, tuple) else dict(row)
    for name in ("roles", "scopes", "attributes"):
        if isinstance(values[name], str | bytes):
            values[name] = loads(values[name])
    return ApiKeyRecord(**values)


_COLS = ", ".join(COLUMNS)
_INSERT = f"INSERT INTO api_keys ({_COLS}) VALUES ({', '.join(':' + c for c in COLUMNS)})"  # noqa: S608 - constant names
_SELECT_ONE = f"SELECT {_COLS} FROM api_keys WHERE key_id = ?"  # noqa: S608 - constant names
_SELECT_ALL = f"SELECT {_COLS} FROM api_keys ORDER BY created_at, key_id"  # noqa: S608 - constant names
_SELECT_SUBJECT = f"SELECT {_COLS} FROM api_keys WHERE subject = ? ORDER BY created_at, key_id"  # noqa: S608 - constant names

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    scopes TEXT NOT NULL,
    tenant TEXT,
    attributes TEXT NOT NULL,
    name TEXT,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    last_used_at REAL
);
CREATE INDEX IF NOT EXISTS api_keys_subject ON api_keys (subject, created_at);
"""


@final
class SqliteKeyStore(_LocalAsync):
    """API keys in a SQLite file (WAL, synchronous=FULL); the default store.

    The file is created with mode 0600. One connection is shared under a lock, so the store is
    safe to use from several threads; its async methods run the (local, short) queries inline.

    Args:
        path: the database file; parent directories are created.

    Raises:
        IoError: the file cannot be opened (code ``auth.keystore_io``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_conn", "_lock", "_path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            if not self._path.exists():
                os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._conn = sqlite3.connect(
                self._path, timeout=10.0, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise self._io("open", exc) from exc

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str] = "data") -> SqliteKeyStore:
        """The default store: ``<data_dir>/auth/api_keys.sqlite3``."""
        return cls(Path(data_dir) / DEFAULT_KEYSTORE_FILE)

    path: readonly[Path] = readonly("_path", "The database file.")

    def _io(self, operation: str, exc: BaseException) -> IoError:
        return IoError(
            f"API key store {operation} failed: {type(exc).__name__}",
            operation=operation,
            path=str(self._path),
            code=_codes.KEYSTORE_IO,
        )

    def _run(
        self, operation: str, sql: str, params: Mapping[str, Any] | tuple[Any, ...] = ()
    ) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._conn.execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise self._io(operation, exc) from exc

    def put(self, record: ApiKeyRecord) -> None:
        """Store a new record (``AlreadyExistsError`` on a duplicate id)."""
        row = record_to_row(record)
        try:
            self._run("put", _INSERT, row)
        except sqlite3.IntegrityError as exc:
            raise _exists(record.key_id) from exc

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record for ``key_id``, or None."""
        cur = self._run("get", _SELECT_ONE, (key_id,))
        row = cur.fetchone()
        return None if row is None else row_to_record(tuple(row))

    def revoke(self, key_id: str, at: float) -> bool:
        """Mark revoked (keeps the first revocation time)."""
        cur = self._run(
            "revoke",
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
            (at, key_id),
        )
        return cur.rowcount > 0

    def touch(self, key_id: str, at: float) -> None:
        """Set the last-used time."""
        self._run("touch", "UPDATE api_keys SET last_used_at = ? WHERE key_id = ?", (at, key_id))

    def list(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """All records (of one subject), oldest first."""
        if subject is None:
            cur = self._run("list", _SELECT_ALL)
        else:
            cur = self._run("list", _SELECT_SUBJECT, (subject,))
        return [row_to_record(tuple(row)) for row in cur.fetchall()]

    def delete(self, key_id: str) -> bool:
        """Remove the record."""
        return self._run("delete", "DELETE FROM api_keys WHERE key_id = ?", (key_id,)).rowcount > 0

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SqliteKeyStore(path={str(self._path)!r})"
