"""CORS: ``CorsConfig`` and ``CorsMiddleware`` (off unless configured)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import final

from llm_infra._internal._asgi import ASGIApp, HttpMiddleware, Message, Receive, Scope, Send
from llm_infra.errors import ConfigError
from llm_infra.http import _codes
from llm_infra.http._mw_common import header_value, refuse

# --- CORS ----------------------------------------------------------------------------------------

_SAFE_METHODS = ("GET", "HEAD", "POST")


@dataclass(frozen=True, slots=True, kw_only=True)
class CorsConfig:
    """Cross-origin resource sharing, off unless you build one of these.

    Args:
        allow_origins: exact origins (``"https://app.example"``) or ``("*",)`` for any.
        allow_methods: methods a preflight may ask for.
        allow_headers: request headers a preflight may ask for (case-insensitive), or ``("*",)``.
        expose_headers: response headers scripts may read.
        allow_credentials: allow cookies/authorization; refused together with a ``*`` origin.
        max_age: seconds a browser may cache a preflight answer.

    Raises:
        ConfigError: ``*`` with credentials, or an origin that is not ``scheme://host[:port]``.

    .. versionadded:: 0.1.0
    """

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: tuple[str, ...] = ("authorization", "content-type", "x-request-id")
    expose_headers: tuple[str, ...] = (
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
    )
    allow_credentials: bool = False
    max_age: int = 600

    def __post_init__(self) -> None:
        for name in ("allow_origins", "allow_methods", "allow_headers", "expose_headers"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(
                    f"{name} must be a tuple of strings, not a string",
                    key=f"cors.{name}",
                    code=_codes.CORS_INVALID,
                )
            object.__setattr__(self, name, tuple(value))
        if "*" in self.allow_origins and self.allow_credentials:
            raise ConfigError(
                "allow_credentials cannot be combined with the '*' origin",
                key="cors.allow_credentials",
                code=_codes.CORS_INVALID,
            )
        for origin in self.allow_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ConfigError(
                    f"CORS origin {origin!r} must be scheme://host[:port] with no path",
                    key="cors.allow_origins",
                    code=_codes.CORS_INVALID,
                )
        object.__setattr__(self, "allow_methods", tuple(m.upper() for m in self.allow_methods))
        object.__setattr__(self, "allow_headers", tuple(h.lower() for h in self.allow_headers))

    def origin_allowed(self, origin: str) -> bool:
        """Whether ``origin`` may read responses."""
        return "*" in self.allow_origins or origin in self.allow_origins


@final
class CorsMiddleware(HttpMiddleware):
    """Answer CORS preflights and add ``Access-Control-*`` headers for allowed origins.

    A preflight for a disallowed origin, method or header gets 403 problem+json; a simple
    request from a disallowed origin is served without CORS headers (so the browser hides the
    response).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_config", "_simple_headers")

    def __init__(self, app: ASGIApp, config: CorsConfig) -> None:
        super().__init__(app)
        self._config = config
        simple: list[tuple[bytes, bytes]] = []
        if config.allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if config.expose_headers:
            simple.append((b"access-control-expose-headers", ", ".join(config.expose_headers).encode()))
        self._simple_headers = simple

    def _origin_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        any_origin = "*" in self._config.allow_origins
        return [
            (b"access-control-allow-origin", b"*" if any_origin else origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, or run the app adding CORS headers for an allowed origin."""
        raw_origin = header_value(scope, b"origin")
        if raw_origin is None:
            await self._app(scope, receive, send)
            return
        origin = raw_origin.decode("latin-1")
        config = self._config
        requested = header_value(scope, b"access-control-request-method")
        if scope.get("method") == "OPTIONS" and requested is not None:
            await self._preflight(scope, send, origin, requested.decode("latin-1"))
            return
        if not config.origin_allowed(origin):
            await self._app(scope, receive, send)
            return
        extra = [*self._origin_headers(origin), *self._simple_headers]

        async def send_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self._app(scope, receive, send_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: str, method: str) -> None:
        config = self._config
        raw = header_value(scope, b"access-control-request-headers")
        asked = [h.strip().lower() for h in (raw or b"").decode("latin-1").split(",") if h.strip()]
        header_ok = "*" in config.allow_headers or all(h in config.allow_headers for h in asked)
        if not config.origin_allowed(origin) or method.upper() not in config.allow_methods or not header_ok:
            await refuse(
                send,
                scope,
                403,
                "CORS preflight refused",
                "this origin, method or header is not allowed",
                code=_codes.CORS_DENIED,
                close=False,
            )
            return
        headers = [
            *self._origin_headers(origin),
            (b"access-control-allow-methods", ", ".join(config.allow_methods).encode()),
            (b"access-control-max-age", str(config.max_age).encode()),
        ]
        if asked:
            headers.append((b"access-control-allow-headers", ", ".join(asked).encode("latin-1")))
        if config.allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
