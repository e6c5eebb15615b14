"""The server on a real loopback uvicorn: limits, slow clients, problem bodies, ids, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llm_infra.config import ConfigLoader
from llm_infra.errors import ConfigError, NotFoundError
from llm_infra.http import CorsConfig, ServerConfig, ServerHandle, start_server
from llm_infra.http._server import uvicorn_config
from llm_infra.http._stack import build_middleware_stack, starlette_middleware
from llm_infra.ratelimit import RateLimiter, RateLimitEvent


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


async def missing(request: Request) -> PlainTextResponse:
    raise NotFoundError("no such collection", resource_type="collection", resource_id="c1")


async def crash(request: Request) -> PlainTextResponse:
    raise RuntimeError("internal detail that must not leak")


def make_app(config: ServerConfig, **stack: Any) -> Starlette:
    return Starlette(
        routes=[
            Route("/", hello),
            Route("/echo", echo, methods=["POST"]),
            Route("/missing", missing),
            Route("/crash", crash),
        ],
        middleware=starlette_middleware(config, **stack),
    )


CONFIG = ServerConfig(
    port=0,
    max_body_size=1_000,
    max_header_bytes=4_096,
    max_headers=50,
    header_timeout=0.4,
    body_timeout=0.4,
    graceful_shutdown_timeout=5.0,
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    """A Starlette app with the full stack on a free loopback port."""
    with start_server(make_app(CONFIG), CONFIG, middleware=False) as handle:
        yield handle


@pytest.fixture
def http(server: ServerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


def raw_exchange(server: ServerHandle, payload: bytes, wait: float = 4.0) -> tuple[bytes, bool]:
    """Send raw bytes and read until the server closes; return the data and whether it closed
    before a ``recv`` waited ``wait`` seconds (a socket deadline, not a timing assertion)."""
    with socket.create_connection((server.host, server.port), timeout=wait) as sock:
        if payload:
            sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:  # pragma: no cover - reported by the caller's assertion
                return b"".join(chunks), False
            except ConnectionResetError:
                return b"".join(chunks), True
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)


def test_request_ids_and_ok(http: httpx.Client) -> None:
    """A normal request is answered with a generated or echoed request id."""
    r = http.get("/")
    assert r.text == "hello"
    assert len(r.headers["x-request-id"]) == 22
    assert "server" not in r.headers
    assert http.get("/", headers={"x-request-id": "trace-me-1"}).headers["x-request-id"] == "trace-me-1"


def test_problem_json_for_infra_errors_and_crashes(http: httpx.Client) -> None:
    """InfraErrors render their problem; crashes render a 500 with only an error id."""
    r = http.get("/missing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "not_found"
    crash = http.get("/crash")
    assert crash.status_code == 500
    assert crash.headers["content-type"] == "application/problem+json"
    body = crash.json()
    assert "internal detail" not in crash.text
    assert body["error_id"]
    assert body["request_id"] == crash.headers["x-request-id"]


def test_oversize_bodies_are_refused(http: httpx.Client) -> None:
    """A declared or streamed body over max_body_size gets 413."""
    assert http.post("/echo", content=b"x" * 1_000).text == "1000"
    declared = http.post("/echo", content=b"x" * 1_001)
    assert declared.status_code == 413
    streamed = http.post("/echo", content=iter([b"x" * 400] * 3))
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "http.body_too_large"


def test_oversize_headers_are_refused(http: httpx.Client) -> None:
    """Too many or too large headers get 431 from the middleware."""
    many = http.get("/", headers={f"x-h{i}": "1" for i in range(60)})
    assert many.status_code == 431
    big = http.get("/", headers={"x-big": "a" * 5_000})
    assert big.status_code == 431
    assert big.json()["code"] == "http.headers_too_large"


def test_head_beyond_the_parser_limit_gets_431_and_close(server: ServerHandle) -> None:
    """A request head still incomplete past the parser's limit is answered 431 and closed.

    (A complete oversized head is parsed and refused by the middleware, see above; the parser
    limit is what bounds the memory a client can make the server buffer.)
    """
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000
    data, _ = raw_exchange(server, head)
    assert data.startswith(b"HTTP/1.1 431 ")
    assert b"http.head_too_large" in data


def test_malformed_request_gets_400_problem(server: ServerHandle) -> None:
    """Garbage instead of a request line gets a problem+json 400 and the connection closes."""
    data, _ = raw_exchange(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b"application/problem+json" in data


def test_slow_client_partial_head_gets_408_and_is_closed(server: ServerHandle) -> None:
    """A client that never finishes its request head is answered 408 and disconnected."""
    data, closed = raw_exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"http.request_timeout" in data
    assert closed


def test_silent_connection_is_closed(server: ServerHandle) -> None:
    """A connection that sends nothing is closed after the head timeout."""
    data, closed = raw_exchange(server, b"")
    assert data == b""
    assert closed


def test_slow_body_gets_408(server: ServerHandle) -> None:
    """A body that stalls is answered 408 (body_timeout) and the connection closed."""
    data, closed = raw_exchange(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in data.lower()
    assert closed


def test_slow_second_request_on_keep_alive_gets_408(server: ServerHandle) -> None:
    """The head deadline re-arms for each request on a kept-alive connection."""
    first = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    second_partial = b"GET / HTTP/1.1\r\nHost: x\r\n"
    with socket.create_connection((server.host, server.port), timeout=5.0) as sock:
        sock.sendall(first)
        response = b""
        while b"hello" not in response:
            response += sock.recv(65536)
        sock.sendall(second_partial)
        tail = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            tail += chunk
    assert tail.startswith(b"HTTP/1.1 408 ")


def test_bare_asgi_app_with_rate_limit_and_cors() -> None:
    """build_middleware_stack wraps a bare ASGI app; 429s carry ids, CORS and RateLimit headers."""
    events: list[RateLimitEvent] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"bare"})

    config = ServerConfig(port=0, cors=CorsConfig(allow_origins=("https://ui.example",)))
    wrapped = build_middleware_stack(
        app, config, rate_limiter=RateLimiter(1, 60.0), on_limited=events.append, exempt_paths=("/healthz",)
    )
    with start_server(wrapped, config, middleware=False) as handle, httpx.Client(base_url=handle.url) as c:
        assert c.get("/").text == "bare"
        refused = c.get("/", headers={"origin": "https://ui.example"})
        assert c.get("/healthz").status_code == 200
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    assert refused.headers["access-control-allow-origin"] == "https://ui.example"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert events[0].identity == "127.0.0.1"
    assert events[0].endpoint == "GET /"


def test_start_server_wraps_by_default_and_reports_port_in_use() -> None:
    """``middleware=True`` adds the stack; a taken port is a ConfigError."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raise NotFoundError("nothing here")

    with start_server(app, ServerConfig(port=0), log_config=None) as handle:
        with httpx.Client(base_url=handle.url) as c:
            r = c.get("/x")
        assert r.status_code == 404
        assert r.headers["x-request-id"]
        assert handle.running
        with pytest.raises(ConfigError) as info:
            start_server(app, ServerConfig(host=handle.host, port=handle.port))
        assert info.value.code == "http.server_start_failed"
    assert not handle.running


def test_failed_lifespan_startup_is_reported() -> None:
    """An app whose lifespan startup fails makes start_server raise ConfigError."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    config = ServerConfig(port=0)
    with pytest.raises(ConfigError, check=lambda e: e.code == "http.server_start_failed"):
        start_server(app, config, middleware=False)


def test_uvicorn_config_carries_the_limits() -> None:
    """The uvicorn config reflects ServerConfig's limits."""
    config = ServerConfig(limit_concurrency=7, keep_alive_timeout=3.0, graceful_shutdown_timeout=4.0)
    uv = uvicorn_config(hello, config)  # type: ignore[arg-type]
    assert uv.limit_concurrency == 7
    assert uv.timeout_keep_alive == 3.0
    assert uv.timeout_graceful_shutdown == 4.0
    assert uv.h11_max_incomplete_event_size == config.max_header_bytes + config.max_url_length + 1024
    assert uv.server_header is False
    assert uv.host == "127.0.0.1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_body_size": 0},
        {"header_timeout": -1.0},
        {"port": 70000},
        {"limit_concurrency": 0},
        {"backlog": True},
    ],
)
def test_server_config_validation(kwargs: dict[str, Any]) -> None:
    """Out-of-range limits are ConfigErrors."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        ServerConfig(**kwargs)


def test_server_config_from_config() -> None:
    """``from_config`` binds http.server.* (types cast, an optional CORS section) and keeps the defaults."""
    config = ServerConfig.from_config(
        {
            "http": {
                "server": {
                    "port": "9001",
                    "max_body_size": "2048",
                    "header_timeout": "2.5",
                    "access_log": "false",
                    "tracing": 0,
                    "host": "127.0.0.2",
                    "cors": {
                        "allow_origins": ["https://a.example"],
                        "allow_methods": ["GET"],
                        "allow_credentials": "true",
                        "max_age": "60",
                    },
                }
            }
        }
    )
    assert (config.port, config.max_body_size, config.header_timeout) == (9001, 2048, 2.5)
    assert config.access_log is False
    assert config.tracing is False
    assert config.host == "127.0.0.2"
    assert config.cors == CorsConfig(
        allow_origins=("https://a.example",), allow_methods=("GET",), allow_credentials=True, max_age=60
    )
    assert ServerConfig.from_config({}) == ServerConfig()
    assert ServerConfig.from_config(ConfigLoader().load()) == ServerConfig()


def test_server_config_from_config_names_bad_keys() -> None:
    with pytest.raises(ConfigError) as info:
        ServerConfig.from_config({"http": {"server": {"port": "eighty", "max_body_size": -1}}})
    assert info.value.code in ("config.validation", "config.invalid")
    assert "http.server.port" in str(info.value)
    with pytest.raises(ConfigError) as info:
        ServerConfig.from_config(42)
    assert info.value.code == "config.invalid"


def test_handle_url_brackets_ipv6() -> None:
    """The handle's URL is usable for IPv4 and IPv6 hosts."""
    handle = ServerHandle.__new__(ServerHandle)
    handle.host, handle.port = "::1", 8080
    assert handle.url == "http://[::1]:8080"


_SERVE_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from llm_infra.http import ServerConfig, serve

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/slow":
            print("slow-started", flush=True)
            await asyncio.sleep(1.0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    serve(app, port=int(sys.argv[1]), config=ServerConfig(graceful_shutdown_timeout=10.0))
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_shuts_down_gracefully_on_sigterm() -> None:
    """serve() finishes an in-flight request after SIGTERM, then exits cleanly."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        [sys.executable, "-c", _SERVE_CHILD, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        try:
            deadline = time.monotonic() + 20.0
            while True:
                try:
                    httpx.get(url + "/", timeout=1.0)
                    break
                except httpx.TransportError:
                    assert child.poll() is None, "serve() exited during startup"
                    assert time.monotonic() < deadline, "serve() did not start"
                    time.sleep(0.05)
            result: dict[str, Any] = {}

            def slow() -> None:
                result["response"] = httpx.get(url + "/slow", timeout=10.0)

            thread = threading.Thread(target=slow)
            thread.start()
            assert child.stdout is not None
            assert child.stdout.readline() == b"slow-started\n"  # the request is in flight
            os.kill(child.pid, signal.SIGTERM)
            thread.join(15.0)
            assert result["response"].status_code == 200
            assert result["response"].text == "done"
            # uvicorn re-raises the signal once it has shut down, so the exit status reports it.
            assert child.wait(15.0) in (0, -signal.SIGTERM)
            assert child.stderr is not None
            assert b"graceful shutdown exceeded" not in child.stderr.read()
        finally:
            if child.poll() is None:  # pragma: no cover - only on failure
                child.kill()
