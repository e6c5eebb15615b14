"""``Identity``, ``Credentials`` and the ``Authenticator`` protocol."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol, final, runtime_checkable

from llm_infra.audit import AuthMethod
from llm_infra.auth import _codes
from llm_infra.errors import AuthError, ValidationError
from llm_infra.secrets import Secret

API_KEY_PREFIX = "lli_"
"""Every API key starts with this prefix (so a leaked key is easy to find and to scan for)."""

MAX_CREDENTIAL_LENGTH = 8192
"""Longest credential accepted (bytes of the header value); longer ones are rejected unread."""

_MAX_NAME = 256


def _names(field_name: str, value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError(
            f"{field_name} must be a collection of strings, not a single string",
            field=field_name,
            expected="iterable of str",
            code=_codes.INVALID_IDENTITY,
        )
    items = frozenset(value)
    for item in items:
        if not isinstance(item, str) or not item or len(item) > _MAX_NAME:
            raise ValidationError(
                f"every entry of {field_name} must be a non-empty string of at most {_MAX_NAME} characters",
                field=field_name,
                code=_codes.INVALID_IDENTITY,
            )
    return items


@final
@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request acts for, once authenticated.

    Args:
        subject: the principal's id (user id, service name, ``sub`` claim).
        roles: role names, used by ``RbacPolicy``.
        scopes: OAuth-style scopes granted by the credential.
        tenant: the tenant, for multi-tenant services.
        attributes: any further facts (claims, key id); read-only.
        method: how the identity was authenticated.

    Raises:
        ValidationError: an argument has the wrong shape (code ``auth.invalid_identity``).

    .. versionadded:: 0.1.0
    """

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    tenant: str | None = None
    attributes: Mapping[str, object] = field(default_factory=dict, hash=False)
    method: AuthMethod | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.subject, str) or not self.subject or len(self.subject) > _MAX_NAME:
            raise ValidationError(
                f"subject must be a non-empty string of at most {_MAX_NAME} characters",
                field="subject",
                code=_codes.INVALID_IDENTITY,
            )
        object.__setattr__(self, "roles", _names("roles", self.roles))
        object.__setattr__(self, "scopes", _names("scopes", self.scopes))
        if self.tenant is not None and (not isinstance(self.tenant, str) or not self.tenant):
            raise ValidationError(
                "tenant must be a non-empty string or None", field="tenant", code=_codes.INVALID_IDENTITY
            )
        if not isinstance(self.attributes, Mapping):
            raise ValidationError(
                "attributes must be a mapping", field="attributes", code=_codes.INVALID_IDENTITY
            )
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        if self.method is not None:
            object.__setattr__(self, "method", AuthMethod(self.method))

    def has_role(self, role: str) -> bool:
        """Whether ``role`` is one of the identity's roles (inheritance is the policy's business)."""
        return role in self.roles

    def has_scope(self, scope: str) -> bool:
        """Whether ``scope`` was granted."""
        return scope in self.scopes


class CredentialKind(StrEnum):
    """What a request presented.

    .. versionadded:: 0.1.0
    """

    API_KEY = "api_key"
    BEARER = "bearer"


@final
@dataclass(frozen=True, slots=True)
class Credentials:
    """A credential taken from a request; the value is a ``Secret`` and never printed.

    Build one with ``Credentials.api_key(key)`` or ``Credentials.bearer(token)``.

    .. versionadded:: 0.1.0
    """

    kind: CredentialKind
    secret: Secret[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CredentialKind(self.kind))
        if not isinstance(self.secret, Secret) or not isinstance(self.secret.reveal(), str):
            raise ValidationError(
                "a credential must be a Secret[str]", field="secret", code=_codes.INVALID_CREDENTIALS
            )

    @classmethod
    def api_key(cls, key: str | Secret[str]) -> Credentials:
        """Credentials carrying an API key."""
        return cls(CredentialKind.API_KEY, key if isinstance(key, Secret) else Secret(key))

    @classmethod
    def bearer(cls, token: str | Secret[str]) -> Credentials:
        """Credentials carrying a bearer token (a JWT)."""
        return cls(CredentialKind.BEARER, token if isinstance(token, Secret) else Secret(token))

    @classmethod
    def guess(cls, value: str | Secret[str]) -> Credentials:
        """API-key credentials when ``value`` starts with ``lli_``, bearer credentials otherwise."""
        raw = value.reveal() if isinstance(value, Secret) else value
        if isinstance(raw, str) and raw.startswith(API_KEY_PREFIX):
            return cls.api_key(value)
        return cls.bearer(value)

    @property
    def method(self) -> AuthMethod:
        """The audit ``AuthMethod`` of this kind of credential."""
        return AuthMethod.API_KEY if self.kind is CredentialKind.API_KEY else AuthMethod.JWT


def as_credentials(value: Credentials | Secret[str] | str, kind: CredentialKind | None = None) -> Credentials:
    """Normalize what a caller passed to ``authenticate``.

    Raises:
        AuthError: ``value`` is not a string, Secret or Credentials (``invalid_credentials``).
    """
    if isinstance(value, Credentials):
        return value
    raw = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(raw, str):
        raise AuthError("invalid credentials", kind="invalid_credentials", code=_codes.INVALID_CREDENTIALS)
    if kind is CredentialKind.API_KEY:
        return Credentials.api_key(value)
    if kind is CredentialKind.BEARER:
        return Credentials.bearer(value)
    return Credentials.guess(value)


@runtime_checkable
class Authenticator(Protocol):
    """Turns credentials into an ``Identity`` or raises ``AuthError``.

    .. versionadded:: 0.1.0
    """

    def supports(self, credentials: Credentials) -> bool:
        """Whether this authenticator understands ``credentials`` at all."""
        ...

    def authenticate(self, credentials: Credentials | Secret[str] | str) -> Identity:
        """Verify ``credentials``.

        Raises:
            AuthError: the credentials are invalid, expired or revoked.
        """
        ...

    async def aauthenticate(self, credentials: Credentials | Secret[str] | str) -> Identity:
        """Async twin of ``authenticate``."""
        ...
