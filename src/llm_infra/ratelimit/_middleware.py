"""``RateLimitMiddleware``: pure ASGI rate limiting keyed by identity or client network."""

from __future__ import annotations

import functools
import inspect
import ipaddress
import logging
import math
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from typing import final
from urllib.parse import quote

from llm_infra._internal._asgi import ASGIApp, HttpMiddleware, Message, Receive, Scope, Send
from llm_infra.errors import ConfigError, RateLimitedError
from llm_infra.errors._problem import send_problem
from llm_infra.ratelimit import _codes
from llm_infra.ratelimit._core import Decision
from llm_infra.ratelimit._limiter import RateLimiter

_log = logging.getLogger("llm_infra.ratelimit")

DEFAULT_IPV6_PREFIX = 64
"""IPv6 clients are grouped by this prefix length: one /64 is one subscriber's network."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitEvent:
    """A refused request, given to ``on_limited`` (the fields of the ``RateLimitExceeded`` audit event).

    Attributes:
        identity: the authenticated subject, or the client address when there is none.
        endpoint: ``"METHOD /path"`` of the request.
        limit: requests allowed per window.
        window: the window (period) in seconds.
        retry_after: seconds until the request would be allowed.
        key: the rate-limit key that was refused.
        client: the client address, when known.

    .. versionadded:: 0.1.0
    """

    identity: str
    endpoint: str
    limit: int
    window: float
    retry_after: float
    key: str
    client: str | None


def identity_subject(scope: Scope) -> str | None:
    """The subject of ``scope["state"]["identity"]`` as set by an auth middleware, if any.

    Accepts an object with ``.subject``, a mapping with ``"subject"``, or a plain string.
    """
    state = scope.get("state")
    if not state:
        return None
    identity = state.get("identity") if isinstance(state, MutableMapping) else None
    if identity is None:
        return None
    if isinstance(identity, str):
        return identity
    if isinstance(identity, MutableMapping):
        subject = identity.get("subject")
    else:
        subject = getattr(identity, "subject", None)
    return None if subject is None else str(subject)


def client_address(scope: Scope) -> str | None:
    """The client host of the ASGI scope (``scope["client"][0]``), if known."""
    client = scope.get("client")
    return str(client[0]) if client else None


def client_network(scope: Scope, *, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str | None:
    """The client's address as a rate-limit group: IPv4 as is, IPv6 as its ``/ipv6_prefix`` network.

    One IPv6 subscriber usually holds a whole /64, so keying by the full address would let a
    client escape any limit by rotating addresses. IPv4-mapped IPv6 addresses count as IPv4; a
    host that is not an IP address (a unix socket, a test client) is returned unchanged.
    """
    host = client_address(scope)
    if host is None:
        return None
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return str(address)


def route_path(scope: Scope) -> str:
    """The request's path inside the application: ``scope["path"]`` without ``root_path``.

    Under a proxy prefix (``ServerConfig(root_path="/api")``) the server reports
    ``/api/collections/x`` in ``scope["path"]``; routes, exemptions and permissions are about
    ``/collections/x``.
    """
    path = str(scope.get("path") or "/")
    root = str(scope.get("root_path") or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def _identity_parts(identity: object) -> tuple[str | None, str | None, str | None]:
    """``(tenant, issuer, subject)`` of an identity object, mapping or plain subject string."""
    if isinstance(identity, str):
        return None, None, identity
    if isinstance(identity, Mapping):
        tenant, subject = identity.get("tenant"), identity.get("subject")
        attributes = identity.get("attributes")
    else:
        tenant, subject = getattr(identity, "tenant", None), getattr(identity, "subject", None)
        attributes = getattr(identity, "attributes", None)
    issuer = attributes.get("iss") if isinstance(attributes, Mapping) else None
    return (
        None if tenant is None else str(tenant),
        None if issuer is None else str(issuer),
        None if subject is None else str(subject),
    )


def request_key(scope: Scope, *, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """The rate-limit key of a request: its identity when authenticated, else its client network.

    ``id:<tenant>:<issuer>:<subject>`` (each part percent-encoded, ``-`` when absent) for an
    identity in ``scope["state"]["identity"]``, so equal subjects of two tenants or issuers never
    share a limit; else ``ip:<client_network>`` (``ip:unknown`` without a client).
    """
    state = scope.get("state")
    identity = state.get("identity") if isinstance(state, MutableMapping) else None
    if identity is not None:
        tenant, issuer, subject = _identity_parts(identity)
        if subject is not None:
            parts = (quote(p, safe="") if p is not None else "-" for p in (tenant, issuer, subject))
            return "id:" + ":".join(parts)
    return "ip:" + (client_network(scope, ipv6_prefix=ipv6_prefix) or "unknown")


def rate_limit_headers(decision: Decision, period: float) -> list[tuple[bytes, bytes]]:
    """The IETF draft ``RateLimit-Limit``/``-Remaining``/``-Reset``/``-Policy`` headers.

    A refused decision also gets ``Retry-After`` (whole seconds, at least 1).
    """
    headers = [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(decision.reset_after)).encode()),
        (b"ratelimit-policy", f"{decision.limit};w={period:g}".encode()),
    ]
    if not decision.allowed:
        headers.append((b"retry-after", str(max(1, math.ceil(decision.retry_after))).encode()))
    return headers


@final
class RateLimitMiddleware(HttpMiddleware):
    """Refuse HTTP requests over a limit with ``429`` problem+json and ``Retry-After``.

    Every response carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` and
    ``RateLimit-Policy``. Requests are keyed by ``request_key``: the identity an auth middleware
    placed in ``scope["state"]["identity"]`` (tenant, issuer and subject), else the client
    network (IPv6 grouped by ``ipv6_prefix``). Only ``http`` scopes are limited.

    Put it INSIDE the auth middleware (auth runs first), or identities are unknown and every
    request is limited by address. ``require_identity=True`` makes that mistake loud: a request
    that did not pass through an auth middleware raises ``ConfigError``
    (``ratelimit.misordered``). ``llm_infra.auth.secure_stack`` builds the stack in the right
    order with this check on.

    Args:
        app: the ASGI application.
        limiter: the limit to apply.
        key: ``scope -> key`` (``None`` exempts the request); default ``request_key``.
        cost: ``scope -> cost`` of the request (default 1).
        on_limited: called (sync or async) with a ``RateLimitEvent`` for each refusal; wire the
            ``RateLimitExceeded`` audit event here. Its failures are logged, never raised.
        exempt_paths: route paths (without ``root_path``) never limited (health checks, say).
        ipv6_prefix: the prefix length IPv6 clients are grouped by (default 64, 32-128).
        require_identity: refuse to run outside an auth middleware (see above).

    Raises:
        ConfigError: ``ratelimit.invalid`` for an ``ipv6_prefix`` out of range.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_cost", "_exempt", "_key", "_limiter", "_on_limited", "_require_identity")

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        *,
        key: Callable[[Scope], str | None] | None = None,
        cost: Callable[[Scope], int] | None = None,
        on_limited: Callable[[RateLimitEvent], object] | None = None,
        exempt_paths: Collection[str] = (),
        ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
        require_identity: bool = False,
    ) -> None:
        if isinstance(ipv6_prefix, bool) or not isinstance(ipv6_prefix, int) or not 32 <= ipv6_prefix <= 128:
            raise ConfigError(
                f"ipv6_prefix must be an int between 32 and 128, got {ipv6_prefix!r}",
                key="ipv6_prefix",
                code=_codes.INVALID,
            )
        super().__init__(app)
        self._limiter = limiter
        self._key = key or functools.partial(request_key, ipv6_prefix=ipv6_prefix)
        self._cost = cost
        self._on_limited = on_limited
        self._exempt = frozenset(exempt_paths)
        self._require_identity = require_identity

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Limit one HTTP request."""
        if route_path(scope) in self._exempt:
            await self._app(scope, receive, send)
            return
        if self._require_identity:
            state = scope.get("state")
            if not isinstance(state, Mapping) or "identity" not in state:
                _log.error("RateLimitMiddleware runs outside the auth middleware (no identity slot)")
                raise ConfigError(
                    "RateLimitMiddleware(require_identity=True) saw a request no auth middleware "
                    "handled: put it inside AuthMiddleware (or build the stack with secure_stack)",
                    key="middleware",
                    code=_codes.MISORDERED,
                )
        key = self._key(scope)
        if key is None:
            await self._app(scope, receive, send)
            return
        limiter = self._limiter
        decision = await limiter.acheck(key, 1 if self._cost is None else self._cost(scope))
        headers = rate_limit_headers(decision, limiter.period)
        if not decision.allowed:
            await self._notify(scope, key, decision)
            error = RateLimitedError(
                "rate limit exceeded", key=key, limit=decision.limit, retry_after=decision.retry_after
            )
            await send_problem(send, error, scope=scope, status=429, headers=headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self._app(scope, receive, send_with_headers)

    async def _notify(self, scope: Scope, key: str, decision: Decision) -> None:
        if self._on_limited is None:
            return
        client = client_address(scope)
        event = RateLimitEvent(
            identity=identity_subject(scope) or client or "unknown",
            endpoint=f"{scope.get('method', '')} {scope.get('path', '')}",
            limit=decision.limit,
            window=self._limiter.period,
            retry_after=decision.retry_after,
            key=key,
            client=client,
        )
        try:
            result = self._on_limited(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - an audit hook must never break the 429 response
            _log.exception("on_limited callback failed")
