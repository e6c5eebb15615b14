"""ASGI type aliases and the pure-ASGI middleware base shared by the layer (http, auth, ratelimit, server)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias, final

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["ASGIApp", "HttpMiddleware", "Message", "Receive", "ResponseStart", "Scope", "Send"]


class HttpMiddleware(abc.ABC):
    """A pure-ASGI middleware for HTTP requests: other scopes (lifespan, websocket) pass through.

    Subclasses implement ``handle``, called for ``http`` scopes only; the wrapped app is ``_app``.
    """

    __slots__ = ("_app",)

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abc.abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (the scope's type is ``http``)."""


@final
class ResponseStart:
    """A ``send`` that remembers whether the response has started (``started``).

    An error raised once the status line is out can no longer become an error response.
    """

    __slots__ = ("_send", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
