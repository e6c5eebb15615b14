"""``AuthMiddleware``: pure ASGI authentication (and optional RBAC) with problem+json errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, final

from llm_infra.audit import AuthenticationAttempt, AuthMethod, SecurityAuditLog
from llm_infra.auth import _codes
from llm_infra.auth._apikey import parse_api_key
from llm_infra.auth._identity import (
    API_KEY_PREFIX,
    MAX_CREDENTIAL_LENGTH,
    Authenticator,
    CredentialKind,
    Credentials,
    Identity,
)
from llm_infra.auth._rbac import RbacPolicy
from llm_infra.errors import AuthError, ConfigError, InfraError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PermissionFor = Callable[[Scope], "tuple[str, str] | None"]

_log = logging.getLogger("llm_infra.auth")
_B64TOKEN = re.compile(r"\A[A-Za-z0-9\-._~+/]+=*\Z")
_MAX_USER_AGENT = 512
_DEFAULT_EXEMPT = ("/healthz", "/readyz", "/metrics")


def _reject(message: str, kind: str = "invalid_credentials") -> AuthError:
    return AuthError(message, kind=kind)


def extract_credentials(headers: Iterable[tuple[bytes, bytes]]) -> Credentials | None:
    """Find the request's credentials in its ASGI headers.

    ``Authorization: Bearer <token>`` gives bearer credentials (API-key credentials when the
    token starts with ``lli_``); ``X-API-Key: <key>`` gives API-key credentials. Exactly one
    credential may be present.

    Returns:
        The credentials, or None when the request carries none.

    Raises:
        AuthError: ``invalid_credentials`` for repeated or conflicting headers, another
            Authorization scheme, an oversized or malformed value. The message never contains
            the value.

    .. versionadded:: 0.1.0
    """
    found: list[tuple[bytes, bytes]] = [
        (n.lower(), v) for n, v in headers if n.lower() in (b"authorization", b"x-api-key")
    ]
    if not found:
        return None
    if len(found) > 1:
        raise _reject("more than one credential in the request")
    name, raw = found[0]
    if len(raw) > MAX_CREDENTIAL_LENGTH:
        raise _reject("credential too long")
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        raise _reject("malformed credential") from None
    if name == b"x-api-key":
        key = value.strip()
        if not key:
            raise _reject("malformed credential")
        return Credentials.api_key(key)
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise _reject("unsupported authorization scheme")
    if not token or not _B64TOKEN.match(token):
        raise _reject("malformed credential")
    if token.startswith(API_KEY_PREFIX):
        return Credentials.api_key(token)
    return Credentials.bearer(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            text: str = value.decode("latin-1")[:_MAX_USER_AGENT]
            return text
    return None


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    import ipaddress

    try:
        return str(ipaddress.ip_address(client[0]))
    except (ValueError, TypeError, IndexError):
        return None  # e.g. "testclient" or a unix socket path


def _claimed_identity(credentials: Credentials | None) -> str:
    """A non-secret label for who tried: the key id for API keys, else ``unknown``."""
    if credentials is not None and credentials.kind is CredentialKind.API_KEY:
        try:
            return f"api_key:{parse_api_key(credentials.secret)[0]}"
        except AuthError:
            return "api_key:malformed"
    return "unknown"


@final
class AuthMiddleware:
    """ASGI middleware that authenticates every request (works under Starlette and any ASGI app).

    It reads ``Authorization: Bearer`` or ``X-API-Key``, authenticates with ``authenticator``
    (``aauthenticate``), and stores the ``Identity`` in ``scope["state"]["identity"]`` (so
    ``request.state.identity`` in Starlette), ``scope["identity"]`` and ``scope["user"]``
    (``request.user``). Failures answer 401 (with ``WWW-Authenticate``) or 403 as
    ``application/problem+json`` from ``AuthError.to_problem()``; a store outage answers with
    its own error's status. Every attempt is recorded as an ``AuthenticationAttempt`` (key id
    or subject, never the credential). WebSocket connections are closed with code 1008.

    Args:
        app: the ASGI application.
        authenticator: an ``Authenticator`` (``MultiAuthenticator`` for keys and JWTs).
        audit: the audit log (by default one without sinks, which only logs).
        policy: an ``RbacPolicy`` checked when ``permission_for`` names a permission.
        permission_for: ``scope -> (action, resource) | None``: the permission a request needs
            (give it together with ``policy``).
        exempt_paths: paths served without credentials (health and metrics by default).
        allow_anonymous: let requests without credentials through (identity None); invalid
            credentials are still refused.
        realm: the ``realm`` of the ``WWW-Authenticate`` challenge.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_allow_anonymous",
        "_app",
        "_audit",
        "_authenticator",
        "_challenge",
        "_exempt",
        "_permission_for",
        "_policy",
    )

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        audit: SecurityAuditLog | None = None,
        policy: RbacPolicy | None = None,
        permission_for: PermissionFor | None = None,
        exempt_paths: Iterable[str] = _DEFAULT_EXEMPT,
        allow_anonymous: bool = False,
        realm: str = "llm-infra",
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.\- ]{1,64}", realm):
            raise ConfigError("realm must be 1-64 plain characters", key="realm", code=_codes.INVALID_OPTION)
        if (policy is None) != (permission_for is None):
            raise ConfigError(
                "policy and permission_for go together: give both or neither",
                key="policy",
                code=_codes.INVALID_OPTION,
            )
        self._app = app
        self._authenticator = authenticator
        self._audit = audit if audit is not None else SecurityAuditLog()
        self._policy = policy
        self._permission_for = permission_for
        self._exempt = frozenset(exempt_paths)
        self._allow_anonymous = allow_anonymous
        self._challenge = f'Bearer realm="{realm}"'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        try:
            credentials = extract_credentials(scope.get("headers") or ())
        except AuthError as err:
            await self._record(
                scope, None, AuthMethod.API_KEY if self._says_api_key(scope) else AuthMethod.JWT, err
            )
            await self._refuse(scope, receive, send, err)
            return
        if credentials is None:
            if scope.get("path") in self._exempt or self._allow_anonymous:
                await self._app(self._with_identity(scope, None), receive, send)
                return
            await self._refuse(
                scope,
                receive,
                send,
                AuthError(
                    "authentication required", kind="missing_credentials", code=_codes.MISSING_CREDENTIALS
                ),
            )
            return
        try:
            identity = await self._authenticator.aauthenticate(credentials)
        except AuthError as err:
            await self._record(scope, credentials, credentials.method, err)
            await self._refuse(scope, receive, send, err)
            return
        except InfraError as err:
            _log.warning("authentication backend failed: %s", err.code)
            await self._refuse(scope, receive, send, err)
            return
        await self._record(scope, credentials, identity.method or credentials.method, None, identity)
        if self._policy is not None and self._permission_for is not None:
            needed = self._permission_for(scope)
            if needed is not None:
                action, resource = needed
                if not self._policy.authorize(identity, action, resource, audit=self._audit):
                    denied = AuthError(
                        "permission denied",
                        kind="insufficient_permissions",
                        code=_codes.INSUFFICIENT_PERMISSIONS,
                        identity=identity.subject,
                    )
                    await self._refuse(scope, receive, send, denied)
                    return
        await self._app(self._with_identity(scope, identity), receive, send)

    @staticmethod
    def _says_api_key(scope: Scope) -> bool:
        return any(k.lower() == b"x-api-key" for k, _ in scope.get("headers") or ())

    @staticmethod
    def _with_identity(scope: Scope, identity: Identity | None) -> Scope:
        state = dict(scope.get("state") or {})
        state["identity"] = identity
        new = dict(scope)
        new["state"] = state
        new["identity"] = identity
        if identity is not None:
            new["user"] = identity
        return new

    async def _record(
        self,
        scope: Scope,
        credentials: Credentials | None,
        method: AuthMethod,
        err: AuthError | None,
        identity: Identity | None = None,
    ) -> None:
        who = identity.subject if identity is not None else _claimed_identity(credentials)
        await self._audit.alog(
            AuthenticationAttempt(
                who,
                method,
                err is None,
                _client_ip(scope),
                _header(scope, b"user-agent"),
                reason=None if err is None else err.code,
            )
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, err: InfraError) -> None:
        from llm_infra.json import dumps

        if scope["type"] == "websocket":
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": 1008})
            return
        status = err.problem_status()
        body = dumps(err.to_problem())
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        if status == 401:
            headers.append((b"www-authenticate", self._challenge))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
