"""Retries with backoff and Retry-After, idempotency rules, and per-host circuit breakers (real loopback)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from llm_infra.errors import CircuitOpenError, HttpError, OperationTimeout
from llm_infra.http import AsyncHttpClient, HttpClient, HttpTimeout
from llm_infra.resilience import CircuitBreaker, CircuitState, RetryPolicy
from llm_infra.testing import FakeClock, MockHttpServer, MockResponse, unused_port

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)


def test_retries_a_503_honouring_retry_after_seconds(server: MockHttpServer) -> None:
    """A 503 with Retry-After: 7 is retried after 7 s (slept on the fake clock), then succeeds."""
    clock = FakeClock()
    server.enqueue(MockResponse(status=503, headers={"Retry-After": "7"}), MockResponse(json={"ok": 1}))
    with HttpClient(clock=clock, retry=FAST, timeout=HttpTimeout(deadline=None)) as client:
        assert client.get(server.url("/")).json() == {"ok": 1}
    assert clock.sleeps == [7.0]
    assert len(server.requests) == 2


def test_retry_after_http_date(server: MockHttpServer) -> None:
    """Retry-After as an HTTP-date is turned into a wait relative to the clock's wall time."""
    clock = FakeClock(epoch=1_800_000_000.0)
    when = format_datetime(datetime.fromtimestamp(1_800_000_000.0 + 12, UTC), usegmt=True)
    server.enqueue(MockResponse(status=429, headers={"Retry-After": when}), MockResponse())
    with HttpClient(clock=clock, retry=FAST, timeout=HttpTimeout(deadline=None)) as client:
        client.get(server.url("/"))
    assert clock.sleeps == [12.0]


def test_backoff_without_retry_after_follows_the_policy(server: MockHttpServer) -> None:
    """Without Retry-After the policy's schedule is slept; exhausted attempts raise the last error."""
    clock = FakeClock()
    server.enqueue(*[MockResponse(status=502) for _ in range(3)])
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0, jitter="none")
    with (
        HttpClient(clock=clock, retry=policy) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info,
    ):
        client.get(server.url("/"))
    assert clock.sleeps == [1.0, 2.0]
    assert info.value.status == 502
    assert info.value.retryable
    assert len(server.requests) == 3


def test_retry_after_beyond_the_limit_is_raised_at_once(server: MockHttpServer) -> None:
    """A Retry-After longer than max_retry_after is not waited for; the error carries it."""
    clock = FakeClock()
    server.enqueue(MockResponse(status=503, headers={"Retry-After": "3600"}))
    with (
        HttpClient(clock=clock, retry=FAST, max_retry_after=60) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info,
    ):
        client.get(server.url("/"))
    assert info.value.retry_after == 3600.0
    assert clock.sleeps == []


def test_retry_never_sleeps_past_the_deadline(server: MockHttpServer) -> None:
    """When the wait would end past the deadline the error is raised instead."""
    clock = FakeClock()
    server.enqueue(MockResponse(status=503, headers={"Retry-After": "20"}))
    with HttpClient(clock=clock, retry=FAST, timeout=HttpTimeout(deadline=10.0)) as client:
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
            client.get(server.url("/"))
    assert clock.sleeps == []


def test_post_is_not_retried_but_idempotent_requests_are(server: MockHttpServer) -> None:
    """POST on 503 fails at once; an Idempotency-Key, idempotent=True or the client flag allow retries."""
    with HttpClient(retry=FAST) as client:
        server.enqueue(MockResponse(status=503))
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
            client.post(server.url("/"), json={})
        assert len(server.requests) == 1
        server.enqueue(MockResponse(status=503), MockResponse())
        client.post(server.url("/"), json={}, headers={"Idempotency-Key": "k1"})
        server.enqueue(MockResponse(status=503), MockResponse())
        client.post(server.url("/"), json={}, idempotent=True)
        server.enqueue(MockResponse(status=503))
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
            client.get(server.url("/"), idempotent=False)
    assert len(server.requests) == 6
    with HttpClient(retry=FAST, retry_non_idempotent=True) as client:
        server.enqueue(MockResponse(status=503), MockResponse())
        client.patch(server.url("/"), content=b"x")
    assert len(server.requests) == 8


def test_client_errors_are_not_retried(server: MockHttpServer) -> None:
    """4xx other than 408/429 are final."""
    server.enqueue(MockResponse(status=400), MockResponse())
    with (
        HttpClient(retry=FAST) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info,
    ):
        client.get(server.url("/"))
    assert not info.value.retryable
    assert len(server.requests) == 1


def test_connection_refused_is_a_retryable_transport_error() -> None:
    """Nothing listening: HttpError(status=None), retryable, after every attempt; POST too (never sent)."""
    url = f"http://127.0.0.1:{unused_port()}/"
    retried: list[int] = []
    with HttpClient(retry=FAST, on_request=[lambda r: retried.append(1)]) as client:
        with pytest.raises(HttpError) as info:
            client.get(url)
        assert info.value.status is None
        assert info.value.code == "http.transport"
        assert info.value.retryable
        with pytest.raises(HttpError, check=lambda e: e.code == "http.transport"):
            client.post(url, json={})
    assert len(retried) == 6


def test_dropped_connection_is_a_transport_error(server: MockHttpServer) -> None:
    """A server closing the connection without answering gives a retryable HttpError, then recovers."""
    server.enqueue(MockResponse(close=True), MockResponse(json="fine"))
    with HttpClient(retry=FAST) as client:
        assert client.get(server.url("/")).json() == "fine"


def test_read_timeout_is_retried(server: MockHttpServer) -> None:
    """A per-read timeout (server slower than read=) is an OperationTimeout, retried for GET."""
    server.enqueue(MockResponse(delay=1.0), MockResponse(json="second"))
    timeout = HttpTimeout(read=0.1, deadline=None)
    with HttpClient(retry=FAST, timeout=timeout) as client:
        assert client.get(server.url("/")).json() == "second"
    server.enqueue(MockResponse(delay=1.0))
    with HttpClient(retry=None, timeout=timeout) as client, pytest.raises(OperationTimeout) as info:
        client.get(server.url("/"))
    assert info.value.code == "http.timeout"


# --- circuit breaker --------------------------------------------------------------------------------


def test_breaker_opens_then_recovers(server: MockHttpServer) -> None:
    """Repeated 5xx open the host's breaker (no more requests sent); after the reset it probes and closes."""
    clock = FakeClock()

    def breaker(host: str) -> CircuitBreaker:
        return CircuitBreaker(
            f"http:{host}", failure_threshold=2, success_threshold=1, reset_timeout=30, clock=clock
        )

    server.enqueue(*[MockResponse(status=500) for _ in range(2)])
    with HttpClient(retry=None, circuit_breaker=breaker, clock=clock) as client:
        for _ in range(2):
            with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
                client.get(server.url("/"))
        guard = client.breaker_for(server.url("/"))
        assert guard is not None
        assert guard.state is CircuitState.OPEN
        with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open") as info:
            client.get(server.url("/"))
        assert info.value.retry_after == pytest.approx(30.0)
        assert not info.value.retryable
        assert len(server.requests) == 2
        clock.advance(31)
        assert client.get(server.url("/")).status_code == 200
        assert guard.state is CircuitState.CLOSED
    assert len(server.requests) == 3


def test_breakers_are_per_host_and_ignore_client_errors(server: MockHttpServer) -> None:
    """circuit_breaker=True keeps one breaker per host:port; 4xx answers do not count as failures."""
    with MockHttpServer() as other, HttpClient(retry=None, circuit_breaker=True) as client:
        server.enqueue(*[MockResponse(status=404) for _ in range(6)])
        for _ in range(6):
            with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
                client.get(server.url("/"))
        first = client.breaker_for(server.url("/"))
        second = client.breaker_for(other.url("/"))
        assert first is not None
        assert second is not None
        assert first is not second
        assert first is client.breaker_for(server.url("/again"))
        assert first.state is CircuitState.CLOSED
        assert client.breaker_for("https://example.com/") is not None


def test_shared_breaker_and_retries_stop_at_an_open_breaker(server: MockHttpServer) -> None:
    """One CircuitBreaker may guard every host; an open breaker ends the retry loop."""
    shared = CircuitBreaker("upstream", failure_threshold=1, reset_timeout=60)
    server.enqueue(*[MockResponse(status=503, headers={"Retry-After": "0"}) for _ in range(3)])
    with (
        HttpClient(retry=FAST, circuit_breaker=shared) as client,
        pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open"),
    ):
        client.get(server.url("/"))
    assert len(server.requests) == 1
    assert shared.state is CircuitState.OPEN
    with HttpClient(circuit_breaker=False) as client:
        assert client.breaker_for(server.url("/")) is None


@pytest.mark.anyio
async def test_async_retry_and_breaker(server: MockHttpServer) -> None:
    """The async client retries with Retry-After on the fake clock and opens the breaker."""
    clock = FakeClock()
    server.enqueue(MockResponse(status=503, headers={"Retry-After": "2"}), MockResponse(json=2))
    async with AsyncHttpClient(clock=clock, retry=FAST, timeout=HttpTimeout(deadline=None)) as client:
        assert (await client.get(server.url("/"))).json() == 2
    assert clock.sleeps == [2.0]

    def breaker(host: str) -> CircuitBreaker:
        return CircuitBreaker(host, failure_threshold=1, success_threshold=1, reset_timeout=5, clock=clock)

    server.enqueue(MockResponse(status=500))
    async with AsyncHttpClient(retry=None, circuit_breaker=breaker, clock=clock) as client:
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status"):
            await client.get(server.url("/"))
        with pytest.raises(CircuitOpenError, check=lambda e: e.code == "circuit.open"):
            await client.get(server.url("/"))
        clock.advance(6)
        assert (await client.get(server.url("/"))).status_code == 200


@pytest.mark.anyio
async def test_async_connection_refused_and_post_rules() -> None:
    """Async transport errors are retryable HttpErrors; refused POSTs are retried (never sent)."""
    url = f"http://127.0.0.1:{unused_port()}/"
    attempts: list[str] = []
    async with AsyncHttpClient(retry=FAST, on_request=[lambda r: attempts.append(r.method)]) as client:
        with pytest.raises(HttpError, check=lambda e: e.code == "http.transport") as info:
            await client.post(url, json={})
    assert info.value.status is None
    assert attempts == ["POST"] * 3


def test_retries_do_not_sleep_in_resilience_test_mode(server: MockHttpServer) -> None:
    """Under llm_infra.resilience.set_testing() retry waits are skipped (the suite stays fast)."""
    from llm_infra.resilience import set_testing

    slept: list[float] = []
    server.enqueue(MockResponse(status=503, headers={"Retry-After": "30"}), MockResponse())
    set_testing(True, attempts=2)
    try:
        with HttpClient(sleep=slept.append, retry=FAST, timeout=HttpTimeout(deadline=None)) as client:
            client.get(server.url("/"))
    finally:
        set_testing(False)
    assert slept == []
    assert len(server.requests) == 2


@pytest.mark.parametrize("use_async", [False, True])
def test_testing_mode_with_one_attempt_makes_exactly_one_call(
    server: MockHttpServer, use_async: bool
) -> None:
    """set_testing(True, attempts=1): HttpClient, AsyncHttpClient and @retry all make exactly 1 call."""
    import asyncio

    from llm_infra.resilience import retry, set_testing

    async def async_get() -> None:
        async with AsyncHttpClient(retry=RetryPolicy(max_attempts=4)) as client:
            await client.get(server.url("/"))

    def sync_get() -> None:
        with HttpClient(retry=RetryPolicy(max_attempts=4)) as client:
            client.get(server.url("/"))

    server.enqueue(*[MockResponse(status=503) for _ in range(4)])
    set_testing(True, attempts=1)
    try:
        with pytest.raises(HttpError) as info:
            asyncio.run(async_get()) if use_async else sync_get()
        assert info.value.code == "http.status"
        assert info.value.context.attributes["attempts"] == 1
        assert len(server.requests) == 1
        calls = 0

        @retry(RetryPolicy(max_attempts=4))
        def decorated() -> None:
            nonlocal calls
            calls += 1
            raise HttpError("busy", status=503)

        with pytest.raises(HttpError) as again:
            decorated()
        assert again.value.code == "http.status"
        assert calls == 1
    finally:
        set_testing(False)
