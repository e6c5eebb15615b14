"""ApiKeyAuthenticator over the memory and SQLite stores: format, hashing, expiry, revocation, last use."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from llm_infra.audit import AuthMethod, MemoryAuditSink, SecretAccess, SecurityAuditLog
from llm_infra.auth import (
    ApiKeyAuthenticator,
    ApiKeyRecord,
    AsyncKeyStore,
    Credentials,
    KeyStore,
    MemoryKeyStore,
    SqliteKeyStore,
    parse_api_key,
)
from llm_infra.errors import (
    AlreadyExistsError,
    AuthError,
    ConfigError,
    IoError,
    NotFoundError,
    ValidationError,
)
from llm_infra.secrets import Secret
from llm_infra.testing import FakeClock
from llm_infra.testing._audit import capture_audit

KEY_RE = re.compile(r"\Alli_[a-z2-7]{16}_[a-z2-7]{56}\Z")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "memory":
        yield MemoryKeyStore()
    else:
        s = SqliteKeyStore(tmp_path / "data" / "keys.sqlite3")
        yield s
        s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def auth(store: KeyStore, clock: FakeClock) -> ApiKeyAuthenticator:
    return ApiKeyAuthenticator(store, clock=clock)


def test_created_keys_have_the_documented_format(auth: ApiKeyAuthenticator) -> None:
    """Keys are lli_<16 base32>_<56 base32> (280-bit secret) and differ every time."""
    keys = {auth.create("alice") for _ in range(20)}
    assert len(keys) == 20
    assert all(KEY_RE.match(k) for k in keys)


def test_round_trip_gives_the_identity(auth: ApiKeyAuthenticator) -> None:
    """authenticate(create(...)) returns the subject, roles, scopes, tenant and key id."""
    issued = auth.issue(
        "alice", ["reader", "writer"], scopes=["vector"], tenant="acme", attributes={"team": "ml"}
    )
    identity = auth.authenticate(issued.key)
    assert identity.subject == "alice"
    assert identity.roles == {"reader", "writer"}
    assert identity.scopes == {"vector"}
    assert identity.tenant == "acme"
    assert identity.method is AuthMethod.API_KEY
    assert identity.attributes == {"team": "ml", "key_id": issued.key_id}
    assert auth.authenticate(Credentials.api_key(issued.key)) == identity
    assert auth.authenticate(issued.key.reveal()).subject == "alice"


def test_only_a_hash_is_stored(auth: ApiKeyAuthenticator, store: KeyStore) -> None:
    """The store holds sha256 of the key, never the key or its secret part."""
    key = auth.create("alice")
    key_id, secret = parse_api_key(key)
    record = store.get(key_id)
    assert record is not None
    assert record.key_hash == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert secret.reveal() not in repr(record)
    assert record.key_hash not in repr(record)
    if isinstance(store, SqliteKeyStore):
        raw = store.path.read_bytes() + b"".join(p.read_bytes() for p in store.path.parent.glob("*-wal"))
        assert secret.reveal().encode() not in raw


def test_peppered_hashes_need_the_pepper(store: KeyStore, clock: FakeClock) -> None:
    """With a pepper the stored hash is an HMAC; without the pepper the key no longer verifies."""
    pepper = Secret(b"p" * 32)
    peppered = ApiKeyAuthenticator(store, pepper=pepper, clock=clock)
    key = peppered.create("alice")
    record = store.get(parse_api_key(key)[0])
    assert record is not None
    assert record.key_hash.startswith("hmac-sha256:")
    assert peppered.authenticate(key).subject == "alice"
    with pytest.raises(AuthError) as exc_info:
        ApiKeyAuthenticator(store, clock=clock).authenticate(key)
    assert exc_info.value.code == "auth.invalid_credentials"
    with pytest.raises(AuthError) as exc_info:
        ApiKeyAuthenticator(store, pepper=b"q" * 32, clock=clock).authenticate(key)
    assert exc_info.value.code == "auth.invalid_credentials"
    assert "peppered=True" in repr(peppered)


def test_unpeppered_keys_still_verify_after_adding_a_pepper(store: KeyStore, clock: FakeClock) -> None:
    """The hash scheme is stored per key, so old sha256 keys keep working."""
    key = ApiKeyAuthenticator(store, clock=clock).create("alice")
    assert ApiKeyAuthenticator(store, pepper="s" * 32, clock=clock).authenticate(key).subject == "alice"


@pytest.mark.parametrize("pepper", [b"short", "x" * 31, Secret(b"")])
def test_short_peppers_are_refused(pepper: object) -> None:
    """Peppers under 32 bytes are a ConfigError."""
    with pytest.raises(ConfigError) as info:
        ApiKeyAuthenticator(MemoryKeyStore(), pepper=pepper)  # type: ignore[arg-type]
    assert info.value.code == "auth.weak_pepper"


def flip(key: str, index: int) -> str:
    ch = key[index]
    return key[:index] + ("a" if ch != "a" else "b") + key[index + 1 :]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k: flip(k, -1),
        lambda k: flip(k, 25),
        lambda k: flip(k, 5),
        lambda k: k[:-1],
        lambda k: k + "a",
        lambda k: k.upper(),
        lambda k: k.replace("lli_", "llx_"),
        lambda k: "",
        lambda k: "lli_" + "a" * 16 + "_" + "1" * 56,
        lambda k: k.replace("_", "-"),
        lambda k: " " + k[1:],
    ],
)
def test_wrong_or_malformed_keys_all_get_one_opaque_error(auth: ApiKeyAuthenticator, mutate: object) -> None:
    """Every wrong key raises invalid_credentials with one message and no key material."""
    key = auth.create("alice")
    bad = mutate(key)  # type: ignore[operator]
    with pytest.raises(AuthError) as info:
        auth.authenticate(bad)
    assert info.value.code == "auth.invalid_credentials"
    err = info.value
    assert err.auth_kind == "invalid_credentials"
    assert err.code == "auth.invalid_credentials"
    assert err.message == "invalid API key"
    text = repr(err) + str(err.to_dict()) + str(err.to_problem())
    assert key[-56:] not in text
    assert not bad or bad[-20:] not in text


def test_non_string_credentials_are_invalid(auth: ApiKeyAuthenticator) -> None:
    """A non-string credential is invalid_credentials, not a TypeError."""
    with pytest.raises(AuthError) as exc_info:
        auth.authenticate(12345)  # type: ignore[arg-type]
    assert exc_info.value.code == "auth.invalid_credentials"
    with pytest.raises(AuthError) as exc_info:
        auth.authenticate(Secret(b"bytes"))  # type: ignore[arg-type]
    assert exc_info.value.code == "auth.invalid_credentials"


def test_expiry(auth: ApiKeyAuthenticator, clock: FakeClock) -> None:
    """A key works until expires_in has passed, then raises key_expired."""
    key = auth.create("alice", expires_in=timedelta(hours=1))
    clock.advance(3599)
    assert auth.authenticate(key).subject == "alice"
    clock.advance(1)
    with pytest.raises(AuthError) as info:
        auth.authenticate(key)
    assert info.value.code == "auth.key_expired"
    assert info.value.auth_kind == "key_expired"
    assert info.value.problem_status() == 401


@pytest.mark.parametrize("ttl", [0, -5, float("nan"), True, "60"])
def test_bad_expiry_is_a_validation_error(auth: ApiKeyAuthenticator, ttl: object) -> None:
    """expires_in must be positive seconds or a timedelta."""
    with pytest.raises(ValidationError) as exc_info:
        auth.create("alice", expires_in=ttl)  # type: ignore[arg-type]
    assert exc_info.value.code == "auth.invalid_option"


def test_revocation(auth: ApiKeyAuthenticator) -> None:
    """A revoked key raises key_revoked; revoking again is fine; unknown ids are NotFoundError."""
    key = auth.create("alice")
    key_id = auth.key_id_of(key)
    auth.revoke(key_id)
    auth.revoke(key_id)
    with pytest.raises(AuthError) as info:
        auth.authenticate(key)
    assert info.value.code == "auth.key_revoked"
    assert info.value.auth_kind == "key_revoked"
    with pytest.raises(NotFoundError) as exc_info:
        auth.revoke("a" * 16)
    assert exc_info.value.code == "not_found"
    with pytest.raises(NotFoundError) as exc_info:
        auth.revoke("../../etc")
    assert exc_info.value.code == "not_found"
    assert auth.get(key_id).revoked


def test_revoked_key_with_wrong_secret_is_just_invalid(auth: ApiKeyAuthenticator) -> None:
    """Revocation is only revealed to someone holding the right secret."""
    key = auth.create("alice")
    auth.revoke(auth.key_id_of(key))
    with pytest.raises(AuthError) as info:
        auth.authenticate(flip(key, -1))
    assert info.value.code == "auth.invalid_credentials"
    assert info.value.auth_kind == "invalid_credentials"


def test_last_used_is_updated_at_most_every_touch_interval(store: KeyStore, clock: FakeClock) -> None:
    """last_used_at is set on first use and refreshed only after touch_interval."""
    auth = ApiKeyAuthenticator(store, clock=clock, touch_interval=60)
    key = auth.create("alice")
    key_id = auth.key_id_of(key)
    assert auth.get(key_id).last_used_at is None
    t0 = clock.time()
    auth.authenticate(key)
    assert auth.get(key_id).last_used_at == t0
    clock.advance(30)
    auth.authenticate(key)
    assert auth.get(key_id).last_used_at == t0
    clock.advance(30)
    auth.authenticate(key)
    assert auth.get(key_id).last_used_at == t0 + 60


def test_failing_touch_does_not_fail_authentication(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that cannot record last use still authenticates (and the failure is logged)."""
    auth = ApiKeyAuthenticator(SyncOnlyStore(), clock=clock)
    key = auth.create("alice")
    assert auth.authenticate(key).subject == "alice"
    assert any("last-used" in r.getMessage() for r in caplog.records)
    assert key not in caplog.text


def test_listing_and_get(auth: ApiKeyAuthenticator, clock: FakeClock) -> None:
    """list_keys lists all or one subject's keys, oldest first; get raises for unknown ids."""
    a1 = auth.issue("alice", name="laptop")
    clock.advance(1)
    b1 = auth.issue("bob")
    clock.advance(1)
    a2 = auth.issue("alice")
    assert [r.key_id for r in auth.list_keys()] == [a1.key_id, b1.key_id, a2.key_id]
    assert [r.key_id for r in auth.list_keys("alice")] == [a1.key_id, a2.key_id]
    assert auth.get(a1.key_id).name == "laptop"
    with pytest.raises(NotFoundError) as exc_info:
        auth.get("b" * 16)
    assert exc_info.value.code == "not_found"


def test_duplicate_ids_are_refused(store: KeyStore) -> None:
    """Putting a record with an existing id raises AlreadyExistsError."""
    record = ApiKeyRecord(key_id="a" * 16, subject="s", key_hash="sha256:" + "0" * 64, created_at=1.0)
    store.put(record)
    with pytest.raises(AlreadyExistsError) as exc_info:
        store.put(record)
    assert exc_info.value.code == "already_exists"
    assert store.delete(record.key_id)
    assert not store.delete(record.key_id)
    assert not store.revoke(record.key_id, 2.0)
    store.touch(record.key_id, 2.0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"subject": ""}, ValidationError),
        ({"subject": "a", "roles": "admin"}, ValidationError),
        ({"subject": "a", "roles": [""]}, ValidationError),
        ({"subject": "a", "attributes": {"x": object()}}, Exception),
    ],
)
def test_bad_issue_arguments_store_nothing(
    store: KeyStore, clock: FakeClock, kwargs: dict[str, object], error: type
) -> None:
    """Invalid identity fields fail before a record is stored."""
    auth = ApiKeyAuthenticator(store, clock=clock)
    with pytest.raises(error):
        auth.issue(**kwargs)  # type: ignore[arg-type]
    assert store.list() == []


def test_create_and_revoke_are_audited(clock: FakeClock) -> None:
    """With an audit log, create and revoke record SecretAccess events naming the key id only."""
    sink = MemoryAuditSink()
    log = SecurityAuditLog([sink], flush_interval=None)
    auth = ApiKeyAuthenticator(MemoryKeyStore(), clock=clock, audit=log)
    with capture_audit() as audit:
        key = auth.create("alice", actor="admin")
        auth.revoke(auth.key_id_of(key), actor="admin")
    events = audit.of_type(SecretAccess)
    assert [e.operation.value for e in events] == ["write", "delete"]
    assert events[0].secret_id == f"api_key:{auth.key_id_of(key)}"
    assert events[0].accessor == "admin"
    assert key not in audit.text
    assert key[-56:] not in audit.text


@pytest.mark.anyio
async def test_async_twins(store: KeyStore, clock: FakeClock) -> None:
    """acreate/aauthenticate/arevoke work over the async store methods."""
    assert isinstance(store, AsyncKeyStore)
    log = SecurityAuditLog(flush_interval=None)
    auth = ApiKeyAuthenticator(store, clock=clock, audit=log)
    key = await auth.acreate("alice", ["r"], expires_in=10)
    assert (await auth.aauthenticate(key)).roles == {"r"}
    clock.advance(5)
    await auth.aauthenticate(key)
    key_id = auth.key_id_of(key)
    assert [r.key_id for r in await store.alist()] == [key_id]
    await auth.arevoke(key_id)
    with pytest.raises(AuthError) as exc_info:
        await auth.aauthenticate(key)
    assert exc_info.value.code == "auth.key_revoked"
    with pytest.raises(NotFoundError) as exc_info:
        await auth.arevoke("c" * 16)
    assert exc_info.value.code == "not_found"
    assert await store.adelete(key_id)
    assert await store.aget(key_id) is None


class SyncOnlyStore:
    """A KeyStore without async twins (the authenticator falls back to sync calls)."""

    def __init__(self) -> None:
        self.inner = MemoryKeyStore()

    def put(self, record: ApiKeyRecord) -> None:
        self.inner.put(record)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return self.inner.get(key_id)

    def revoke(self, key_id: str, at: float) -> bool:
        return self.inner.revoke(key_id, at)

    def touch(self, key_id: str, at: float) -> None:
        raise IoError("read-only")

    def list(self, subject: str | None = None) -> list[ApiKeyRecord]:
        return self.inner.list(subject)

    def delete(self, key_id: str) -> bool:
        return self.inner.delete(key_id)

    def close(self) -> None:
        pass


@pytest.mark.anyio
async def test_async_methods_fall_back_to_sync_stores(clock: FakeClock) -> None:
    """A store with only sync methods still works through the async API."""
    auth = ApiKeyAuthenticator(SyncOnlyStore(), clock=clock)
    key = await auth.acreate("alice")
    assert (await auth.aauthenticate(key)).subject == "alice"
    await auth.arevoke(auth.key_id_of(key))
    with pytest.raises(NotFoundError) as exc_info:
        await auth.arevoke("d" * 16)
    assert exc_info.value.code == "not_found"


def test_sqlite_store_defaults_and_permissions(tmp_path: Path, clock: FakeClock) -> None:
    """in_data_dir puts the database under <data>/auth with mode 0600, and it survives reopening."""
    store = SqliteKeyStore.in_data_dir(tmp_path / "data")
    assert store.path == tmp_path / "data" / "auth" / "api_keys.sqlite3"
    assert store.path.stat().st_mode & 0o777 == 0o600
    key = ApiKeyAuthenticator(store, clock=clock).create("alice", ["admin"])
    store.close()
    reopened = SqliteKeyStore(tmp_path / "data" / "auth" / "api_keys.sqlite3")
    assert ApiKeyAuthenticator(reopened, clock=clock).authenticate(key).roles == {"admin"}
    assert "api_keys.sqlite3" in repr(reopened)
    reopened.close()


def test_sqlite_store_errors_are_io_errors(tmp_path: Path) -> None:
    """An unusable path or a closed store raises IoError with the keystore code."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(IoError) as info:
        SqliteKeyStore(blocker / "keys.sqlite3")
    assert info.value.code == "auth.keystore_io"
    store = SqliteKeyStore(tmp_path / "k.sqlite3")
    store.close()
    with pytest.raises(IoError) as exc_info:
        store.get("a" * 16)
    assert exc_info.value.code == "auth.keystore_io"


def test_sqlite_store_rejects_a_corrupt_file(tmp_path: Path) -> None:
    """A file that is not a SQLite database is an IoError, not a crash."""
    path = tmp_path / "k.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IoError) as exc_info:
        SqliteKeyStore(path)
    assert exc_info.value.code == "auth.keystore_io"
    assert sqlite3.sqlite_version


def test_memory_store_repr() -> None:
    """The memory store's repr shows only a count."""
    store = MemoryKeyStore()
    ApiKeyAuthenticator(store).create("a")
    assert repr(store) == "MemoryKeyStore(keys=1)"
    store.close()
