"""uvicorn's h11 protocol with the connection-level defences uvicorn lacks.

Every phase of a connection has a timer, whatever the application does:

* **head** (``header_timeout``): from connection (and from the first byte of each later request)
  until the request head is complete; a partial head gets 408, an idle connection is closed.
* **body** (``body_timeout``): from the end of the head until the whole body has arrived, whether
  or not the application reads it; on expiry the client gets 408 (if nothing was answered yet)
  and the connection is closed. An application that stops reading lets flow control stall the
  body, so this timer also bounds a handler that never reads.
* **answered early**: a response completed before the request body was received (a 401 to a
  large upload) ends the connection with a bounded *lingering close*: the response is followed
  by discarding further bytes (at most ``drain_limit`` of them, so that the close does not reset
  the response away) and closing the socket after at most ``min(keep_alive_timeout,
  body_timeout)`` seconds (and never after the body deadline). A
  client trickling one byte at a time cannot keep it open.
* **idle** (``keep_alive_timeout``): uvicorn's own keep-alive timer between requests.

Framing: a request with both ``Content-Length`` and ``Transfer-Encoding`` is refused with 400
and the connection closed before the application runs (RFC 9112 section 6.1), so a request
pipelined behind it is never parsed. Heads beyond the parser limit get 431, other malformed
requests a problem+json 400.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llm_infra._internal._lazy import require
from llm_infra.errors._problem import encode_problem
from llm_infra.http import _codes
from llm_infra.http._mw_common import problem_response

__all__ = ["guarded_protocol"]

_AMBIGUOUS = "a request may not carry both Content-Length and Transfer-Encoding"


def raw_problem(status: int, reason: bytes, problem: dict[str, object]) -> bytes:
    """A complete ``Connection: close`` problem+json response, for writing below ASGI."""
    status, headers, body = encode_problem(problem, status=status, close=True)
    head = b"HTTP/1.1 %d %s\r\n" % (status, reason)
    return head + b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n" + body


def _ambiguous(event: Any) -> bool:
    names = {name.lower() for name, _ in event.headers}
    return b"content-length" in names and b"transfer-encoding" in names


def guarded_protocol(
    *,
    header_timeout: float,
    body_timeout: float,
    drain_timeout: float,
    head_limit: int,
    drain_limit: int = 1_048_576,
) -> type[asyncio.Protocol]:
    """uvicorn's ``H11Protocol`` with head, body and lingering-close timers and framing checks."""
    h11 = require("h11", "server")
    base: Any = require("uvicorn.protocols.http.h11_impl", "server").H11Protocol

    class GuardedH11Protocol(base):  # type: ignore[misc]
        _head_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None
        _drain_timer: asyncio.TimerHandle | None = None
        _draining = False
        _drained = 0
        _refusal: str | None = None

        # --- connection lifecycle -----------------------------------------------------------

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            next_event = self.conn.next_event

            def checked_next_event() -> Any:
                event = next_event()
                if isinstance(event, h11.Request) and _ambiguous(event):
                    self._refusal = _AMBIGUOUS
                    raise h11.RemoteProtocolError(_AMBIGUOUS)
                return event

            self.conn.next_event = checked_next_event
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_all()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._draining:
                self._drained += len(data)
                if self._drained > drain_limit:
                    self._close()
                return
            super().data_received(data)
            self._sync_timers(after_data=True)

        def on_response_complete(self) -> None:
            self._disarm_head_timer()  # keep-alive idling is timed by uvicorn itself
            super().on_response_complete()
            if self.transport.is_closing():
                return
            if self.conn.their_state is h11.SEND_BODY:
                self._linger()
            else:
                self._sync_timers(after_data=False)

        # --- timers -------------------------------------------------------------------------

        def _sync_timers(self, *, after_data: bool) -> None:
            if self.transport.is_closing():
                self._disarm_all()
                return
            state = self.conn.their_state
            if state is h11.IDLE:
                if after_data:
                    self._arm_head_timer()  # a request head has started but is not complete
            elif state is h11.SEND_BODY:
                self._disarm_head_timer()
                if self._body_timer is None:
                    self._body_timer = self.loop.call_later(body_timeout, self._body_timed_out)
            else:
                self._disarm_head_timer()
                self._disarm_body_timer()

        def _arm_head_timer(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _disarm_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _disarm_all(self) -> None:
            self._disarm_head_timer()
            self._disarm_body_timer()
            if self._drain_timer is not None:
                self._drain_timer.cancel()
                self._drain_timer = None

        def _close(self) -> None:
            self._disarm_all()
            if not self.transport.is_closing():
                self.transport.close()

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            partial, _ = self.conn.trailing_data
            if partial:
                self.transport.write(self._timeout_problem("head", header_timeout))
            self._close()

        def _body_timed_out(self) -> None:
            self._body_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
                return
            cycle = self.cycle
            if cycle is not None and not cycle.response_started:
                # The application has not answered: it gets nothing more, the client a 408.
                cycle.disconnected = True
                cycle.message_event.set()
                self.transport.write(self._timeout_problem("body", body_timeout))
            self._close()

        def _linger(self) -> None:
            """The response went out before the request body came in: close, boundedly."""
            self._draining = True
            self._disarm_head_timer()
            self.flow.resume_reading()
            self._drain_timer = self.loop.call_later(drain_timeout, self._close)

        def _timeout_problem(self, part: str, seconds: float) -> bytes:
            problem = problem_response(
                408,
                "Request timeout",
                f"the request {part} was not received within {seconds:g} s",
                code=_codes.REQUEST_TIMEOUT,
            )
            return raw_problem(408, b"Request Timeout", problem)

        # --- malformed requests -------------------------------------------------------------

        def send_400_response(self, msg: str) -> None:
            partial, _ = self.conn.trailing_data
            if self._refusal is not None:
                status, reason, title, code = (
                    400,
                    b"Bad Request",
                    "Bad request",
                    _codes.AMBIGUOUS_FRAMING,
                )
                detail = self._refusal
            elif len(partial) > head_limit:
                status, reason, title, code = (
                    431,
                    b"Request Header Fields Too Large",
                    "Request header fields too large",
                    _codes.HEAD_TOO_LARGE,
                )
                detail = f"the request head may be at most {head_limit} bytes"
            else:
                status, reason, title, code = 400, b"Bad Request", "Bad request", _codes.MALFORMED_REQUEST
                detail = msg
            self.transport.write(
                raw_problem(status, reason, problem_response(status, title, detail, code=code))
            )
            self._close()

    return GuardedH11Protocol
