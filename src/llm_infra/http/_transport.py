"""Transports: the sync one that enforces the call's deadline on every socket operation, and the
selection of the async one (aiohttp's pool when installed, httpx's otherwise).

**Deadline (sync).** httpx's timeouts apply per socket operation, so a server that trickles one
byte at a time never trips them. ``DeadlineTransport`` runs httpcore's connection pool over a
network backend whose every ``connect``/``read``/``write``/TLS handshake is given at most the
time left of the call's ``Deadline`` (held in a context variable while an attempt or a streamed
body read runs; it reads the client's clock). A trickling server is cut off within one socket
read of the deadline. This module imports ``httpcore`` directly.

**Async selection.** httpcore's asyncio pool slows down as requests pile up; aiohttp's does not
(see ``_aiohttp``). aiohttp is optional (the ``http-async`` extra): ``backend="auto"`` uses it
when installed and falls back to httpx's transport otherwise; ``backend="aiohttp"`` without it
is a ``ConfigError`` with the pip line.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ssl
import typing
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal, TypeAlias, final

import httpcore
import httpx

from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError
from llm_infra.http._options import ASYNC_EXTRA, KEEPALIVE_EXPIRY, PoolLimits
from llm_infra.resilience import Deadline

AsyncBackend: TypeAlias = Literal["auto", "aiohttp", "httpx"]

CURRENT_DEADLINE: ContextVar[Deadline | None] = ContextVar("llm_infra_http_deadline", default=None)
"""The deadline of the call whose attempt (or streamed body) is running in this context."""


def remaining_time(timeout: float | None) -> float | None:
    """``timeout`` capped at the time left before the deadline; raises once it has passed."""
    deadline = CURRENT_DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline.remaining()
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
        limits: the TLS configuration, pool size and idle connections kept.
    """

    def __init__(self, limits: PoolLimits) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=limits.ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
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


# --- async transport selection -------------------------------------------------------------------


def aiohttp_installed() -> bool:
    """Whether aiohttp can be imported (the ``http-async`` extra)."""
    try:
        return importlib.util.find_spec("aiohttp") is not None
    except (ImportError, ValueError):  # pragma: no cover - a broken or shadowed installation
        return False


def check_backend(backend: str) -> None:
    """Refuse an unknown backend, or ``aiohttp`` when it is not installed (with the pip line)."""
    if backend not in ("auto", "aiohttp", "httpx"):
        raise ConfigError(f"backend must be auto, aiohttp or httpx, got {backend!r}", key="http.backend")
    if backend == "aiohttp":
        require("aiohttp", ASYNC_EXTRA)


@final
class AutoTransport(httpx.AsyncBaseTransport):
    """aiohttp's pool when running on asyncio with aiohttp installed, httpx's otherwise."""

    def __init__(self, backend: AsyncBackend, limits: PoolLimits) -> None:
        check_backend(backend)
        self._backend = backend
        self._limits = limits
        self._inner: httpx.AsyncBaseTransport | None = None

    def _choose(self) -> httpx.AsyncBaseTransport:
        use_aiohttp = self._backend == "aiohttp"
        if self._backend == "auto":
            try:
                asyncio.get_running_loop()
                on_asyncio = True
            except RuntimeError:  # pragma: no cover - trio through anyio: httpx's transport
                on_asyncio = False
            use_aiohttp = on_asyncio and aiohttp_installed()
        if use_aiohttp:
            from llm_infra.http._aiohttp import AiohttpTransport

            return AiohttpTransport(self._limits)
        limits = httpx.Limits(
            max_connections=self._limits.max_connections,
            max_keepalive_connections=self._limits.max_keepalive_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        return httpx.AsyncHTTPTransport(verify=self._limits.ssl_context, limits=limits)

    @property
    def chosen(self) -> str:
        """``aiohttp``, ``httpx`` or ``unset`` (before the first request)."""
        if self._inner is None:
            return "unset"
        return "httpx" if isinstance(self._inner, httpx.AsyncHTTPTransport) else "aiohttp"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Delegate to the chosen transport (chosen on the first request)."""
        if self._inner is None:
            self._inner = self._choose()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the chosen transport."""
        if self._inner is not None:
            await self._inner.aclose()
