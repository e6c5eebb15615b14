"""Overall deadlines against a trickling server, streaming bodies, TLS failures and problem+json errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from llm_infra.errors import HttpError, OperationTimeout
from llm_infra.http import AsyncHttpClient, HttpClient, HttpTimeout
from llm_infra.resilience import RetryPolicy
from llm_infra.secrets import MASK, Secret
from llm_infra.testing import FakeClock, MockHttpServer, MockResponse

# 400 bytes at one byte per 20 ms would take 8 s; every read finishes well inside read=5 s.
TRICKLE = MockResponse(body=b"x" * 400, trickle=0.02, chunk_size=1)
DEADLINE = HttpTimeout(read=5.0, deadline=0.4)


def test_deadline_stops_a_trickling_server(server: MockHttpServer) -> None:
    """Per-read timeouts never trip, but the overall deadline does: OperationTimeout, not retried."""
    server.enqueue(TRICKLE, TRICKLE)
    with HttpClient(timeout=DEADLINE, retry=RetryPolicy(max_attempts=3, base_delay=0.001)) as client:
        with pytest.raises(OperationTimeout) as info:
            client.get(server.url("/slow"))
    assert info.value.code == "http.deadline_exceeded"
    assert info.value.duration is not None
    assert len(server.requests) == 1


def test_deadline_applies_while_streaming(server: MockHttpServer) -> None:
    """Inside ``stream()`` the deadline still bounds the body reads."""
    server.enqueue(TRICKLE)
    chunks: list[bytes] = []
    with HttpClient(timeout=DEADLINE) as client, pytest.raises(OperationTimeout) as info:  # noqa: PT012
        with client.stream("GET", server.url("/slow")) as response:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
    assert 0 < len(b"".join(chunks)) < 400
    assert info.value.code == "http.deadline_exceeded"


def _clocked_stream(clock: FakeClock, *, step: float, chunks: int = 10) -> Iterator[bytes]:
    for _ in range(chunks):
        clock.advance(step)
        yield b"x"


class _SyncClocked(httpx.SyncByteStream):
    def __init__(self, clock: FakeClock, step: float) -> None:
        self._clock, self._step = clock, step

    def __iter__(self) -> Iterator[bytes]:
        yield from _clocked_stream(self._clock, step=self._step)


class _AsyncClocked(httpx.AsyncByteStream):
    def __init__(self, clock: FakeClock, step: float) -> None:
        self._clock, self._step = clock, step

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in _clocked_stream(self._clock, step=self._step):
            yield chunk


def test_deadline_checked_between_chunks_with_a_custom_transport() -> None:
    """With a custom transport the call's deadline (on the injected clock) is checked between chunks."""
    clock = FakeClock()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=_SyncClocked(clock, 0.05)))
    with HttpClient(
        transport=transport, timeout=HttpTimeout(deadline=0.1), retry=None, clock=clock
    ) as client:
        with pytest.raises(OperationTimeout) as info:
            client.get("http://example.test/")
    assert info.value.code == "http.deadline_exceeded"


def _read_streamed(use_async: bool, clock: FakeClock, step: float) -> bytes:
    """Stream one body through HttpClient or AsyncHttpClient with the same deadline and clock."""
    timeout = HttpTimeout(deadline=0.3)
    if not use_async:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=_SyncClocked(clock, step)))
        with HttpClient(transport=transport, timeout=timeout, retry=None, clock=clock) as client:
            with client.stream("GET", "http://example.test/") as response:
                return b"".join(response.iter_bytes())

    async def run() -> bytes:
        handler = lambda request: httpx.Response(200, stream=_AsyncClocked(clock, step))  # noqa: E731
        async with AsyncHttpClient(
            transport=httpx.MockTransport(handler), timeout=timeout, retry=None, clock=clock
        ) as client:
            async with client.stream("GET", "http://example.test/") as response:
                return b"".join([chunk async for chunk in response.aiter_bytes()])

    return asyncio.run(run())


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_sync_and_async_stream_share_one_deadline(use_async: bool) -> None:
    """stream() behaves the same in both clients: a body inside the deadline is read in full, one
    that outlives it raises OperationTimeout(http.deadline_exceeded) while being read."""
    assert _read_streamed(use_async, FakeClock(), step=0.01) == b"x" * 10
    with pytest.raises(OperationTimeout) as info:
        _read_streamed(use_async, FakeClock(), step=0.1)
    assert info.value.code == "http.deadline_exceeded"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_no_retry_sleep_runs_past_the_deadline(use_async: bool) -> None:
    """A retry whose backoff would end past the deadline is not made: the last error is raised."""
    clock = FakeClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        clock.advance(0.4)
        return httpx.Response(503)

    policy = RetryPolicy(max_attempts=5, base_delay=0.5, jitter="none")
    timeout = HttpTimeout(deadline=1.0)
    transport = httpx.MockTransport(handler)

    async def async_get() -> None:
        async with AsyncHttpClient(transport=transport, timeout=timeout, retry=policy, clock=clock) as c:
            await c.get("http://example.test/")

    def sync_get() -> None:
        with HttpClient(transport=transport, timeout=timeout, retry=policy, clock=clock) as client:
            client.get("http://example.test/")

    with pytest.raises(HttpError) as info:
        asyncio.run(async_get()) if use_async else sync_get()
    assert info.value.code == "http.status"
    assert calls == 2  # 0.4 + 0.5 sleep + 0.4 = 1.3 > 1.0: the third attempt would start too late
    assert clock.sleeps == [0.5]
    assert info.value.context.attributes["attempts"] == 2


def test_streaming_success_and_errors(server: MockHttpServer) -> None:
    """Streamed bodies arrive in full; a streamed error status raises with its body excerpt."""
    server.enqueue(MockResponse(body=b"abc" * 1000))
    server.enqueue(MockResponse.problem(500, "Broken", "db down"))
    server.enqueue(MockResponse(status=404, body="gone"))
    with HttpClient(retry=None) as client:
        with client.stream("GET", server.url("/big")) as response:
            assert b"".join(response.iter_bytes()) == b"abc" * 1000
        with (
            pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info,
            client.stream("GET", server.url("/err")),
        ):
            pass
        assert "Broken: db down" in info.value.message
        with client.stream("GET", server.url("/gone"), raise_for_status=False) as response:
            assert response.status_code == 404
            assert response.read() == b"gone"


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_async_deadline_stops_a_trickling_server(server: MockHttpServer, backend: str) -> None:
    """The async client fails with OperationTimeout at the deadline on both backends."""
    server.enqueue(TRICKLE)
    async with AsyncHttpClient(timeout=DEADLINE, backend=backend) as client:  # type: ignore[arg-type]
        with pytest.raises(OperationTimeout) as info:
            await client.get(server.url("/slow"))
    assert info.value.code == "http.deadline_exceeded"


@pytest.mark.anyio
async def test_async_streaming_and_deadline(server: MockHttpServer) -> None:
    """Async streams deliver bodies, raise for errors, and stop at the deadline."""
    server.enqueue(MockResponse(body=b"z" * 5000), MockResponse.problem(503, "Busy"), TRICKLE)
    async with AsyncHttpClient(retry=None, timeout=DEADLINE) as client:
        async with client.stream("GET", server.url("/a")) as response:
            data = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert data == b"z" * 5000
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info:
            async with client.stream("GET", server.url("/b")):
                pass
        assert info.value.status == 503
        with pytest.raises(OperationTimeout, check=lambda e: e.code == "http.deadline_exceeded"):  # noqa: PT012
            async with client.stream("GET", server.url("/slow")) as response:
                async for _ in response.aiter_bytes():
                    pass
    server.enqueue(MockResponse(status=418, body="teapot"))
    async with AsyncHttpClient(retry=None, timeout=None) as client:
        async with client.stream("GET", server.url("/t"), raise_for_status=False) as response:
            assert response.status_code == 418
            assert await response.aread() == b"teapot"


def test_problem_json_and_masked_body(server: MockHttpServer) -> None:
    """problem+json fields reach the error; secrets echoed in the body are masked."""
    token = "sk-live-0123456789"
    server.enqueue(
        MockResponse.problem(
            429,
            "Too many requests",
            f"key {token} is over quota",
            code="rate_limited",
            headers={"Retry-After": "1"},
            error_id="01ABC",
        )
    )
    with (
        HttpClient(auth=Secret(token), retry=None) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info,
    ):
        client.get(server.url("/"))
    error = info.value
    assert error.status == 429
    assert error.retryable
    assert error.retry_after == 1.0
    problem = error.context.attributes["problem"]
    assert problem["code"] == "rate_limited"
    assert problem["error_id"] == "01ABC"
    assert token not in error.message
    assert token not in (error.body or "")
    assert MASK in (error.body or "")
    assert token not in repr(error.to_dict())


def test_error_urls_hide_credentials(server: MockHttpServer) -> None:
    """Userinfo and secret query values never appear in errors."""
    server.enqueue(MockResponse(status=500))
    url = server.url("/x").replace("http://", "http://user:pw@") + "?api_key=abc123&page=2"
    with (
        HttpClient(retry=None) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info,
    ):
        client.get(url)
    assert "pw@" not in str(info.value)
    assert "abc123" not in str(info.value)
    assert info.value.url is not None
    assert "page=2" in info.value.url


def test_tls_failure_is_clear_and_not_retried() -> None:
    """An untrusted certificate gives a non-retryable HttpError (code http.tls) after one attempt."""
    with MockHttpServer(tls=True) as server:
        attempts: list[int] = []
        with HttpClient(
            retry=RetryPolicy(max_attempts=3, base_delay=0.001), on_request=[lambda r: attempts.append(1)]
        ) as client:
            with pytest.raises(HttpError) as info:
                client.get(server.url("/"))
        assert info.value.code == "http.tls"
        assert not info.value.retryable
        assert info.value.context.remediation
        assert attempts == [1]
        with HttpClient(verify=server.client_ssl_context()) as client:
            assert client.get(server.url("/")).status_code == 200
        assert server.ca_file is not None
        with HttpClient(verify=server.ca_file) as client:
            assert client.get(server.url("/")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_async_tls(backend: str) -> None:
    """Both async backends report TLS failures as http.tls and work with the right CA."""
    with MockHttpServer(tls=True) as server:
        async with AsyncHttpClient(backend=backend) as client:  # type: ignore[arg-type]
            with pytest.raises(HttpError) as info:
                await client.get(server.url("/"))
        assert info.value.code == "http.tls"
        async with AsyncHttpClient(backend=backend, verify=server.client_ssl_context()) as client:  # type: ignore[arg-type]
            assert (await client.get(server.url("/"))).status_code == 200
