"""MockHttpServer: scripted queues, handlers, defaults, bodies, lifecycle (driven with plain httpx)."""

from __future__ import annotations

import httpx
import pytest

from llm_infra.errors import ConfigError
from llm_infra.testing import MockHttpServer, MockResponse, RecordedRequest


def test_queues_by_method_and_path_then_handler_then_default() -> None:
    """Specific queues win over general ones; the handler and default answer the rest."""

    def handler(request: RecordedRequest) -> MockResponse:
        return MockResponse(status=201 if request.path == "/h" else 404)

    with MockHttpServer(MockResponse(status=202), handler=handler) as server:
        server.enqueue(MockResponse(status=203), method="post", path="/x")
        server.enqueue(MockResponse(status=204), path="/x")
        codes = [
            httpx.post(server.url("/x")).status_code,
            httpx.get(server.url("/x")).status_code,
            httpx.get(server.url("/x")).status_code,
            httpx.get(server.url("/h")).status_code,
            httpx.get(server.url("other")).status_code,
        ]
    assert codes == [203, 204, 202, 201, 404]


def test_default_answer_and_recorded_requests() -> None:
    """Unscripted requests get the default; bodies (chunked too), query and headers are recorded."""
    with MockHttpServer(default=MockResponse(json={"d": 1}, headers={"X-A": "b"})) as server:
        response = httpx.post(server.url("/p?x=1"), content=iter([b"ab", b"cd"]), headers={"X-In": "v"})
        assert response.json() == {"d": 1}
        assert response.headers["x-a"] == "b"
        head = httpx.head(server.url("/p"))
        assert head.status_code == 200
        assert head.content == b""
    recorded = server.requests[0]
    assert recorded.body == b"abcd"
    assert recorded.query == {"x": "1"}
    assert recorded.headers["x-in"] == "v"
    assert recorded.traceparent is None


def test_problem_and_text_bodies() -> None:
    """problem() builds RFC 9457 bodies; str bodies are UTF-8; explicit content types are kept."""
    problem = MockResponse.problem(409, "Conflict", "exists", code="already_exists", headers={"X-B": "1"})
    headers, body = problem.encoded()
    assert headers["Content-Type"] == "application/problem+json"
    assert b'"code":"already_exists"' in body
    assert MockResponse(body="é").encoded()[1] == "é".encode()
    custom = MockResponse(json=[1], headers={"content-type": "application/vnd+json"})
    assert custom.encoded()[0] == {"content-type": "application/vnd+json"}
    assert MockResponse.problem(500, "x").encoded()[1].count(b"detail") == 0


@pytest.mark.parametrize("kwargs", [{"status": 99}, {"delay": -1}, {"trickle": -0.1}, {"chunk_size": 0}])
def test_invalid_responses(kwargs: dict[str, object]) -> None:
    """Bad scripts are refused."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        MockResponse(**kwargs)  # type: ignore[arg-type]


def test_lifecycle_errors_and_idempotence() -> None:
    """port before start and client_ssl_context without TLS raise; start/stop are idempotent."""
    server = MockHttpServer()
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        _ = server.port
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        server.client_ssl_context()
    assert server.start() is server.start()
    server.stop()
    server.stop()


def test_stop_cuts_slow_answers_short() -> None:
    """Stopping the server ends a delayed or trickling answer instead of waiting for it."""
    import threading

    server = MockHttpServer(MockResponse(delay=30), MockResponse(body=b"x" * 100, trickle=30)).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(server.url("/"), timeout=10)
        except httpx.HTTPError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    import time

    deadline = time.monotonic() + 5
    while len(server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 2


@pytest.mark.anyio
async def test_async_context_manager() -> None:
    """``async with`` starts and stops the server."""
    async with MockHttpServer(MockResponse(json="a")) as server, httpx.AsyncClient() as client:
        assert (await client.get(server.url())).json() == "a"
