"""PostgresKeyStore and PostgresAuditSink against the real loopback PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from llm_infra.audit import (
    AuthenticationAttempt,
    AuthorizationCheck,
    ConfigChange,
    PostgresAuditSink,
    SecurityAuditLog,
    SuspiciousActivity,
)
from llm_infra.auth import ApiKeyAuthenticator, ApiKeyRecord, KeyStore, PostgresKeyStore
from llm_infra.errors import AlreadyExistsError, AuthError, ConfigError, ExternalError, NotFoundError
from llm_infra.secrets import Secret
from llm_infra.testing import FakeClock

pytestmark = pytest.mark.integration


def table_name() -> str:
    return "t_" + uuid.uuid4().hex[:12]


def drop(dsn: str, table: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def key_table(postgres_dsn: str) -> Iterator[str]:
    table = table_name()
    yield table
    drop(postgres_dsn, table)


@pytest.fixture
def store(postgres_dsn: str, key_table: str) -> Iterator[PostgresKeyStore]:
    s = PostgresKeyStore(Secret(postgres_dsn), table=key_table)
    yield s
    s.close()


def test_key_store_round_trip(store: PostgresKeyStore) -> None:
    """Create, authenticate, touch, list, revoke and delete through PostgreSQL."""
    clock = FakeClock()
    auth = ApiKeyAuthenticator(store, clock=clock, pepper=b"p" * 32)
    assert isinstance(store, KeyStore)
    key = auth.create(
        "alice", ["reader"], scopes=["s"], tenant="acme", attributes={"n": [1, 2]}, expires_in=60
    )
    identity = auth.authenticate(key)
    assert (identity.subject, identity.roles, identity.scopes, identity.tenant) == (
        "alice",
        {"reader"},
        {"s"},
        "acme",
    )
    assert identity.attributes["n"] == [1, 2]
    key_id = auth.key_id_of(key)
    assert auth.get(key_id).last_used_at == clock.time()
    clock.advance(1)
    other = auth.create("bob")
    assert [r.subject for r in auth.list_keys()] == ["alice", "bob"]
    assert [r.key_id for r in auth.list_keys("bob")] == [auth.key_id_of(other)]
    clock.advance(60)
    with pytest.raises(AuthError) as info:
        auth.authenticate(key)
    assert info.value.code == "auth.key_expired"
    assert info.value.auth_kind == "key_expired"
    auth.revoke(key_id)
    first = auth.get(key_id).revoked_at
    clock.advance(5)
    auth.revoke(key_id)
    assert auth.get(key_id).revoked_at == first
    with pytest.raises(NotFoundError) as exc_info:
        auth.revoke("z" * 16)
    assert exc_info.value.code == "not_found"
    assert store.delete(key_id)
    assert not store.delete(key_id)
    assert store.get(key_id) is None
    assert repr(store) == f"PostgresKeyStore(table={store._table_name!r})"


def test_duplicate_key_ids_are_refused(store: PostgresKeyStore) -> None:
    """The primary key rejects a second record with the same id."""
    record = ApiKeyRecord(key_id="a" * 16, subject="s", key_hash="sha256:" + "0" * 64, created_at=1.0)
    store.put(record)
    with pytest.raises(AlreadyExistsError) as exc_info:
        store.put(record)
    assert exc_info.value.code == "already_exists"


@pytest.mark.anyio
async def test_key_store_async_twins(store: PostgresKeyStore) -> None:
    """The async methods share the table with the sync ones."""
    clock = FakeClock()
    auth = ApiKeyAuthenticator(store, clock=clock)
    key = await auth.acreate("carol", ["writer"])
    assert (await auth.aauthenticate(key)).roles == {"writer"}
    assert auth.authenticate(key).subject == "carol"
    key_id = auth.key_id_of(key)
    assert [r.key_id for r in await store.alist("carol")] == [key_id]
    await auth.arevoke(key_id)
    with pytest.raises(AuthError) as exc_info:
        await auth.aauthenticate(key)
    assert exc_info.value.code == "auth.key_revoked"
    record = await store.aget(key_id)
    assert record is not None
    assert record.revoked
    with pytest.raises(AlreadyExistsError) as exc_info:
        await store.aput(record)
    assert exc_info.value.code == "already_exists"
    assert await store.adelete(key_id)
    assert await store.aget(key_id) is None
    await store.aclose()


def test_key_store_reconnects_after_the_connection_dies(store: PostgresKeyStore, postgres_dsn: str) -> None:
    """A killed backend connection fails one call with a retryable ExternalError; the next reconnects."""
    auth = ApiKeyAuthenticator(store)
    key = auth.create("dave")
    pid = store._db._conn.info.backend_pid  # type: ignore[union-attr]
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(ExternalError) as info:
        store.get(auth.key_id_of(key))
    assert info.value.code == "auth.postgres_unavailable"
    assert info.value.retryable
    assert postgres_dsn not in repr(info.value.to_dict())
    assert auth.authenticate(key).subject == "dave"


def test_unreachable_database_is_an_external_error() -> None:
    """A refused connection is a retryable ExternalError that does not show the DSN."""
    dsn = "postgresql://user:CANARYPASS@127.0.0.1:1/none"
    store = PostgresKeyStore(dsn, connect_timeout=1)
    with pytest.raises(ExternalError) as info:
        store.get("a" * 16)
    assert info.value.code == "auth.postgres_unavailable"
    assert info.value.retryable
    assert "CANARYPASS" not in repr(info.value) + repr(info.value.to_dict()) + repr(store)


@pytest.mark.parametrize("table", ["x;drop table y", "a.b.c", "", "1abc", "a-b"])
def test_table_names_are_validated(table: str) -> None:
    """Only plain [schema.]identifiers are accepted as table names."""
    with pytest.raises(ConfigError) as exc_info:
        PostgresKeyStore("postgresql://", table=table)
    assert exc_info.value.code == "config.invalid"
    with pytest.raises(ConfigError) as exc_info:
        PostgresAuditSink("postgresql://", table=table)
    assert exc_info.value.code == "config.invalid"


@pytest.fixture
def audit_table(postgres_dsn: str) -> Iterator[str]:
    table = table_name()
    yield table
    drop(postgres_dsn, table)


def test_audit_sink_stores_and_reads_events(postgres_dsn: str, audit_table: str) -> None:
    """Events written through a SecurityAuditLog come back equal, in order, and filtered by type."""
    sink = PostgresAuditSink(postgres_dsn, table=audit_table)
    sent = [
        AuthenticationAttempt("alice", "api_key", True, "10.0.0.1", "ua"),
        AuthorizationCheck("alice", "collection/x", "vector:write", False),
        ConfigChange.from_values("a.b", "ops", 1, 2, hash_key=b"k" * 16),
        SuspiciousActivity("probe", "2001:db8::1", ["x", "y"]),
    ]
    with SecurityAuditLog([sink], flush_interval=None) as log:
        for event in sent:
            log.log(event)
        log.flush()
        assert log.stats().delivered == 4
        assert sink.read() == sent
        assert sink.read(event_type="AuthorizationCheck") == [sent[1]]
        assert sink.read(limit=2) == sent[:2]
    assert repr(sink) == f"PostgresAuditSink(name='postgres', table={audit_table!r})"


def test_audit_sink_writes_are_idempotent(postgres_dsn: str, audit_table: str) -> None:
    """Re-writing a batch (a retry after an unclear failure) stores each event once."""
    sink = PostgresAuditSink(postgres_dsn, table=audit_table)
    events = [AuthorizationCheck("a", "r", "x:y", True), AuthorizationCheck("b", "r", "x:y", True)]
    sink.write(events)
    sink.write(events)
    sink.write([])
    assert sink.read() == events
    sink.close()


@pytest.mark.anyio
async def test_audit_sink_async(postgres_dsn: str, audit_table: str) -> None:
    """aflush goes through the async connection."""
    sink = PostgresAuditSink(postgres_dsn, table=audit_table)
    async with SecurityAuditLog([sink], flush_interval=None) as log:
        await log.alog(AuthorizationCheck("a", "r", "x:y", True))
        await log.aflush()
        await sink.awrite([])
    assert [e.identity for e in sink.read()] == ["a"]  # type: ignore[attr-defined]
    sink.close()


def test_audit_sink_outage_spills_then_replays(postgres_dsn: str, audit_table: str, tmp_path: object) -> None:
    """With the database down the batch is spilled; replay_fallback delivers it once it is back."""
    from pathlib import Path

    fallback = Path(str(tmp_path)) / "fallback.jsonl"
    clock = FakeClock()
    down = PostgresAuditSink("postgresql://postgres@127.0.0.1:1/test", table=audit_table, connect_timeout=1)
    log = SecurityAuditLog([down], flush_interval=None, fallback_path=fallback, sleep=clock.sleep)
    log.log(AuthorizationCheck("a", "r", "x:y", True))
    log.flush()
    stats = log.stats()
    assert (stats.spilled, stats.retries, stats.lost) == (1, 2, 0)
    up = PostgresAuditSink(postgres_dsn, table=audit_table)
    replay = SecurityAuditLog([up], flush_interval=None, fallback_path=fallback)
    assert replay.replay_fallback() == 1
    assert not fallback.exists()
    assert [e.identity for e in up.read()] == ["a"]  # type: ignore[attr-defined]
    up.close()


@pytest.mark.anyio
async def test_audit_sink_async_outage(audit_table: str) -> None:
    """The async path raises a retryable ExternalError for an unreachable database."""
    sink = PostgresAuditSink("postgresql://postgres@127.0.0.1:1/test", table=audit_table, connect_timeout=1)
    with pytest.raises(ExternalError) as info:
        await sink.awrite([AuthorizationCheck("a", "r", "x:y", True)])
    assert info.value.code == "audit.postgres_unavailable"
    assert info.value.retryable
    await sink.aclose()
