"""``JwtAuthenticator`` (claims to ``Identity``) and ``MultiAuthenticator`` (try each in turn)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, final

from llm_infra._internal._attrs import readonly
from llm_infra.audit import AuthMethod
from llm_infra.auth import _codes
from llm_infra.auth._identity import (
    API_KEY_PREFIX,
    MAX_CREDENTIAL_LENGTH,
    Authenticator,
    CredentialKind,
    Credentials,
    Identity,
    as_credentials,
)
from llm_infra.crypto import JwtValidator
from llm_infra.errors import AuthError, InfraError
from llm_infra.secrets import Secret

_RESERVED = frozenset({"sub", "scope", "scp"})


class TokenValidator(Protocol):
    """What ``JwtAuthenticator`` needs: ``llm_infra.crypto.JwtValidator`` fits.

    .. versionadded:: 0.1.0
    """

    def verify(self, token: str) -> dict[str, Any]:
        """Verify the token's signature and claims and return the claims.

        Raises:
            AuthError: ``token_expired`` or ``invalid_token``.
        """
        ...


def _invalid_token() -> AuthError:
    return AuthError("invalid token", kind="invalid_token", code=_codes.INVALID_TOKEN)


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _str_list(value: Any, *, split: bool = True) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str) and split:
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return frozenset(value)
    raise _invalid_token()


@final
class JwtAuthenticator:
    """Authenticates bearer JWTs with a validator and maps their claims onto an ``Identity``.

    The validator (``llm_infra.crypto.JwtValidator``) does every cryptographic and claim check;
    this class maps ``sub`` to ``subject``, the roles claim (a list of strings, found by a
    dotted path such as ``realm_access.roles``) to ``roles``, ``scope`` and ``scp`` (a
    space-separated string or a list) to
    ``scopes``, the tenant claim to ``tenant``, and the other claims to ``attributes``. A claim
    of the wrong type makes the token invalid; it is never coerced.

    Args:
        validator: anything with ``verify(token) -> dict`` raising ``AuthError``.
        roles_claim: where the roles are.
        tenant_claim: where the tenant is.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_roles_claim", "_tenant_claim", "_validator")

    def __init__(
        self, validator: TokenValidator, *, roles_claim: str = "roles", tenant_claim: str = "tenant"
    ) -> None:
        self._validator = validator
        self._roles_claim = roles_claim
        self._tenant_claim = tenant_claim

    def supports(self, credentials: Credentials) -> bool:
        """True for bearer credentials that are not API keys."""
        return credentials.kind is CredentialKind.BEARER and not credentials.secret.reveal().startswith(
            API_KEY_PREFIX
        )

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        if not isinstance(claims, Mapping):
            raise _invalid_token()
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 256:
            raise _invalid_token()
        roles = _str_list(_claim(claims, self._roles_claim), split=False)
        scopes = _str_list(claims.get("scope")) | _str_list(claims.get("scp"))
        tenant = _claim(claims, self._tenant_claim)
        if tenant is not None and (not isinstance(tenant, str) or not tenant):
            raise _invalid_token()
        skip = _RESERVED | {self._roles_claim.split(".")[0], self._tenant_claim.split(".")[0]}
        attributes = {k: v for k, v in claims.items() if k not in skip}
        try:
            return Identity(subject, roles, scopes, tenant, attributes, method=AuthMethod.JWT)
        except InfraError:
            raise _invalid_token() from None

    def authenticate(self, credentials: Credentials | Any) -> Identity:
        """Verify a bearer token and return its identity.

        Raises:
            AuthError: ``token_expired`` or ``invalid_token`` (also for claims of the wrong
                shape and for anything else the validator raises).
        """
        creds = as_credentials(credentials, CredentialKind.BEARER)
        del credentials  # a raw str must not stay in this frame's locals
        if len(creds.secret.reveal()) > MAX_CREDENTIAL_LENGTH:
            raise _invalid_token()
        try:
            claims = self._verify(creds.secret)
        except AuthError:
            raise
        except Exception as exc:
            raise _invalid_token() from exc
        return self._identity(claims)

    def _verify(self, token: Secret[str]) -> dict[str, Any]:
        validator = self._validator
        if isinstance(validator, JwtValidator):
            return validator.verify(token)
        return validator.verify(token.reveal())

    async def aauthenticate(self, credentials: Credentials | Any) -> Identity:
        """Async ``authenticate``: a JWKS refresh is awaited, never run inside the event loop.

        With a ``JwtValidator`` this calls ``averify`` (keys are fetched asynchronously, one
        fetch for many concurrent requests); other validators are called as in ``authenticate``.
        """
        creds = as_credentials(credentials, CredentialKind.BEARER)
        del credentials
        validator = self._validator
        if not isinstance(validator, JwtValidator):
            return self.authenticate(creds)
        if len(creds.secret.reveal()) > MAX_CREDENTIAL_LENGTH:
            raise _invalid_token()
        try:
            claims = await validator.averify(creds.secret)
        except AuthError:
            raise
        except Exception as exc:
            raise _invalid_token() from exc
        return self._identity(claims)

    def __repr__(self) -> str:
        return f"JwtAuthenticator(validator={type(self._validator).__name__})"


@final
class MultiAuthenticator:
    """Tries each authenticator that supports the credentials, in order; the first success wins.

    When all of them fail, the first one's error is raised (list them in order of preference).

    Args:
        authenticators: the authenticators, e.g. ``[api_keys, jwt]``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_authenticators",)

    def __init__(self, authenticators: Iterable[Authenticator]) -> None:
        self._authenticators: Sequence[Authenticator] = tuple(authenticators)

    authenticators: readonly[Sequence[Authenticator]] = readonly(
        "_authenticators", "The authenticators, in order."
    )

    def supports(self, credentials: Credentials) -> bool:
        """Whether any authenticator supports ``credentials``."""
        return any(a.supports(credentials) for a in self._authenticators)

    def _candidates(self, credentials: Credentials) -> list[Authenticator]:
        found = [a for a in self._authenticators if a.supports(credentials)]
        if not found:
            raise AuthError(
                "unsupported credentials", kind="invalid_credentials", code=_codes.INVALID_CREDENTIALS
            )
        return found

    def authenticate(self, credentials: Credentials | Any) -> Identity:
        """Authenticate with the first authenticator that accepts the credentials.

        Raises:
            AuthError: no authenticator supports them, or the first supporting one's error.
        """
        creds = as_credentials(credentials)
        first: AuthError | None = None
        for authenticator in self._candidates(creds):
            try:
                return authenticator.authenticate(creds)
            except AuthError as exc:
                first = first or exc
        assert first is not None
        raise first

    async def aauthenticate(self, credentials: Credentials | Any) -> Identity:
        """Async twin of ``authenticate``."""
        creds = as_credentials(credentials)
        first: AuthError | None = None
        for authenticator in self._candidates(creds):
            try:
                return await authenticator.aauthenticate(creds)
            except AuthError as exc:
                first = first or exc
        assert first is not None
        raise first

    def __repr__(self) -> str:
        return f"MultiAuthenticator({list(self._authenticators)!r})"
