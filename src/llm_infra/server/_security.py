"""Authentication, authorization, tenants, rate limits and the audit log of the service.

Everything comes from the layer: ``ApiKeyAuthenticator`` over a ``SqliteKeyStore`` or
``PostgresKeyStore``, ``JwtAuthenticator`` over a ``JwtValidator`` (JWKS), ``RbacPolicy`` for
the three roles, ``RateLimiter`` (memory or Redis) per identity and per tenant, and
``SecurityAuditLog`` writing a ``HashChainedFileSink``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_infra.audit import (
    AuthorizationCheck,
    ConfigChange,
    HashChainedFileSink,
    MemoryAuditSink,
    RateLimitExceeded,
    SecurityAuditLog,
)
from llm_infra.auth import (
    ApiKeyAuthenticator,
    Authenticator,
    Identity,
    JwtAuthenticator,
    KeyStore,
    MultiAuthenticator,
    PostgresKeyStore,
    RbacPolicy,
    SqliteKeyStore,
)
from llm_infra.errors import AuthError, ValidationError
from llm_infra.fs import atomic_write
from llm_infra.ratelimit import MemoryBackend, RateLimiter, RateLimitEvent, RedisBackend
from llm_infra.secrets import Secret
from llm_infra.server import _codes
from llm_infra.server._settings import ServiceSettings

ROLES = ("admin", "writer", "reader")
"""The service's roles: ``admin`` manages keys and everything else, ``writer`` writes, ``reader`` reads."""

POLICY = RbacPolicy.from_dict(
    {
        "roles": {
            "reader": ["read:**"],
            "writer": {"allow": ["write:**"], "inherits": ["reader"]},
            "admin": ["**"],
        }
    }
)

TENANT_ATTR = "tenant"
COLLECTIONS_ATTR = "collections"
SEP = "/"


def tenant_of(identity: Identity, default: str) -> str:
    """The caller's tenant (the service default for tokens that carry none)."""
    return identity.tenant or default


def display_subject(identity: Identity) -> str:
    """The subject without the ``tenant/`` prefix keys are stored with."""
    return identity.subject.split(SEP, 1)[-1]


@dataclass(slots=True)
class Security:
    """The service's security objects, built once at startup."""

    settings: ServiceSettings
    audit: SecurityAuditLog
    recent: MemoryAuditSink
    keys: ApiKeyAuthenticator
    key_store: KeyStore
    authenticator: Authenticator
    identity_limiter: RateLimiter
    tenant_limiter: RateLimiter
    hash_key: Secret[str]

    def authorize(self, identity: Identity, action: str, tenant: str, collection: str | None = None) -> None:
        """Check the role and the key's collection restriction; every decision is audited.

        Raises:
            AuthError: ``insufficient_permissions`` (403).
        """
        resource = f"tenant/{tenant}" + (f"/collection/{collection}" if collection else "")
        allowed_collections = identity.attributes.get(COLLECTIONS_ATTR)
        granted = POLICY.authorize(identity, action, resource)
        if granted and collection and isinstance(allowed_collections, list | tuple) and allowed_collections:
            granted = collection in allowed_collections
        self.audit.log(
            AuthorizationCheck(f"{tenant}{SEP}{display_subject(identity)}", resource, action, granted)
        )
        if not granted:
            raise AuthError(
                "permission denied", kind="insufficient_permissions", identity=identity.subject, code=None
            )

    async def issue_key(
        self,
        *,
        tenant: str,
        subject: str,
        roles: list[str],
        collections: list[str] | None,
        actor: str,
        name: str | None = None,
    ) -> tuple[str, str]:
        """Issue a key in ``tenant``; returns ``(key, id)`` (the key is shown once, only its hash is kept)."""
        bad = [r for r in roles if r not in ROLES]
        if bad or not roles:
            raise ValidationError(
                f"roles must be a non-empty subset of {list(ROLES)}", field="roles", code=_codes.INVALID_ROLE
            )
        attributes: dict[str, Any] = {}
        if collections:
            attributes[COLLECTIONS_ATTR] = list(collections)
        issued = await self.keys.aissue(
            f"{tenant}{SEP}{subject}",
            roles,
            tenant=tenant,
            attributes=attributes,
            name=name,
            actor=actor,
        )
        return issued.key.reveal(), issued.key_id

    def changed(self, what: str, who: str, change: str) -> None:
        """Audit an admin action (``what`` created/deleted/revoked by ``who``)."""
        self.audit.log(
            ConfigChange.from_values(what, who, None, change, hash_key=self.hash_key, old_missing=True)
        )

    def on_limited(self, event: RateLimitEvent) -> None:
        """Audit a refused request."""
        self.audit.log(RateLimitExceeded(event.identity, event.endpoint, event.limit, event.window))

    def close(self) -> None:
        """Flush the audit log and close the key store."""
        self.audit.close()
        self.key_store.close()


def _audit_key(settings: ServiceSettings) -> Secret[str]:
    if settings.audit_key is not None:
        return settings.audit_key
    path = settings.data_dir / "audit" / "chain.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, secrets.token_hex(32).encode(), mode=0o600)
    return Secret(path.read_text().strip())


def _key_store(settings: ServiceSettings) -> KeyStore:
    url = settings.keys_url
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresKeyStore(url)
    if url:
        return SqliteKeyStore(Path(url.removeprefix("sqlite://")))
    return SqliteKeyStore.in_data_dir(settings.data_dir)


def _jwt(settings: ServiceSettings) -> Authenticator | None:
    if not settings.jwt_issuer:
        return None
    from llm_infra.crypto import JwksCache, JwtValidator

    url = settings.jwt_jwks_url
    if url.startswith(("http://", "https://")):
        from llm_infra.http import HttpClient

        def fetch() -> Any:
            with HttpClient() as client:
                return client.get(url).json()

        cache = JwksCache(fetch=fetch)
    else:
        cache = JwksCache(Path(url.removeprefix("file://")).read_text())
    options: dict[str, Any] = {"issuer": settings.jwt_issuer}
    if settings.jwt_audience:
        options["audience"] = settings.jwt_audience
    return JwtAuthenticator(JwtValidator.from_jwks(cache, **options))


def _limiters(settings: ServiceSettings) -> tuple[RateLimiter, RateLimiter]:
    url = settings.ratelimit_url
    backend: MemoryBackend | RedisBackend
    if url.startswith(("redis://", "rediss://")):
        backend = RedisBackend(url, prefix="llm-infra:server:ratelimit:")
    else:
        backend = MemoryBackend()
    per_identity = RateLimiter(settings.rate_limit, settings.rate_period, backend=backend, name="identity")
    per_tenant = RateLimiter(settings.tenant_rate_limit, settings.rate_period, backend=backend, name="tenant")
    return per_identity, per_tenant


def build_security(settings: ServiceSettings) -> Security:
    """Build the key store, authenticators, limiters and audit log from the settings."""
    audit_path = (
        Path(settings.audit_file) if settings.audit_file else settings.data_dir / "audit" / "audit.jsonl"
    )
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    recent = MemoryAuditSink(200, name="recent")
    chain_key = _audit_key(settings)
    audit = SecurityAuditLog(
        [HashChainedFileSink(audit_path, chain_key), recent],
        flush_interval=0.5,
        fallback_path=audit_path.with_suffix(".fallback.jsonl"),
    )
    store = _key_store(settings)
    keys = ApiKeyAuthenticator(store, audit=audit)
    jwt = _jwt(settings)
    authenticator: Authenticator = keys if jwt is None else MultiAuthenticator([keys, jwt])
    per_identity, per_tenant = _limiters(settings)
    return Security(settings, audit, recent, keys, store, authenticator, per_identity, per_tenant, chain_key)
