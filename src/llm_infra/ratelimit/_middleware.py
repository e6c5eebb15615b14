"""``RateLimitMiddleware``: pure ASGI rate limiting keyed by identity or client address."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass
from typing import Any, final

import orjson

from llm_infra.errors import RateLimitedError
from llm_infra.ratelimit._core import Decision
from llm_infra.ratelimit._limiter import RateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_log = logging.getLogger("llm_infra.ratelimit")


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


def default_key(scope: Scope) -> str:
    """``id:<subject>`` for an authenticated request, else ``ip:<client host>`` (``ip:unknown``)."""
    subject = identity_subject(scope)
    if subject is not None:
        return "id:" + subject
    return "ip:" + (client_address(scope) or "unknown")


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
class RateLimitMiddleware:
    """Refuse HTTP requests over a limit with ``429`` problem+json and ``Retry-After``.

    Every response carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` and
    ``RateLimit-Policy``. Requests are keyed by the identity an auth middleware placed in
    ``scope["state"]["identity"]`` (so put this middleware inside the auth one), else by the
    client address. Only ``http`` scopes are limited.

    Args:
        app: the ASGI application.
        limiter: the limit to apply.
        key: ``scope -> key`` (``None`` exempts the request); default ``default_key``.
        cost: ``scope -> cost`` of the request (default 1).
        on_limited: called (sync or async) with a ``RateLimitEvent`` for each refusal; wire the
            ``RateLimitExceeded`` audit event here. Its failures are logged, never raised.
        exempt_paths: paths never limited (health checks, say).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_app", "_cost", "_exempt", "_key", "_limiter", "_on_limited")

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        *,
        key: Callable[[Scope], str | None] | None = None,
        cost: Callable[[Scope], int] | None = None,
        on_limited: Callable[[RateLimitEvent], object] | None = None,
        exempt_paths: Collection[str] = (),
    ) -> None:
        self._app = app
        self._limiter = limiter
        self._key = key or default_key
        self._cost = cost
        self._on_limited = on_limited
        self._exempt = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self._exempt:
            await self._app(scope, receive, send)
            return
        key = self._key(scope)
        if key is None:
            await self._app(scope, receive, send)
            return
        limiter = self._limiter
        decision = await limiter.acheck(key, 1 if self._cost is None else self._cost(scope))
        headers = rate_limit_headers(decision, limiter.period)
        if not decision.allowed:
            await self._notify(scope, key, decision)
            await self._refuse(scope, send, key, decision, headers)
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

    async def _refuse(
        self, scope: Scope, send: Send, key: str, decision: Decision, headers: list[tuple[bytes, bytes]]
    ) -> None:
        error = RateLimitedError(
            "rate limit exceeded", key=key, limit=decision.limit, retry_after=decision.retry_after
        )
        problem = error.to_problem()
        request_id = (scope.get("state") or {}).get("request_id")
        if request_id:
            problem["request_id"] = request_id
        body = orjson.dumps(problem)
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
