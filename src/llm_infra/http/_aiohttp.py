"""``AiohttpTransport``: httpx's async ``Request``/``Response`` API over aiohttp's connection pool.

httpcore's asyncio connection pool slows down as requests pile up (each request scans the pool
under a lock, and every socket operation goes through anyio); at 32 requests in flight it serves
fewer requests per second than one at a time. This transport hands the I/O to aiohttp's
C-accelerated parser and pool, which does not degrade with concurrency. aiohttp is optional
(``pip install 'llm-infra[http-async]'``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, final

import httpx

from llm_infra._internal._lazy import require
from llm_infra.http._options import ASYNC_EXTRA, KEEPALIVE_EXPIRY, PoolLimits

__all__ = ["AiohttpTransport"]


@final
class _AiohttpStream(httpx.AsyncByteStream):
    def __init__(self, response: Any) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        aiohttp = require("aiohttp", ASYNC_EXTRA)
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
        limits: the TLS configuration and the total connections (aiohttp keeps idle connections
            ``KEEPALIVE_EXPIRY`` seconds; ``max_keepalive_connections`` does not apply).
    """

    def __init__(self, limits: PoolLimits) -> None:
        self._aiohttp = require("aiohttp", ASYNC_EXTRA)
        self._limits = limits
        self._session: Any = None

    def _get_session(self) -> Any:
        if self._session is None or self._session.closed:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections,
                limit_per_host=0,  # no per-host cap
                keepalive_timeout=KEEPALIVE_EXPIRY,
                ssl=self._limits.ssl_context,
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
