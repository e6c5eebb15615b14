"""``AuthMiddleware``: pure ASGI authentication, brute-force budget and deny-by-default RBAC."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from typing import Final, final

from llm_infra._internal._asgi import ASGIApp, Receive, Scope, Send
from llm_infra.audit import AuthenticationAttempt, AuthMethod, AuthorizationCheck, SecurityAuditLog
from llm_infra.auth import _codes
from llm_infra.auth._apikey import parse_api_key
from llm_infra.auth._identity import (
    MAX_CREDENTIAL_LENGTH,
    Authenticator,
    CredentialKind,
    Credentials,
    Identity,
)
from llm_infra.auth._rbac import RbacPolicy
from llm_infra.errors import AuthError, ConfigError, InfraError, RateLimitedError
from llm_infra.errors._problem import send_problem
from llm_infra.ratelimit import RateLimiter, client_network
from llm_infra.ratelimit._middleware import route_path
from llm_infra.secrets import Secret

PermissionFor = Callable[[Scope], "tuple[str, str] | None"]

_log = logging.getLogger("llm_infra.auth")
_B64TOKEN = re.compile(r"\A[A-Za-z0-9\-._~+/]+=*\Z")
_MAX_USER_AGENT = 512
_DEFAULT_EXEMPT = ("/healthz", "/readyz", "/metrics")

FAILURE_LIMIT: Final = 20
"""Default brute-force budget: failed authentication attempts per client network ..."""
FAILURE_PERIOD: Final = 60.0
"""... per this many seconds (see ``AuthMiddleware(failure_limiter=...)``)."""


class _Default:
    """The marker of an argument left to its default."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"


_DEFAULT: Final = _Default()


def default_failure_limiter() -> RateLimiter:
    """The brute-force limiter ``AuthMiddleware`` uses by default: 20 failures per minute, in memory."""
    return RateLimiter(FAILURE_LIMIT, FAILURE_PERIOD, name="auth-failures")


def _reject(message: str) -> AuthError:
    return AuthError(message, kind="invalid_credentials", code=_codes.INVALID_CREDENTIALS)


def _ascii(value: Secret[bytes]) -> Secret[str] | None:
    try:
        return Secret(value.reveal().decode("ascii"))
    except UnicodeDecodeError:
        return None


def _bearer_token(value: Secret[str]) -> tuple[str, Secret[str]]:
    """``(error, token)``: the token of ``Bearer <token>``, or the reason it is refused."""
    scheme, _, token = value.reveal().strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        return "unsupported authorization scheme", Secret("")
    if not token or not _B64TOKEN.match(token):
        return "malformed credential", Secret("")
    return "", Secret(token)


def extract_credentials(headers: Iterable[tuple[bytes, bytes]]) -> Credentials | None:
    """Find the request's credentials in its ASGI headers.

    ``Authorization: Bearer <token>`` gives bearer credentials (API-key credentials when the
    token starts with ``lli_``); ``X-API-Key: <key>`` gives API-key credentials. Exactly one
    credential may be present. The value is wrapped in ``Secret`` as soon as it is read, so a
    traceback (and an error report that captures local variables) never holds it.

    Returns:
        The credentials, or None when the request carries none.

    Raises:
        AuthError: ``invalid_credentials`` for repeated or conflicting headers, another
            Authorization scheme, an oversized or malformed value. The message never contains
            the value.

    .. versionadded:: 0.1.0
    """
    found: list[tuple[bytes, Secret[bytes]]] = [
        (n.lower(), Secret(v)) for n, v in headers if n.lower() in (b"authorization", b"x-api-key")
    ]
    del headers  # the caller's header list holds the raw value: keep it out of this frame
    if not found:
        return None
    if len(found) > 1:
        raise _reject("more than one credential in the request")
    name, raw = found[0]
    if len(raw.reveal()) > MAX_CREDENTIAL_LENGTH:
        raise _reject("credential too long")
    value = _ascii(raw)
    if value is None:
        raise _reject("malformed credential")
    if name == b"x-api-key":
        key = Secret(value.reveal().strip())
        if not key.reveal():
            raise _reject("malformed credential")
        return Credentials.api_key(key)
    refused, token = _bearer_token(value)
    if refused:
        raise _reject(refused)
    return Credentials.guess(token)


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


def _presents_credentials(scope: Scope) -> bool:
    return any(k.lower() in (b"authorization", b"x-api-key") for k, _ in scope.get("headers") or ())


@final
class AuthMiddleware:
    """ASGI middleware that authenticates every request (works under Starlette and any ASGI app).

    In order, for each request:

    1. **Brute-force budget.** A request that presents credentials from a client network
       (IPv4 address, IPv6 /64) that spent its budget of failed attempts is refused with 429
       (``auth.too_many_failures``) before any parsing, store lookup or hashing. Every failed
       attempt spends one unit. The budget is on by default (20 failures per minute, in
       memory); pass ``failure_limiter=RateLimiter(..., backend=RedisBackend(...))`` to share it
       between replicas, or ``None`` to turn it off (logged as a warning).
    2. **Authentication.** ``Authorization: Bearer`` or ``X-API-Key`` is read (into a
       ``Secret`` at once) and checked with ``authenticator.aauthenticate``. The ``Identity``
       goes to ``scope["state"]["identity"]`` (``request.state.identity`` in Starlette),
       ``scope["identity"]`` and ``scope["user"]``. Failures answer 401 (with
       ``WWW-Authenticate``) as ``application/problem+json``; a store outage answers with its
       own error's status. Every attempt is recorded as an ``AuthenticationAttempt`` (key id
       or subject, never the credential).
    3. **Authorization, deny by default.** With a ``policy``, ``permission_for`` receives a
       scope whose ``path`` is the ROUTE path (``root_path`` removed). A named
       ``(action, resource)`` is checked against the policy (403
       ``auth.insufficient_permissions``); ``None`` (an unmapped route) is DENIED with 403
       ``auth.unmapped_route``. Both denials are recorded as ``AuthorizationCheck`` events.
       Only ``exempt_paths`` are public: they need neither credentials nor a permission.

    WebSocket connections that are refused are closed with code 1008.

    Args:
        app: the ASGI application.
        authenticator: an ``Authenticator`` (``MultiAuthenticator`` for keys and JWTs).
        audit: the audit log (by default one without sinks, which only logs).
        policy: an ``RbacPolicy``; every non-public route must then name a permission.
        permission_for: ``scope -> (action, resource) | None`` (give it together with ``policy``).
        exempt_paths: public route paths (health and metrics by default).
        allow_anonymous: without a ``policy``, let requests without credentials through
            (identity None); invalid credentials are still refused. With a policy, anonymous
            requests reach only ``exempt_paths``.
        realm: the ``realm`` of the ``WWW-Authenticate`` challenge.
        failure_limiter: the brute-force budget per client network (see above).
        ipv6_prefix: the prefix IPv6 clients are grouped by for the budget (default 64).

    Raises:
        ConfigError: ``auth.invalid_option`` for a bad realm or a policy without
            ``permission_for`` (or the reverse).

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_allow_anonymous",
        "_app",
        "_audit",
        "_authenticator",
        "_challenge",
        "_exempt",
        "_failures",
        "_ipv6_prefix",
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
        failure_limiter: RateLimiter | _Default | None = _DEFAULT,
        ipv6_prefix: int = 64,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.\- ]{1,64}", realm):
            raise ConfigError("realm must be 1-64 plain characters", key="realm", code=_codes.INVALID_OPTION)
        if (policy is None) != (permission_for is None):
            raise ConfigError(
                "policy and permission_for go together: give both or neither",
                key="policy",
                code=_codes.INVALID_OPTION,
            )
        if isinstance(ipv6_prefix, bool) or not isinstance(ipv6_prefix, int) or not 32 <= ipv6_prefix <= 128:
            raise ConfigError(
                "ipv6_prefix must be an int between 32 and 128", key="ipv6_prefix", code=_codes.INVALID_OPTION
            )
        if isinstance(failure_limiter, _Default):
            failure_limiter = default_failure_limiter()
        elif failure_limiter is None:
            _log.warning(
                "AuthMiddleware has no failure_limiter: failed logins are not rate limited "
                "(credential stuffing and key guessing run at full speed)"
            )
        self._app = app
        self._authenticator = authenticator
        self._audit = audit if audit is not None else SecurityAuditLog()
        self._policy = policy
        self._permission_for = permission_for
        self._exempt = frozenset(exempt_paths)
        self._allow_anonymous = allow_anonymous
        self._challenge = f'Bearer realm="{realm}"'.encode()
        self._failures = failure_limiter
        self._ipv6_prefix = ipv6_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        path = route_path(scope)
        public = path in self._exempt
        guard = self._guard_key(scope)
        try:
            if guard is not None and _presents_credentials(scope):
                blocked = await self._spent(guard)
                if blocked is not None:
                    await self._record(scope, None, self._method(scope), blocked)
                    await self._refuse(scope, receive, send, blocked)
                    return
            identity = await self._authenticate(scope, guard)
        except AuthError as err:
            await self._refuse(scope, receive, send, err)
            return
        except InfraError as err:
            _log.warning("authentication backend failed: %s", err.code)
            await self._refuse(scope, receive, send, err)
            return
        if identity is None:
            if not (public or (self._allow_anonymous and self._policy is None)):
                missing = AuthError(
                    "authentication required", kind="missing_credentials", code=_codes.MISSING_CREDENTIALS
                )
                await self._refuse(scope, receive, send, missing)
                return
        elif not public:
            denied = self._authorize(scope, path, identity)
            if denied is not None:
                await self._refuse(scope, receive, send, denied)
                return
        await self._app(self._with_identity(scope, identity), receive, send)

    def _guard_key(self, scope: Scope) -> str | None:
        if self._failures is None:
            return None
        return "authfail:" + (client_network(scope, ipv6_prefix=self._ipv6_prefix) or "unknown")

    async def _spent(self, guard: str) -> RateLimitedError | None:
        """The refusal when ``guard`` has no failed attempt left (``None`` while it has)."""
        assert self._failures is not None
        if (await self._failures.acheck(guard, 0)).remaining >= 1:
            return None
        decision = await self._failures.acheck(guard, 1)
        return RateLimitedError(
            "too many failed authentication attempts",
            key=guard,
            limit=decision.limit,
            retry_after=max(decision.retry_after, 1.0),
            code=_codes.TOO_MANY_FAILURES,
        )

    async def _authenticate(self, scope: Scope, guard: str | None) -> Identity | None:
        """The identity of the request (``None`` without credentials); failures spend the budget."""
        credentials: Credentials | None = None
        try:
            credentials = extract_credentials(scope.get("headers") or ())
            if credentials is None:
                return None
            identity = await self._authenticator.aauthenticate(credentials)
        except AuthError as err:
            if guard is not None:
                assert self._failures is not None
                await self._failures.acheck(guard, 1)
            method = credentials.method if credentials is not None else self._method(scope)
            await self._record(scope, credentials, method, err)
            raise
        await self._record(scope, credentials, identity.method or credentials.method, None, identity)
        return identity

    def _authorize(self, scope: Scope, path: str, identity: Identity) -> AuthError | None:
        """``None`` when ``identity`` may use the route; else the 403 (recorded in the audit log)."""
        if self._policy is None or self._permission_for is None:
            return None
        view = scope if path == scope.get("path") else {**scope, "path": path}
        needed = self._permission_for(view)
        if needed is None:
            self._audit.log(AuthorizationCheck(identity.subject, path[:256], "unmapped_route", False))
            return AuthError(
                "permission denied",
                kind="insufficient_permissions",
                code=_codes.UNMAPPED_ROUTE,
                identity=identity.subject,
            )
        action, resource = needed
        if self._policy.authorize(identity, action, resource, audit=self._audit):
            return None
        return AuthError(
            "permission denied",
            kind="insufficient_permissions",
            code=_codes.INSUFFICIENT_PERMISSIONS,
            identity=identity.subject,
        )

    @staticmethod
    def _method(scope: Scope) -> AuthMethod:
        says_api_key = any(k.lower() == b"x-api-key" for k, _ in scope.get("headers") or ())
        return AuthMethod.API_KEY if says_api_key else AuthMethod.JWT

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
        err: InfraError | None,
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
        if scope["type"] == "websocket":
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": 1008})
            return
        headers: list[tuple[bytes, bytes]] = []
        if err.problem_status() == 401:
            headers.append((b"www-authenticate", self._challenge))
        if isinstance(err, RateLimitedError) and err.retry_after is not None:
            headers.append((b"retry-after", str(max(1, math.ceil(err.retry_after))).encode()))
        await send_problem(send, err, scope=scope, headers=headers)
