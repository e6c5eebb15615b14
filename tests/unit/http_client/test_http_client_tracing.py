"""Trace context from client to server, one CLIENT span per attempt, and client metrics."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from llm_infra.errors import HttpError
from llm_infra.http import AsyncHttpClient, HttpClient
from llm_infra.otel import ExporterConfig, OtelConfig, init_otel, span
from llm_infra.resilience import RetryPolicy
from llm_infra.testing import MockHttpServer, MockResponse, capture_spans

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)


def test_trace_context_reaches_the_server_as_parent(
    traced_server: MockHttpServer, wait_for: Callable[..., None]
) -> None:
    """app span -> client span -> server span share one trace, linked parent to child, in memory."""
    config = OtelConfig(service_name="http-test", exporter=ExporterConfig.memory(), prometheus=False)
    with init_otel(config) as guard:
        with span("app.work"), HttpClient() as client:
            client.get(traced_server.url("/items?api_key=secret123"))
        wait_for(lambda: len(guard.finished_spans()) == 3)
        spans = {s.name: s for s in guard.finished_spans()}
    app, client_span, server_span = spans["app.work"], spans["GET"], spans["GET /items"]
    assert client_span.kind is SpanKind.CLIENT
    assert server_span.kind is SpanKind.SERVER
    assert {app.context.trace_id, client_span.context.trace_id, server_span.context.trace_id} == {
        app.context.trace_id
    }
    assert client_span.parent is not None
    assert client_span.parent.span_id == app.context.span_id
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.parent.is_remote
    traceparent = traced_server.requests[0].traceparent
    assert traceparent is not None
    assert traceparent.split("-")[2] == format(client_span.context.span_id, "016x")
    attrs = dict(client_span.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == traced_server.port
    assert attrs["url.scheme"] == "http"
    assert attrs["network.protocol.version"] == "1.1"
    assert "secret123" not in str(attrs["url.full"])


def test_one_span_per_attempt_and_metrics(server: MockHttpServer) -> None:
    """Each retry is its own span (resend_count) and duration measurement; retries are counted."""
    config = OtelConfig(service_name="http-test", exporter=ExporterConfig.memory(), prometheus=False)
    server.enqueue(MockResponse(status=503, headers={"Retry-After": "0"}), MockResponse(json=1))
    with init_otel(config) as guard:
        with HttpClient(retry=FAST) as client:
            client.get(server.url("/"))
        spans = [s for s in guard.finished_spans() if s.name == "GET"]
        durations = guard.metric_points("http.client.request.duration")
        retries = guard.metric_points("llm_infra.http.client.retries")
    first, second = spans
    assert "http.request.resend_count" not in (first.attributes or {})
    assert dict(second.attributes or {})["http.request.resend_count"] == 1
    assert first.status.status_code is StatusCode.ERROR
    assert dict(first.attributes or {})["error.type"] == "503"
    assert second.status.status_code is StatusCode.UNSET
    assert sum(p.count for p in durations) == 2
    assert {p.attributes.get("http.response.status_code") for p in durations} == {503, 200}
    assert sum(p.value for p in retries) == 1
    first_tp = server.requests[0].traceparent
    second_tp = server.requests[1].traceparent
    assert first_tp is not None
    assert second_tp is not None
    assert first_tp != second_tp


def test_transport_errors_are_recorded_on_the_span() -> None:
    """A refused connection ends its span with ERROR, error.type and the exception event."""
    from llm_infra.testing import unused_port

    with (
        capture_spans() as spans,
        HttpClient(retry=None) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.transport"),
    ):
        client.get(f"http://127.0.0.1:{unused_port()}/")
    (attempt,) = spans
    attrs = dict(attempt.attributes or {})
    assert attrs["error.type"] == "http.transport"
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.events[0].name == "exception"


def test_propagation_can_be_switched_off(server: MockHttpServer) -> None:
    """propagate=False sends no traceparent."""
    with capture_spans(), span("app"), HttpClient(propagate=False) as client:
        client.get(server.url("/"))
    assert server.requests[0].traceparent is None


def test_hook_errors_end_the_span_and_propagate(server: MockHttpServer) -> None:
    """An exception from a hook is recorded on the attempt span and re-raised unchanged."""

    def broken(request: object) -> None:
        raise RuntimeError("hook failed")

    with capture_spans() as spans, HttpClient(on_request=[broken], circuit_breaker=True) as client:
        with pytest.raises(RuntimeError):
            client.get(server.url("/"))
        breaker = client.breaker_for(server.url("/"))
    assert spans[0].status.status_code is StatusCode.ERROR
    assert breaker is not None


@pytest.mark.anyio
async def test_async_trace_propagation(traced_server: MockHttpServer, wait_for: Callable[..., None]) -> None:
    """The async client propagates context the same way."""
    with capture_spans() as spans:
        async with AsyncHttpClient() as client:
            with span("app.async"):
                await client.get(traced_server.url("/a"))
        wait_for(lambda: len(spans) == 3)
    by_name = {s.name: s for s in spans}
    server_span = by_name["GET /a"]
    assert server_span.parent is not None
    assert server_span.parent.span_id == by_name["GET"].context.span_id


@pytest.mark.anyio
async def test_async_hook_errors_propagate(server: MockHttpServer) -> None:
    """An async hook raising ends the span and propagates."""

    async def broken(response: object) -> None:
        raise RuntimeError("bad hook")

    with capture_spans() as spans:
        async with AsyncHttpClient(on_response=[broken]) as client:
            with pytest.raises(RuntimeError):
                await client.get(server.url("/"))
    assert spans[0].status.status_code is StatusCode.ERROR
