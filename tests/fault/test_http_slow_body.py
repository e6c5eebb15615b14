"""Slow-body hold and request framing against a real uvicorn server on loopback.

A client that sends a head with a large ``Content-Length``, gets its answer from a handler that
never reads the body, then trickles a byte and goes quiet must not keep its connection: the server
closes it within twice the configured timeout. Sockets are checked with a ``recv`` deadline of
2x the timeout (no elapsed-time assertions). The traffic is bounded: 25 sockets at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from llm_infra._internal._asgi import Receive, Scope, Send
from llm_infra.http import ServerConfig, ServerHandle, start_server

TIMEOUT = 0.5
DEADLINE = 2 * TIMEOUT
SLOW_SOCKETS = 25


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/upload`` answers 401 without reading the body; ``/ok`` answers 200; ``/count`` counts."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/hang":  # neither reads the body nor answers (until the server stops)
        await asyncio.sleep(60)
    if path == "/count":
        scope_app_state["runs"] += 1
    status = 401 if path == "/upload" else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"no" if status == 401 else b"ok"})


scope_app_state = {"runs": 0}


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    config = ServerConfig(
        port=0,
        header_timeout=TIMEOUT,
        body_timeout=TIMEOUT,
        keep_alive_timeout=TIMEOUT,
        limit_concurrency=20,
        graceful_shutdown_timeout=0.5,
        access_log=False,
        tracing=False,
    )
    with start_server(app, config) as handle:
        yield handle


def _connect(server: ServerHandle) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=5.0)


def _read_response_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the peer closes (EOF or reset) before ``seconds`` pass without data arriving."""
    sock.settimeout(seconds)
    try:
        while True:
            chunk = sock.recv(65_536)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _slow_upload(server: ServerHandle, *, allow_busy: bool = False) -> socket.socket:
    sock = _connect(server)
    sock.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
    head = _read_response_head(sock)
    expected = (b"HTTP/1.1 401", b"HTTP/1.1 503") if allow_busy else (b"HTTP/1.1 401",)
    assert head.startswith(expected), head
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # already closed: fine
        sock.sendall(b"x")  # trickle one byte, then go quiet
    return sock


def _healthy_status(server: ServerHandle) -> int:
    with _connect(server) as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        head = _read_response_head(sock)
    return int(head.split(b" ", 2)[1])


def _healthy_within(server: ServerHandle, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if _healthy_status(server) == 200:
            return True
        if time.monotonic() > deadline:
            return False


def test_answered_upload_that_trickles_is_closed_within_twice_the_timeout(server: ServerHandle) -> None:
    with _slow_upload(server) as sock:
        assert _closed_within(sock, DEADLINE)


def test_unanswered_stalled_body_is_closed_within_twice_the_timeout(server: ServerHandle) -> None:
    """A body that stops arriving is cut at the body timeout whether or not the app reads it."""
    with _connect(server) as sock:
        sock.sendall(b"PUT /hang HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc")
        head = _read_response_head(sock)
        assert head.startswith(b"HTTP/1.1 408"), head
        assert _closed_within(sock, DEADLINE)


def test_slow_uploads_do_not_exhaust_the_concurrency_limit(server: ServerHandle) -> None:
    """25 held sockets would exhaust limit_concurrency=20 (the later ones get 503 meanwhile)."""
    sockets = [_slow_upload(server, allow_busy=True) for _ in range(SLOW_SOCKETS)]
    try:
        assert all(_closed_within(sock, DEADLINE) for sock in sockets)
        # The server may take a loop iteration to forget the closed connections: poll briefly.
        assert _healthy_within(server, DEADLINE)
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize(
    "framing",
    [
        b"content-length: 5\r\ntransfer-encoding: chunked\r\n",
        b"transfer-encoding: chunked\r\ncontent-length: 5\r\n",
    ],
)
def test_content_length_with_transfer_encoding_is_refused_and_closed(
    server: ServerHandle, framing: bytes
) -> None:
    """RFC 9112 6.1: 400, the connection closed, and the request pipelined behind it never runs."""
    runs = scope_app_state["runs"]
    smuggled = b"GET /count HTTP/1.1\r\nhost: x\r\n\r\n"
    with _connect(server) as sock:
        sock.sendall(b"POST /count HTTP/1.1\r\nhost: x\r\n" + framing + b"\r\n0\r\n\r\n" + smuggled)
        head = _read_response_head(sock)
        assert head.startswith(b"HTTP/1.1 400"), head
        assert b"connection: close" in head.lower()
        assert _closed_within(sock, DEADLINE)
    assert _healthy_status(server) == 200
    assert scope_app_state["runs"] == runs


def test_lingering_close_discards_a_bounded_number_of_bytes() -> None:
    """With long timeouts, a client that keeps pouring body bytes after the answer is still cut
    off once the drain bound (1 MiB) is passed, instead of being read for as long as it sends."""
    config = ServerConfig(
        port=0, header_timeout=30.0, body_timeout=30.0, keep_alive_timeout=30.0, access_log=False
    )
    with start_server(app, config) as handle, _connect(handle) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
        assert _read_response_head(sock).startswith(b"HTTP/1.1 401")
        chunk = b"x" * 65_536
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
            for _ in range(40):  # 2.5 MiB at most, well past the bound
                sock.sendall(chunk)
        assert _closed_within(sock, DEADLINE * 4)
