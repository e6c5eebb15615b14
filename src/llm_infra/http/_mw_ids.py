"""Request ids (``RequestIdMiddleware``, ``current_request_id``) and the access log."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import final

from llm_infra._internal._asgi import ASGIApp, HttpMiddleware, Message, Receive, Scope, Send
from llm_infra.http._mw_common import header_value, scope_state

_access_log = logging.getLogger("llm_infra.http.access")
_request_id: ContextVar[str | None] = ContextVar("llm_infra_request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


_id_prefix = os.urandom(6).hex()
_id_counter = itertools.count()


def _reseed_request_ids() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(6).hex()
    _id_counter = itertools.count()


# A forked worker must not repeat its parent's ids.
os.register_at_fork(after_in_child=_reseed_request_ids)


def new_request_id() -> str:
    """A new request id: 12 random hex digits per process, then a 10-digit hex counter.

    Unique across processes (48 random bits per process, re-drawn after ``fork``) and
    increasing within one, and far cheaper than a random id per request (no system call): the
    id exists to correlate logs, spans and responses, not to be unguessable.

    .. versionadded:: 0.1.0
    """
    return f"{_id_prefix}{next(_id_counter):010x}"


def current_request_id() -> str | None:
    """The id of the request being handled in this context (set by ``RequestIdMiddleware``)."""
    return _request_id.get()


# --- request ids ---------------------------------------------------------------------------------


@final
class RequestIdMiddleware(HttpMiddleware):
    """Give every request an id: the client's ``X-Request-ID`` when valid, else a new one.

    The id is stored in ``scope["state"]["request_id"]`` and a context variable
    (``current_request_id()``), and echoed in the response's ``X-Request-ID`` header. An incoming
    id must be 1-128 characters of ``[A-Za-z0-9._:@/+=-]`` (anything else is replaced, so ids
    cannot inject into logs).

    Args:
        app: the ASGI application.
        header: the header name (case-insensitive).
        trust_incoming: use a valid client-supplied id (``False``: always generate).
        generator: makes new ids (default ``new_request_id``; pass ``llm_infra.ids.ulid`` for
            ULIDs).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_generator", "_header", "_trust")

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str = "x-request-id",
        trust_incoming: bool = True,
        generator: Callable[[], str] = new_request_id,
    ) -> None:
        super().__init__(app)
        self._header = header.lower().encode("latin-1")
        self._trust = trust_incoming
        self._generator = generator

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Give the request its id, echo it in the response, and run the app."""
        request_id = None
        if self._trust:
            raw = header_value(scope, self._header)
            if raw is not None:
                candidate = raw.decode("latin-1")
                if _VALID_REQUEST_ID.fullmatch(candidate):
                    request_id = candidate
        if request_id is None:
            request_id = self._generator()
        scope_state(scope)["request_id"] = request_id
        token = _request_id.set(request_id)
        header = (self._header, request_id.encode("latin-1"))
        name = self._header

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                headers = [h for h in headers if h[0].lower() != name] if headers else []
                headers.append(header)
                message["headers"] = headers
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


# --- access log ----------------------------------------------------------------------------------


@final
class AccessLogMiddleware(HttpMiddleware):
    """Log one line per request to ``llm_infra.http.access`` at INFO.

    The message is ``METHOD path status duration_ms``; the record also carries the fields as
    attributes (``http_method``, ``url_path``, ``status_code``, ``duration_ms``,
    ``response_bytes``, ``client_address``, ``request_id``). The query string is never logged
    (it may hold tokens). Costs nothing when the logger is not enabled for INFO.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_logger",)

    def __init__(self, app: ASGIApp, *, logger: logging.Logger | None = None) -> None:
        super().__init__(app)
        self._logger = logger or _access_log

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app and log its request line, status and duration."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            await self._app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        size = 0

        async def send_logged(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self._app(scope, receive, send_logged)
        finally:
            duration_ms = (time.perf_counter() - start) * 1000.0
            client = scope.get("client")
            method, path = scope.get("method", ""), scope.get("path", "")
            logger.info(
                "%s %s %d %.1fms",
                method,
                path,
                status,
                duration_ms,
                extra={
                    "http_method": method,
                    "url_path": path,
                    "status_code": status,
                    "duration_ms": round(duration_ms, 3),
                    "response_bytes": size,
                    "client_address": client[0] if client else None,
                    "request_id": (scope.get("state") or {}).get("request_id"),
                },
            )
