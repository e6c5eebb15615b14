"""Transports: a sync one that enforces an overall deadline on every socket operation, and an
async one over aiohttp's connection pool.

**Deadline (sync).** httpx's timeouts apply per socket operation, so a server that trickles one
byte at a time never trips them. ``DeadlineTransport`` runs httpcore's connection pool over a
network backend whose every ``connect``/``read``/``write``/TLS handshake is given at most the
time left before the deadline held in a context variable (set by the client around an attempt).
A trickling server is therefore cut off within one socket read of the deadline.

**aiohttp (async).** httpcore's asyncio connection pool slows down as requests pile up (each
request scans the pool under a lock, and every socket operation goes through anyio); at 32
requests in flight it serves fewer requests per second than one at a time. ``AiohttpTransport``
keeps httpx's ``Request``/``Response`` API and hands the I/O to aiohttp's C-accelerated parser
and pool, which does not degrade with concurrency.
"""

from __future__ import annotations

import contextlib
import ssl
import time
import typing
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any, final

import httpcore
import httpx

from llm_infra._internal._lazy import require

DEADLINE: ContextVar[float | None] = ContextVar("llm_infra_http_deadline", default=None)
"""Monotonic time by which the current attempt must finish (None: no overall deadline)."""


def remaining_time(timeout: float | None) -> float | None:
    """``timeout`` capped at the time left before the deadline; raises once it has passed."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request deadline has passed")
    return left if timeout is None else min(timeout, left)


@final
class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose operations never run past the context's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, remaining_time(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, remaining_time(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, remaining_time(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


@final
class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with deadline-capped timeouts."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, remaining_time(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - the client does not expose unix sockets
        return _DeadlineStream(self._inner.connect_unix_socket(path, remaining_time(timeout), socket_options))

    def sleep(
        self, seconds: float
    ) -> None:  # pragma: no cover - httpcore sleeps only between its own retries
        self._inner.sleep(seconds)


_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _map_httpcore_errors() -> Iterator[None]:
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise _translate(exc) from exc
    except (
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.UnsupportedProtocol,
        httpcore.ProxyError,
    ) as exc:
        raise _translate(exc) from exc


def _translate(exc: Exception) -> httpx.TransportError:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(str(exc))
    return httpx.TransportError(str(exc))  # pragma: no cover - every httpcore error is in the table


@final
class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: typing.Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _map_httpcore_errors():
            yield from self._inner

    def close(self) -> None:
        closer = getattr(self._inner, "close", None)
        if closer is not None:
            closer()


@final
class DeadlineTransport(httpx.BaseTransport):
    """httpx transport over httpcore's pool with deadline-capped socket operations.

    Args:
        ssl_context: the TLS configuration.
        max_connections: pool size.
        max_keepalive_connections: idle connections kept.
        keepalive_expiry: seconds an idle connection is kept.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through the pool."""
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _map_httpcore_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, typing.Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()


# --- aiohttp ---------------------------------------------------------------------------------------


@final
class _AiohttpStream(httpx.AsyncByteStream):
    def __init__(self, response: Any) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        aiohttp = require("aiohttp", "all")
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        self._response.release()


def _aiohttp_error(exc: Exception, aiohttp: Any) -> httpx.TransportError:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        error: httpx.TransportError = httpx.ConnectError(message)
        error.__cause__ = getattr(exc, "certificate_error", None) or exc
        return error
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, TimeoutError):
        return httpx.PoolTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message)
    return httpx.ReadError(message)


@final
class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx async transport backed by an ``aiohttp.ClientSession`` (created on first use).

    The session belongs to the event loop of its first request: use one client per loop.

    Args:
        ssl_context: the TLS configuration.
        max_connections: total connections in the pool.
        max_connections_per_host: connections per (host, port).
        keepalive_expiry: seconds an idle connection is kept.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int = 100,
        max_connections_per_host: int = 0,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._aiohttp = require("aiohttp", "all")
        self._ssl = ssl_context
        self._limit = max_connections
        self._limit_per_host = max_connections_per_host
        self._keepalive = keepalive_expiry
        self._session: Any = None

    def _get_session(self) -> Any:
        if self._session is None or self._session.closed:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=self._keepalive,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through aiohttp's pool."""
        aiohttp = self._aiohttp
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_sum(timeouts.get("pool"), timeouts.get("connect")),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        body: bytes | AsyncIterator[bytes] | None
        if isinstance(request.stream, httpx.ByteStream):
            body = b"".join(request.stream) or None
        else:
            body = request.stream.__aiter__()  # type: ignore[union-attr]  # an async byte stream
        try:
            response = await self._get_session().request(
                request.method,
                str(request.url),
                # aiohttp frames the body itself (and refuses a Transfer-Encoding header with a stream).
                headers=[
                    (k, v) for k, v in request.headers.multi_items() if k.lower() != "transfer-encoding"
                ],
                data=body,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
                chunked=None,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _aiohttp_error(exc, aiohttp) from exc
        version = response.version
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_AiohttpStream(response),
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode() if version else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _sum(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return a + b
