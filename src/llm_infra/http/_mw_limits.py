"""Request limits: header count/size and URL length, body size, and the body deadline."""

from __future__ import annotations

import asyncio
import contextlib
from typing import final

from llm_infra._internal._asgi import ASGIApp, HttpMiddleware, Message, Receive, Scope, Send
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors._problem import send_problem
from llm_infra.http import _codes
from llm_infra.http._mw_common import (
    Guard,
    Refused,
    body_framing,
    header_value,
    positive,
    problem_response,
    refuse,
    request_id_of,
)
from llm_infra.resilience import Deadline

# --- limits --------------------------------------------------------------------------------------


@final
class HeaderLimitMiddleware(HttpMiddleware):
    """Refuse requests with too many or too large headers (431) or an overlong URL (414).

    The server's parser bounds the whole request head first (``serve`` sets
    ``h11_max_incomplete_event_size``); this middleware applies the precise limits.

    Args:
        app: the ASGI application.
        max_header_bytes: total size of names and values (plus 4 bytes per line).
        max_headers: number of header lines.
        max_url_length: length of the path plus query string.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_max_bytes", "_max_count", "_max_url")

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int = 16_384,
        max_headers: int = 100,
        max_url_length: int = 8_192,
    ) -> None:
        for name, value in (
            ("max_header_bytes", max_header_bytes),
            ("max_headers", max_headers),
            ("max_url_length", max_url_length),
        ):
            positive(name, value)
        super().__init__(app)
        self._max_bytes = max_header_bytes
        self._max_count = max_headers
        self._max_url = max_url_length

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request whose headers or URL are over the limits; run the app otherwise."""
        headers = scope.get("headers", ())
        if len(headers) > self._max_count:
            await refuse(
                send,
                scope,
                431,
                "Request header fields too large",
                f"at most {self._max_count} header fields are accepted",
                code=_codes.TOO_MANY_HEADERS,
            )
            return
        size = sum(len(k) + len(v) + 4 for k, v in headers)
        if size > self._max_bytes:
            await refuse(
                send,
                scope,
                431,
                "Request header fields too large",
                f"request headers may total at most {self._max_bytes} bytes",
                code=_codes.HEADERS_TOO_LARGE,
            )
            return
        url_length = len(scope.get("raw_path") or scope.get("path", "")) + len(scope.get("query_string", b""))
        if url_length > self._max_url:
            await refuse(
                send,
                scope,
                414,
                "URI too long",
                f"the request target may be at most {self._max_url} bytes",
                code=_codes.URI_TOO_LONG,
            )
            return
        await self._app(scope, receive, send)


@final
class BodyLimitMiddleware(HttpMiddleware):
    """Refuse request bodies larger than ``max_body_size`` bytes with 413.

    A ``Content-Length`` over the limit is refused before a byte of body is read; a chunked or
    lying body is counted as it is received, and the application's ``receive`` raises once the
    limit is passed. Whatever the application does with that error, the client gets the 413.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_max",)

    def __init__(self, app: ASGIApp, *, max_body_size: int = 1_048_576) -> None:
        positive("max_body_size", max_body_size)
        super().__init__(app)
        self._max = max_body_size

    def _problem(self, scope: Scope) -> dict[str, object]:
        return problem_response(
            413,
            "Content too large",
            f"the request body may be at most {self._max} bytes",
            code=_codes.BODY_TOO_LARGE,
            request_id=request_id_of(scope),
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a body over the limit (declared or counted); run the app otherwise."""
        has_body, length = body_framing(scope)
        if has_body and length is not None and header_value(scope, b"transfer-encoding") is not None:
            # RFC 9112 6.1: both framings make the message boundary ambiguous (request smuggling).
            await refuse(
                send,
                scope,
                400,
                "Bad request",
                "a request may not carry both Content-Length and Transfer-Encoding",
                code=_codes.AMBIGUOUS_FRAMING,
            )
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await refuse(
                    send,
                    scope,
                    400,
                    "Bad request",
                    "Content-Length is not a valid length",
                    code=_codes.BAD_CONTENT_LENGTH,
                )
                return
            if declared > self._max:
                await send_problem(send, self._problem(scope), scope=scope, status=413, close=True)
                return
        if not has_body:
            await self._app(scope, receive, send)
            return
        guard = Guard()
        received = 0
        limit = self._max

        async def counted_receive() -> Message:
            nonlocal received
            if guard.refused:
                raise Refused("request body refused")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise guard.refuse(413, self._problem(scope))
            return message

        with contextlib.suppress(Refused):
            await self._app(scope, counted_receive, guard.wrap_send(send))
        if guard.refused:
            await guard.finish(send)


@final
class DeadlineMiddleware(HttpMiddleware):
    """Give a request ``body_timeout`` seconds to deliver its whole body; then answer 408 and close.

    Slow (or stalled) uploads cannot hold a worker forever. The clock starts when the request
    head has arrived (the server's ``header_timeout`` covers the head itself, see ``serve``).
    Once the body is complete, ``receive`` is not bounded (streaming responses wait on it for
    the disconnect). This bounds an application that reads; below ASGI, the server's protocol
    closes the connection at the same timeout even when the application never reads.

    Args:
        app: the ASGI application.
        body_timeout: seconds from the head to the end of the body.
        clock: the time source of the request's ``Deadline`` (tests pass a ``FakeClock``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_clock", "_timeout")

    def __init__(self, app: ASGIApp, *, body_timeout: float = 30.0, clock: Clock = SYSTEM_CLOCK) -> None:
        positive("body_timeout", body_timeout)
        super().__init__(app)
        self._timeout = float(body_timeout)
        self._clock = clock

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a ``receive`` that refuses a body arriving after the deadline."""
        if not body_framing(scope)[0]:
            await self._app(scope, receive, send)
            return
        deadline = Deadline(self._timeout, clock=self._clock)
        guard = Guard()
        body_done = False
        timeout = self._timeout

        async def timed_receive() -> Message:
            nonlocal body_done
            if guard.refused:
                raise Refused("request body timed out")
            if body_done:
                return await receive()
            left = deadline.remaining()
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    message = await receive()
            except TimeoutError:
                raise guard.refuse(
                    408,
                    problem_response(
                        408,
                        "Request timeout",
                        f"the request body was not received within {timeout:g} s",
                        code=_codes.REQUEST_TIMEOUT,
                        request_id=request_id_of(scope),
                    ),
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        with contextlib.suppress(Refused):
            await self._app(scope, timed_receive, guard.wrap_send(send))
        if guard.refused:
            await guard.finish(send)
