"""``AsyncHttpClient``: the asyncio driver of the shared attempt flow (``_call.ClientCore.flow``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Unpack, final

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace

from llm_infra._internal._attrs import AsyncClosing
from llm_infra.http._call import Attempt, Call, ClientCore, Close, Outcome, Sleep
from llm_infra.http._options import RequestOptions, StreamOptions, client_options_from_config
from llm_infra.http._streams import ConvertingAsyncStream, DeadlineAsyncStream, timeout_scope
from llm_infra.http._transport import AsyncBackend, AutoTransport, check_backend

__all__ = ["AsyncHttpClient"]


async def _call_hook(hook: Callable[[Any], Any], value: Any) -> None:
    result = hook(value)
    if inspect.isawaitable(result):
        await result


@final
class AsyncHttpClient(ClientCore, AsyncClosing):
    """The asyncio twin of ``HttpClient`` (same options, same attempt flow; hooks may be async).

    Extra args:
        backend: ``"auto"`` (aiohttp's connection pool on asyncio when aiohttp is installed,
            httpx's otherwise), ``"aiohttp"`` (a ``ConfigError`` with the pip line when the
            ``http-async`` extra is missing) or ``"httpx"``. httpx's async pool slows down as
            requests pile up; aiohttp's does not (see docs/benchmarks.md).
        asleep: async sleep between retries (``clock.asleep`` if it has one, else ``asyncio.sleep``).
        transport: an ``httpx.AsyncBaseTransport`` replacing the default.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        backend: AsyncBackend = "auto",
        asleep: Callable[[float], Awaitable[object]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> None:
        check_backend(backend)
        super().__init__(**options)
        self._asleep = asleep or getattr(self._clock, "asleep", None) or asyncio.sleep
        self._transport = transport or AutoTransport(backend, self._pool)
        self._client = httpx.AsyncClient(transport=self._transport, **self.httpx_options())

    @property
    def backend(self) -> str:
        """The transport in use: ``aiohttp``, ``httpx``, ``unset`` (no request yet) or ``custom``."""
        if isinstance(self._transport, AutoTransport):
            return self._transport.chosen
        return "custom"

    @classmethod
    def from_config(cls, cfg: Any, *, section: str = "http", **overrides: Any) -> AsyncHttpClient:
        """A client from the ``<section>.*`` keys of a ``Config`` (see ``HttpClient.from_config``)."""
        return cls(**{**client_options_from_config(cfg, section=section), **overrides})

    async def request(
        self, method: str, url: str | httpx.URL, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        """Send a request and read the response body (see ``HttpClient.request``)."""
        call = self.begin(False, method, url, **options)
        return await self._run(call)

    @asynccontextmanager
    async def stream(
        self, method: str, url: str | httpx.URL, **options: Unpack[StreamOptions]
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and yield the response with its body unread (see ``HttpClient.stream``)."""
        call = self.begin(True, method, url, **options)
        response = await self._run(call)
        response.stream = ConvertingAsyncStream(
            response.stream,  # type: ignore[arg-type]  # an async client's stream
            lambda exc: self.transport_error(call, exc),
        )
        try:
            yield response
        finally:
            await response.aclose()

    async def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("HEAD", url, ...)``."""
        return await self.request("HEAD", url, **kwargs)

    async def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("POST", url, ...)`` (not retried unless idempotent)."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("PUT", url, ...)``."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("PATCH", url, ...)`` (not retried unless idempotent)."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("DELETE", url, ...)``."""
        return await self.request("DELETE", url, **kwargs)

    # --- the driver ------------------------------------------------------------------------------

    async def _run(self, call: Call) -> httpx.Response:
        flow = self.flow(call)
        step = next(flow)
        while True:
            result: Outcome | None = None
            try:
                if isinstance(step, Attempt):
                    result = await self._attempt(call, step)
                elif isinstance(step, Sleep):
                    await self._asleep(step.delay)
                else:
                    assert isinstance(step, Close)
                    await step.response.aclose()
            except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises it
                step = flow.throw(exc)
                continue
            try:
                step = flow.send(result)
            except StopIteration as done:
                response: httpx.Response = done.value
                return response

    async def _attempt(self, call: Call, step: Attempt) -> Outcome:
        span = step.span
        # Hooks and transports see the attempt's span as current (skipped for no-op spans: no SDK).
        token = otel_context.attach(trace.set_span_in_context(span)) if span.is_recording() else None
        try:
            request = self.build_request(self._client, call, step)
            for hook in self._on_request:
                await _call_hook(hook, request)
            try:
                if call.deadline is None:
                    response, body = await self._exchange(call, request)
                else:
                    try:
                        async with timeout_scope(call.deadline.remaining()):
                            response, body = await self._exchange(call, request)
                    except TimeoutError as exc:
                        raise httpx.ReadTimeout("the request deadline has passed") from exc
                    if call.streaming:
                        response.stream = DeadlineAsyncStream(
                            response.stream,  # type: ignore[arg-type]  # an async client's stream
                            call.deadline,
                        )
            except httpx.HTTPError as exc:
                return None, b"", exc
            for response_hook in self._on_response:
                await _call_hook(response_hook, response)
            return response, body, None
        finally:
            if token is not None:
                otel_context.detach(token)

    async def _exchange(self, call: Call, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        response = await self._client.send(request, stream=True, auth=self._auth)
        try:
            if not call.streaming:
                return response, await response.aread()
            if self.keep_open(call, response):
                return response, b""
            chunks: list[bytes] = []
            size = 0
            limit = self.read_limit()
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
            await response.aclose()
            return response, b"".join(chunks)
        except BaseException:
            await response.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
