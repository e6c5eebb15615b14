"""Edge cases: streamed request bodies, aiohttp failure mapping, backend selection, odd exits."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from llm_infra.errors import HttpError, OperationTimeout, ValidationError
from llm_infra.http import AsyncHttpClient, HttpClient, HttpTimeout
from llm_infra.resilience import RetryPolicy
from llm_infra.testing import FakeClock, MockHttpServer, MockResponse

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)


class Interrupt(BaseException):
    """A BaseException that is not an Exception (like KeyboardInterrupt)."""


def test_streamed_request_bodies_are_sent_but_never_replayed(server: MockHttpServer) -> None:
    """An iterator body is sent chunked; a failure is not retried because it cannot be replayed."""

    def chunks() -> Iterator[bytes]:
        yield b"ab"
        yield b"cd"

    server.enqueue(MockResponse(json="ok"), MockResponse(status=503), MockResponse())
    with HttpClient(retry=FAST) as client:
        assert client.put(server.url("/"), content=chunks()).json() == "ok"  # type: ignore[arg-type]
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
            client.put(server.url("/"), content=chunks())  # type: ignore[arg-type]
    assert server.requests[0].body == b"abcd"
    assert len(server.requests) == 2


def test_malformed_url_and_base_exceptions(server: MockHttpServer) -> None:
    """A URL httpx cannot parse is a ValidationError; BaseExceptions from hooks pass through."""
    with HttpClient() as client:
        with pytest.raises(ValidationError, check=lambda e: e.code == "http.invalid_url"):
            client.get("http://[::1")

        def interrupt(request: object) -> None:
            raise Interrupt

        with HttpClient(on_request=[interrupt]) as interrupted, pytest.raises(Interrupt):
            interrupted.get(server.url("/"))


def test_deadline_spent_before_a_retry(server: MockHttpServer) -> None:
    """When a retry's sleep uses up the deadline, the next attempt is refused with http.deadline_exceeded."""
    clock = FakeClock()

    def slow_sleep(seconds: float) -> None:
        clock.advance(seconds + 100)

    server.enqueue(MockResponse(status=503, headers={"Retry-After": "1"}), MockResponse())
    timeout = HttpTimeout(deadline=50.0)
    with HttpClient(clock=clock, sleep=slow_sleep, retry=FAST, timeout=timeout) as client:
        with pytest.raises(OperationTimeout) as info:
            client.get(server.url("/"))
    assert info.value.code == "http.deadline_exceeded"


def test_large_streamed_error_bodies_are_bounded(server: MockHttpServer) -> None:
    """Only a bounded prefix of a streamed error body is read."""
    server.enqueue(MockResponse(status=500, body=b"e" * 100_000))
    with (
        HttpClient(retry=None, max_error_body=10) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info,
    ):
        with client.stream("GET", server.url("/")):
            pass
    assert info.value.body == "e" * 10 + "…"


@pytest.mark.anyio
async def test_async_streamed_bodies_and_bounded_errors(server: MockHttpServer) -> None:
    """Async generators are sent through aiohttp; streamed error bodies are bounded."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"12"
        yield b"34"

    server.enqueue(MockResponse(json="ok"), MockResponse(status=500, body=b"e" * 100_000))
    async with AsyncHttpClient(retry=None, max_error_body=10) as client:
        assert (await client.post(server.url("/"), content=chunks())).json() == "ok"  # type: ignore[arg-type]
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info:
            async with client.stream("GET", server.url("/")):
                pass
    assert server.requests[0].body == b"1234"
    assert info.value.body == "e" * 10 + "…"


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_async_read_timeouts_and_dropped_connections(server: MockHttpServer, backend: str) -> None:
    """Slow heads, stalled bodies and dropped connections map onto the same errors on both backends."""
    stalled = MockResponse(headers={"Content-Length": "100"}, body=b"abc")
    # aiohttp re-sends an idempotent request once when a pooled connection drops: close twice.
    server.enqueue(MockResponse(delay=1.0), stalled, MockResponse(close=True), MockResponse(close=True))
    timeout = HttpTimeout(read=0.1, deadline=None)
    async with AsyncHttpClient(backend=backend, retry=None, timeout=timeout) as client:  # type: ignore[arg-type]
        with pytest.raises(OperationTimeout) as slow:
            await client.get(server.url("/slow"))
        with pytest.raises(OperationTimeout) as stall:
            await client.get(server.url("/stall"))
        with pytest.raises(HttpError) as dropped:
            await client.get(server.url("/drop"))
    assert slow.value.code == "http.timeout"
    assert stall.value.code == "http.timeout"
    assert dropped.value.status is None
    assert dropped.value.retryable


@pytest.mark.anyio
async def test_auto_backend_without_aiohttp(monkeypatch: pytest.MonkeyPatch, server: MockHttpServer) -> None:
    """With aiohttp not importable, 'auto' falls back to httpx's transport."""
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    async with AsyncHttpClient() as client:
        await client.get(server.url("/"))
        assert client.backend == "httpx"


@pytest.mark.anyio
async def test_closing_unused_clients_and_base_exceptions(server: MockHttpServer) -> None:
    """A client closed before any request closes cleanly; BaseExceptions from hooks propagate."""
    async with AsyncHttpClient():
        pass

    def interrupt(request: object) -> None:
        raise Interrupt

    async with AsyncHttpClient(on_request=[interrupt]) as client:
        with pytest.raises(Interrupt):
            await client.get(server.url("/"))


@pytest.mark.anyio
async def test_async_deadline_spent_while_streaming(server: MockHttpServer) -> None:
    """A streamed body whose deadline passes between chunks stops with OperationTimeout."""
    server.enqueue(MockResponse(body=b"x" * 50, trickle=0.05, chunk_size=10))
    async with AsyncHttpClient(timeout=HttpTimeout(deadline=0.12)) as client:
        with pytest.raises(OperationTimeout, check=lambda e: e.code == "http.deadline_exceeded"):  # noqa: PT012
            async with client.stream("GET", server.url("/")) as response:
                async for _ in response.aiter_raw():
                    pass
