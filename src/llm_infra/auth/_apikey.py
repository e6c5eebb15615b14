"""``ApiKeyAuthenticator``: ``lli_<id>_<secret>`` keys, stored as hashes, checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypedDict, Unpack, cast, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.audit import SecretAccess, SecretOperation, SecurityAuditLog
from llm_infra.auth import _codes
from llm_infra.auth._identity import API_KEY_PREFIX, CredentialKind, Credentials, Identity, as_credentials
from llm_infra.auth._store import ApiKeyRecord, AsyncKeyStore, KeyStore
from llm_infra.errors import AuthError, ConfigError, InfraError, NotFoundError, ValidationError
from llm_infra.secrets import Secret

_log = logging.getLogger("llm_infra.auth")

KEY_ID_BYTES = 10
"""Random bytes of a key id (80 bits, 16 base32 characters)."""

KEY_SECRET_BYTES = 35
"""Random bytes of a key's secret part (280 bits, 56 base32 characters)."""

_ID_CHARS = KEY_ID_BYTES * 8 // 5
_SECRET_CHARS = KEY_SECRET_BYTES * 8 // 5
_KEY_LENGTH = len(API_KEY_PREFIX) + _ID_CHARS + 1 + _SECRET_CHARS
_KEY_RE = re.compile(rf"\A{API_KEY_PREFIX}([a-z2-7]{{{_ID_CHARS}}})_([a-z2-7]{{{_SECRET_CHARS}}})\Z")
_ID_RE = re.compile(rf"\A[a-z2-7]{{{_ID_CHARS}}}\Z")
_MIN_PEPPER = 32
# Compared against when a key id is unknown, so a miss costs as much as a wrong secret.
_DUMMY_HASH = "sha256:" + "0" * 64


def _b32(n: int) -> str:
    return base64.b32encode(secrets.token_bytes(n)).decode().lower()


def _invalid() -> AuthError:
    return AuthError("invalid API key", kind="invalid_credentials", code=_codes.INVALID_CREDENTIALS)


def _split_key(key: Secret[str]) -> tuple[str, Secret[str]] | None:
    raw = key.reveal()
    if not isinstance(raw, str) or len(raw) != _KEY_LENGTH:
        return None
    match = _KEY_RE.match(raw)
    return None if match is None else (match.group(1), Secret(match.group(2)))


def parse_api_key(key: str | Secret[str]) -> tuple[str, Secret[str]]:
    """Split an API key into its id and its secret part.

    Raises:
        AuthError: the key is not ``lli_<16 base32>_<56 base32>`` (``invalid_credentials``);
            the message never contains the key.

    .. versionadded:: 0.1.0
    """
    secret = key if isinstance(key, Secret) else Secret(key)
    del key  # from here on the raw key lives only inside Secrets (error reports capture locals)
    parts = _split_key(secret)
    if parts is None:
        raise _invalid()
    return parts


def _seconds(expires_in: float | timedelta | None) -> float | None:
    if expires_in is None:
        return None
    seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValidationError(
            "expires_in must be a positive number of seconds, a timedelta or None",
            field="expires_in",
            code=_codes.INVALID_OPTION,
        )
    return float(seconds)


@final
@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly created key: the only time the full key is available.

    Attributes:
        key: the full key, as a ``Secret`` (hand ``key.reveal()`` to its owner once).
        key_id: the public id (for ``revoke`` and listings).
        record: what the store now holds (hash only).

    .. versionadded:: 0.1.0
    """

    key: Secret[str]
    key_id: str
    record: ApiKeyRecord


class _KeyOptions(TypedDict, total=False):
    """The keyword arguments of ``ApiKeyAuthenticator.issue`` (and its twins)."""

    scopes: Iterable[str]
    tenant: str | None
    attributes: Mapping[str, object] | None
    expires_in: float | timedelta | None
    name: str | None
    actor: str


@final
class ApiKeyAuthenticator:
    """Issues and verifies API keys of the form ``lli_<key id>_<secret>``.

    The secret part has 280 random bits. Stores keep only ``sha256`` of the key, or
    ``hmac-sha256`` under a server ``pepper`` when one is given (then a stolen database alone
    cannot even confirm a guessed key). Lookup is by key id; the hash is compared in constant
    time, and an unknown id costs the same comparison. Expired and revoked keys are refused;
    the last-used time is updated at most every ``touch_interval`` seconds.

    Args:
        store: a ``KeyStore`` (``SqliteKeyStore`` by default in the service).
        pepper: optional HMAC key (>= 32 bytes) mixed into the stored hashes.
        clock: source of wall-clock time (expiry, last use).
        touch_interval: minimum seconds between last-used updates of one key.
        audit: when given, creating and revoking keys are recorded as ``SecretAccess`` events.

    Raises:
        ConfigError: the pepper is shorter than 32 bytes (code ``auth.weak_pepper``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_astore", "_audit", "_clock", "_pepper", "_store", "_touch_interval")

    def __init__(
        self,
        store: KeyStore,
        *,
        pepper: bytes | str | Secret[bytes] | Secret[str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        touch_interval: float = 60.0,
        audit: SecurityAuditLog | None = None,
    ) -> None:
        self._store = store
        # Checked once: a runtime protocol check per request would cost more than the lookup.
        self._astore: AsyncKeyStore | None = store if isinstance(store, AsyncKeyStore) else None
        self._clock = clock
        self._touch_interval = float(touch_interval)
        self._audit = audit
        self._pepper: Secret[bytes] | None = None
        if pepper is not None:
            raw = pepper.reveal() if isinstance(pepper, Secret) else pepper
            data = raw.encode() if isinstance(raw, str) else raw
            if not isinstance(data, bytes) or len(data) < _MIN_PEPPER:
                raise ConfigError(
                    f"an API key pepper must be at least {_MIN_PEPPER} bytes",
                    key="pepper",
                    code=_codes.WEAK_PEPPER,
                )
            self._pepper = Secret(data)

    store: readonly[KeyStore] = readonly("_store", "The key store.")

    # -- hashing -------------------------------------------------------------------------------

    def _hash(self, key_id: str, secret: Secret[str], scheme: str | None = None) -> str:
        message = f"{API_KEY_PREFIX}{key_id}_{secret.reveal()}".encode()
        scheme = scheme or ("hmac-sha256" if self._pepper is not None else "sha256")
        if scheme == "hmac-sha256":
            if self._pepper is None:
                return ""
            return "hmac-sha256:" + hmac.new(self._pepper.reveal(), message, hashlib.sha256).hexdigest()
        return "sha256:" + hashlib.sha256(message).hexdigest()

    def _matches(self, record: ApiKeyRecord | None, key_id: str, secret: Secret[str]) -> bool:
        stored = record.key_hash if record is not None else _DUMMY_HASH
        scheme = stored.partition(":")[0]
        candidate = self._hash(key_id, secret, scheme if scheme in ("sha256", "hmac-sha256") else "sha256")
        same = hmac.compare_digest(candidate.encode(), stored.encode())
        return record is not None and same and candidate != ""

    # -- issuing -------------------------------------------------------------------------------

    def _new_record(
        self, subject: str, roles: Iterable[str], options: _KeyOptions
    ) -> tuple[Secret[str], ApiKeyRecord]:
        from llm_infra.json import dumps

        # Validate the identity fields now, so a bad call fails before anything is stored.
        # Identity accepts any iterable of strings at runtime (and refuses a bare str).
        checked = Identity(
            subject,
            cast("frozenset[str]", roles),
            cast("frozenset[str]", options.get("scopes", ())),
            options.get("tenant"),
            options.get("attributes") or {},
        )
        dumps(dict(checked.attributes))
        ttl = _seconds(options.get("expires_in"))
        now = self._clock.time()
        key_id, secret = _b32(KEY_ID_BYTES), Secret(_b32(KEY_SECRET_BYTES))
        record = ApiKeyRecord(
            key_id=key_id,
            subject=subject,
            key_hash=self._hash(key_id, secret),
            roles=checked.roles,
            scopes=checked.scopes,
            tenant=checked.tenant,
            attributes=dict(checked.attributes),
            name=options.get("name"),
            created_at=now,
            expires_at=None if ttl is None else now + ttl,
        )
        return Secret(f"{API_KEY_PREFIX}{key_id}_{secret.reveal()}"), record

    def _record_access(self, key_id: str, actor: str, operation: SecretOperation) -> None:
        if self._audit is not None:
            self._audit.log(SecretAccess(f"api_key:{key_id}", actor, operation))

    def issue(
        self,
        subject: str,
        roles: Iterable[str] = (),
        *,
        scopes: Iterable[str] = (),
        tenant: str | None = None,
        attributes: Mapping[str, object] | None = None,
        expires_in: float | timedelta | None = None,
        name: str | None = None,
        actor: str = "system",
    ) -> IssuedKey:
        """Create a key and store its hash; return it with its id and record.

        Args:
            subject: the identity the key authenticates as.
            roles: its roles.
            scopes: its scopes.
            tenant: its tenant.
            attributes: extra JSON-serializable facts copied into the ``Identity``.
            expires_in: lifetime in seconds (or a ``timedelta``); None never expires.
            name: a label for humans.
            actor: who creates the key (for the audit event).

        Raises:
            ValidationError: bad subject, roles, scopes or ``expires_in``.
            SerializationError: ``attributes`` is not JSON-serializable.
        """
        options: _KeyOptions = {
            "scopes": scopes,
            "tenant": tenant,
            "attributes": attributes,
            "expires_in": expires_in,
            "name": name,
        }
        key, record = self._new_record(subject, roles, options)
        self._store.put(record)
        self._record_access(record.key_id, actor, SecretOperation.WRITE)
        return IssuedKey(key, record.key_id, record)

    async def aissue(
        self, subject: str, roles: Iterable[str] = (), **options: Unpack[_KeyOptions]
    ) -> IssuedKey:
        """Async twin of ``issue`` (same arguments)."""
        key, record = self._new_record(subject, roles, options)
        if self._astore is not None:
            await self._astore.aput(record)
        else:
            self._store.put(record)
        await self._arecord_access(record.key_id, options.get("actor", "system"), SecretOperation.WRITE)
        return IssuedKey(key, record.key_id, record)

    async def _arecord_access(self, key_id: str, actor: str, operation: SecretOperation) -> None:
        if self._audit is not None:
            await self._audit.alog(SecretAccess(f"api_key:{key_id}", actor, operation))

    def create(self, subject: str, roles: Iterable[str] = (), **options: Unpack[_KeyOptions]) -> str:
        """Create a key and return the full key string (shown once; only its hash is stored).

        Same arguments as ``issue``.
        """
        return self.issue(subject, roles, **options).key.reveal()

    async def acreate(self, subject: str, roles: Iterable[str] = (), **options: Unpack[_KeyOptions]) -> str:
        """Async twin of ``create``."""
        issued = await self.aissue(subject, roles, **options)
        return issued.key.reveal()

    # -- verifying -----------------------------------------------------------------------------

    def supports(self, credentials: Credentials) -> bool:
        """True for API-key credentials (and bearer values that start with ``lli_``)."""
        if credentials.kind is CredentialKind.API_KEY:
            return True
        return credentials.secret.reveal().startswith(API_KEY_PREFIX)

    def _check(
        self, record: ApiKeyRecord | None, key_id: str, secret: Secret[str], now: float
    ) -> ApiKeyRecord:
        if not self._matches(record, key_id, secret) or record is None:
            raise _invalid()
        if record.revoked:
            raise AuthError(
                "API key revoked", kind="key_revoked", code=_codes.KEY_REVOKED, identity=record.subject
            )
        if record.is_expired(now):
            raise AuthError(
                "API key expired", kind="key_expired", code=_codes.KEY_EXPIRED, identity=record.subject
            )
        return record

    def _due(self, record: ApiKeyRecord, now: float) -> bool:
        return record.last_used_at is None or now - record.last_used_at >= self._touch_interval

    def authenticate(self, credentials: Credentials | Secret[str] | str) -> Identity:
        """Verify an API key and return the identity it stands for.

        Raises:
            AuthError: ``invalid_credentials`` (malformed, unknown or wrong key; one message
                for all), ``key_revoked`` or ``key_expired`` (only once the secret matched).
            InfraError: the store failed (e.g. ``IoError``, ``ExternalError``).
        """
        creds = as_credentials(credentials, CredentialKind.API_KEY)
        del credentials  # a raw str must not stay in this frame's locals
        key_id, secret = parse_api_key(creds.secret)
        now = self._clock.time()
        record = self._check(self._store.get(key_id), key_id, secret, now)
        if self._due(record, now):
            try:
                self._store.touch(key_id, now)
            except InfraError:
                _log.warning("cannot update last-used time of API key %s", key_id, exc_info=True)
        return record.identity()

    async def aauthenticate(self, credentials: Credentials | Secret[str] | str) -> Identity:
        """Async twin of ``authenticate`` (uses the store's async methods when it has them)."""
        creds = as_credentials(credentials, CredentialKind.API_KEY)
        del credentials  # a raw str must not stay in this frame's locals
        key_id, secret = parse_api_key(creds.secret)
        now = self._clock.time()
        astore = self._astore
        found = await astore.aget(key_id) if astore is not None else self._store.get(key_id)
        record = self._check(found, key_id, secret, now)
        if self._due(record, now):
            try:
                if astore is not None:
                    await astore.atouch(key_id, now)
                else:
                    self._store.touch(key_id, now)
            except InfraError:
                _log.warning("cannot update last-used time of API key %s", key_id, exc_info=True)
        return record.identity()

    # -- managing ------------------------------------------------------------------------------

    @staticmethod
    def key_id_of(key: str | Secret[str]) -> str:
        """The public id of a full key (``AuthError`` when it is malformed)."""
        return parse_api_key(key)[0]

    @staticmethod
    def _valid_id(key_id: str) -> str:
        if not isinstance(key_id, str) or not _ID_RE.match(key_id):
            raise NotFoundError("no such API key", resource_type="api_key", resource_id=None)
        return key_id

    def revoke(self, key_id: str, *, actor: str = "system") -> None:
        """Revoke a key by id (idempotent).

        Raises:
            NotFoundError: there is no key with that id.
        """
        if not self._store.revoke(self._valid_id(key_id), self._clock.time()):
            raise NotFoundError("no such API key", resource_type="api_key", resource_id=key_id)
        self._record_access(key_id, actor, SecretOperation.DELETE)

    async def arevoke(self, key_id: str, *, actor: str = "system") -> None:
        """Async twin of ``revoke``."""
        key_id = self._valid_id(key_id)
        now = self._clock.time()
        astore = self._astore
        found = await astore.arevoke(key_id, now) if astore is not None else self._store.revoke(key_id, now)
        if not found:
            raise NotFoundError("no such API key", resource_type="api_key", resource_id=key_id)
        await self._arecord_access(key_id, actor, SecretOperation.DELETE)

    def get(self, key_id: str) -> ApiKeyRecord:
        """The record of a key.

        Raises:
            NotFoundError: there is no key with that id.
        """
        record = self._store.get(self._valid_id(key_id))
        if record is None:
            raise NotFoundError("no such API key", resource_type="api_key", resource_id=key_id)
        return record

    def list_keys(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """Every key record (of one subject), oldest first."""
        return self._store.list(subject)

    def __repr__(self) -> str:
        return f"ApiKeyAuthenticator(store={self._store!r}, peppered={self._pepper is not None})"
