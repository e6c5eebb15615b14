"""Server middleware in process (httpx ASGITransport): ids, logs, spans, limits, CORS, problems."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llm_infra.errors import ConfigError, NotFoundError, RateLimitedError
from llm_infra.http import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    CorsConfig,
    CorsMiddleware,
    DeadlineMiddleware,
    HeaderLimitMiddleware,
    ProblemMiddleware,
    RequestIdMiddleware,
    TracingMiddleware,
    current_request_id,
    new_request_id,
    problem_response,
)
from llm_infra.testing import FakeClock

pytestmark = pytest.mark.anyio

Scope = dict[str, Any]


async def ok(scope: Scope, receive: Any, send: Any) -> None:
    """Answer 200 with the current request id (or "-") as the body."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": (current_request_id() or "-").encode()})


async def read_all(scope: Scope, receive: Any, send: Any) -> None:
    """Read the whole body and answer its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    "factory",
    [
        lambda app: RequestIdMiddleware(app),
        lambda app: AccessLogMiddleware(app),
        lambda app: TracingMiddleware(app),
        lambda app: HeaderLimitMiddleware(app),
        lambda app: BodyLimitMiddleware(app),
        lambda app: DeadlineMiddleware(app),
        lambda app: CorsMiddleware(app, CorsConfig(allow_origins=("*",))),
        lambda app: ProblemMiddleware(app),
    ],
)
async def test_non_http_scopes_pass_through(factory: Any) -> None:
    """Lifespan and websocket scopes are not touched by any middleware."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await factory(app)({"type": "lifespan"}, None, None)
    assert seen == ["lifespan"]


# --- request ids ---------------------------------------------------------------------------------


async def test_request_id_is_generated_exposed_and_echoed() -> None:
    """A request without an id gets a ULID, visible to the app and in the response header."""
    async with client(RequestIdMiddleware(ok)) as c:
        r = await c.get("/")
    assert len(r.headers["x-request-id"]) == 22
    assert r.text == r.headers["x-request-id"]
    assert current_request_id() is None


async def test_valid_incoming_request_id_is_reused_and_not_duplicated() -> None:
    """A valid client id is kept; the app's own header of that name is replaced."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"X-Request-ID", b"app")]})
        await send({"type": "http.response.body", "body": b""})

    async with client(RequestIdMiddleware(app)) as c:
        r = await c.get("/", headers={"x-request-id": "abc-123"})
    assert r.headers.get_list("x-request-id") == ["abc-123"]


@pytest.mark.parametrize("incoming", ["bad id with spaces", "x" * 129, "a;b", "<script>"])
async def test_invalid_incoming_request_id_is_replaced(incoming: str) -> None:
    """Ids with odd characters or over 128 characters are not trusted."""
    async with client(RequestIdMiddleware(ok)) as c:
        r = await c.get("/", headers={"x-request-id": incoming})
    assert r.headers["x-request-id"] != incoming
    assert len(r.headers["x-request-id"]) == 22


def test_new_request_ids_are_unique_and_reseeded_after_fork() -> None:
    """Ids are unique and increasing in a process; a forked child draws a new prefix."""
    from llm_infra.http import _mw_ids

    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)
    before = new_request_id()[:12]
    _mw_ids._reseed_request_ids()  # what os.register_at_fork runs in a child
    assert new_request_id()[:12] != before


async def test_untrusted_ids_and_custom_header_and_generator() -> None:
    """``trust_incoming=False`` always generates; header and generator are configurable."""
    app = RequestIdMiddleware(ok, header="X-Correlation-ID", trust_incoming=False, generator=lambda: "gen")
    async with client(app) as c:
        r = await c.get("/", headers={"x-correlation-id": "client"})
    assert r.headers["x-correlation-id"] == "gen"


# --- access log ----------------------------------------------------------------------------------


async def test_access_log_line_has_fields_but_no_query(caplog: pytest.LogCaptureFixture) -> None:
    """One INFO record per request with method, path, status, duration and no query string."""
    app = RequestIdMiddleware(AccessLogMiddleware(ok))
    with caplog.at_level(logging.INFO, logger="llm_infra.http.access"):
        async with client(app) as c:
            await c.get("/items?token=SECRET")
    records = [r for r in caplog.records if r.name == "llm_infra.http.access"]
    assert len(records) == 1
    record = records[0]
    assert record.getMessage().startswith("GET /items 200 ")
    assert "SECRET" not in record.getMessage()
    assert record.status_code == 200  # type: ignore[attr-defined]
    assert record.response_bytes == 22  # type: ignore[attr-defined]
    assert record.request_id  # type: ignore[attr-defined]
    assert record.client_address == "127.0.0.1"  # type: ignore[attr-defined]


async def test_access_log_records_failures_as_500(caplog: pytest.LogCaptureFixture) -> None:
    """A request whose app raises is logged with status 500 and the error propagates."""

    async def boom(scope: Scope, receive: Any, send: Any) -> None:
        raise RuntimeError("x")

    logger = logging.getLogger("test.access")
    with caplog.at_level(logging.INFO, logger="test.access"):
        with pytest.raises(RuntimeError):
            await AccessLogMiddleware(boom, logger=logger)(
                {"type": "http", "method": "GET", "path": "/"}, None, None
            )  # type: ignore[arg-type]
    assert "GET / 500" in caplog.text


# --- tracing -------------------------------------------------------------------------------------


def tracing() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return provider, exporter, MeterProvider(metric_readers=[reader]), reader


async def test_server_span_continues_the_callers_trace() -> None:
    """The span is SERVER, child of the traceparent, with semantic-convention attributes."""
    provider, exporter, meters, reader = tracing()

    async def route(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/items/{item_id}", route)])
    app = TracingMiddleware(inner, tracer_provider=provider, meter_provider=meters)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with client(app) as c:
        await c.get("/items/7?q=secret", headers={"traceparent": parent, "user-agent": "ua/1"})
    (span,) = exporter.get_finished_spans()
    assert span.kind is trace.SpanKind.SERVER
    assert span.name == "GET /items/{item_id}"
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    attrs = dict(span.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.path"] == "/items/7"
    assert attrs["http.route"] == "/items/{item_id}"
    assert attrs["http.response.status_code"] == 200
    assert attrs["user_agent.original"] == "ua/1"
    assert "secret" not in str(attrs)
    data = reader.get_metrics_data()
    assert data is not None
    names = [m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert "http.server.request.duration" in names
    provider.shutdown()
    meters.shutdown()


async def test_span_marks_5xx_and_exceptions_as_errors() -> None:
    """A 503 response and a raised InfraError both mark the span as an error."""
    provider, exporter, meters, _ = tracing()

    async def unavailable(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def missing(scope: Scope, receive: Any, send: Any) -> None:
        raise NotFoundError("gone")

    async with client(TracingMiddleware(unavailable, tracer_provider=provider, meter_provider=meters)) as c:
        await c.get("/")
    with pytest.raises(NotFoundError):
        async with client(TracingMiddleware(missing, tracer_provider=provider, meter_provider=meters)) as c:
            await c.get("/")
    first, second = exporter.get_finished_spans()
    assert first.status.status_code is trace.StatusCode.ERROR
    assert dict(first.attributes or {})["error.type"] == "503"
    attrs = dict(second.attributes or {})
    assert attrs["error.type"] == "NotFoundError"
    assert attrs["error.code"] == "not_found"
    assert second.events[0].name == "exception"
    provider.shutdown()
    meters.shutdown()


async def test_global_provider_path_keeps_the_callers_trace_current() -> None:
    """With the global provider (no SDK installed here), the app still runs in the caller's trace."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))
        if scope["path"] == "/boom":
            raise RuntimeError("x")
        status = 503 if scope["path"] == "/down" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    middleware = TracingMiddleware(app)
    async with client(middleware) as c:
        await c.get("/", headers={"traceparent": parent})
        await c.get("/down")
        with pytest.raises(RuntimeError):
            await c.get("/boom")
    assert seen[0] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace.get_current_span().get_span_context().is_valid is False

    # With a meter provider but the global tracer, durations are still measured.
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    measured = TracingMiddleware(app, meter_provider=meters)
    async with client(measured) as c:
        await c.get("/", headers={"traceparent": parent})
        await c.get("/down")
        with pytest.raises(RuntimeError):
            await c.get("/boom")
    assert seen[3] == "4bf92f3577b34da6a3ce929d0e0e4736"
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        dict(p.attributes or {})
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "http.server.request.duration"
        for p in m.data.data_points  # type: ignore[union-attr]
    ]
    assert {p.get("error.type") for p in points} == {None, "503", "RuntimeError"}
    meters.shutdown()


# --- header limits -------------------------------------------------------------------------------


async def test_too_many_headers_is_431() -> None:
    """More header lines than allowed: 431 problem+json."""
    app = HeaderLimitMiddleware(ok, max_headers=5)
    async with client(app) as c:
        r = await c.get("/", headers={f"x-{i}": "1" for i in range(10)})
    assert r.status_code == 431
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "http.too_many_headers"


async def test_oversize_headers_is_431_and_long_url_is_414() -> None:
    """Header bytes over the limit give 431; an overlong target gives 414."""
    app = HeaderLimitMiddleware(ok, max_header_bytes=1000, max_url_length=100)
    async with client(app) as c:
        big = await c.get("/", headers={"x-big": "a" * 2000})
        long = await c.get("/" + "a" * 200)
        fine = await c.get("/short")
    assert big.status_code == 431
    assert big.json()["code"] == "http.headers_too_large"
    assert long.status_code == 414
    assert fine.status_code == 200


def test_limits_must_be_positive() -> None:
    """Zero or negative limits are ConfigErrors."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "http.invalid_limit"):
        HeaderLimitMiddleware(ok, max_headers=0)
    with pytest.raises(ConfigError, check=lambda e: e.code == "http.invalid_limit"):
        BodyLimitMiddleware(ok, max_body_size=-1)
    with pytest.raises(ConfigError, check=lambda e: e.code == "http.invalid_limit"):
        DeadlineMiddleware(ok, body_timeout=0)


# --- body limit ----------------------------------------------------------------------------------


async def test_declared_oversize_body_is_refused_before_reading() -> None:
    """A Content-Length over the limit is answered 413 without calling the app."""
    called = False

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal called
        called = True

    async with client(BodyLimitMiddleware(app, max_body_size=10)) as c:
        r = await c.post("/", content=b"x" * 11)
    assert r.status_code == 413
    assert r.json()["code"] == "http.body_too_large"
    assert not called


async def test_streamed_oversize_body_is_refused() -> None:
    """A chunked body is counted as it arrives and refused past the limit."""

    async def chunks() -> Any:
        for _ in range(5):
            yield b"x" * 4

    async with client(BodyLimitMiddleware(read_all, max_body_size=10)) as c:
        r = await c.post("/", content=chunks())
        fine = await c.post("/", content=b"x" * 10)
    assert r.status_code == 413
    assert fine.text == "10"


async def test_refusal_wins_even_if_the_app_swallows_the_error() -> None:
    """An app that catches the receive error and answers 400 still yields the 413."""

    async def swallowing(scope: Scope, receive: Any, send: Any) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception:
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"parse error"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})  # pragma: no cover
        await send({"type": "http.response.body", "body": b""})  # pragma: no cover

    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * 8

    async with client(BodyLimitMiddleware(swallowing, max_body_size=10)) as c:
        r = await c.post("/", content=chunks())
    assert r.status_code == 413


async def test_receive_after_refusal_keeps_failing_and_silent_apps_get_the_refusal() -> None:
    """After the refusal, receive keeps raising; an app that sends nothing still yields the 413."""
    raised = 0

    async def stubborn(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal raised
        for _ in range(3):
            try:
                await receive()
            except Exception:
                raised += 1

    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * 8

    async with client(BodyLimitMiddleware(stubborn, max_body_size=10)) as c:
        r = await c.post("/", content=chunks())
    assert r.status_code == 413
    assert raised == 2


@pytest.mark.parametrize("value", ["abc", "-5"])
async def test_bad_content_length_is_400(value: str) -> None:
    """A Content-Length that is not a non-negative integer is a 400."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", value.encode())]}
    await BodyLimitMiddleware(ok)(scope, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 400


# --- body deadline -------------------------------------------------------------------------------


async def test_stalled_body_gets_408_and_connection_close() -> None:
    """A body that stops arriving is answered 408 with Connection: close after body_timeout."""
    sent: list[dict[str, Any]] = []
    never = asyncio.Event()
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"abc", "more_body": True}
        await never.wait()
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"100")]}
    await DeadlineMiddleware(read_all, body_timeout=0.05)(scope, receive, send)
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_deadline_does_not_bound_waiting_after_the_body() -> None:
    """Once the body is complete, receive (waiting for disconnect) is not timed."""
    messages = [
        {"type": "http.request", "body": b"ab", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return messages.pop(0)

    clock = FakeClock()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        clock.advance(0.08)  # longer than the body timeout
        assert (await receive())["type"] == "http.disconnect"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", b"2")]}
    await DeadlineMiddleware(app, body_timeout=0.05, clock=clock)(scope, receive, send)
    assert sent[0]["status"] == 200


async def test_expired_deadline_refuses_without_waiting() -> None:
    """A receive call after the deadline has passed is refused at once."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"a", "more_body": True}

    clock = FakeClock()

    async def slow_reader(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        clock.advance(0.06)
        await receive()

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"transfer-encoding", b"chunked")]}
    await DeadlineMiddleware(slow_reader, body_timeout=0.05, clock=clock)(scope, receive, send)
    assert sent[0]["status"] == 408


@pytest.mark.parametrize("factory", [BodyLimitMiddleware, DeadlineMiddleware])
@pytest.mark.parametrize(
    ("headers", "http_version", "wrapped"),
    [
        ([], "1.1", False),
        ([(b"content-length", b"0")], "1.1", False),
        ([(b"content-length", b"5")], "1.1", True),
        ([(b"transfer-encoding", b"chunked")], "1.1", True),
        ([], "2", True),
    ],
)
async def test_receive_is_wrapped_only_when_a_body_can_follow(
    factory: Any, headers: list[tuple[bytes, bytes]], http_version: str, wrapped: bool
) -> None:
    """Bodiless HTTP/1 requests reach the app with the server's own receive (no per-request cost)."""
    seen: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}  # pragma: no cover

    async def app(scope: Scope, rcv: Any, send: Any) -> None:
        seen.append(rcv)

    scope = {"type": "http", "headers": headers, "http_version": http_version}
    await factory(app)(scope, receive, None)
    assert (seen[0] is not receive) is wrapped


# --- CORS ----------------------------------------------------------------------------------------


async def test_cors_preflight_allowed_and_denied() -> None:
    """An allowed preflight gets 204 with the Allow-* headers; others get 403 problem+json."""
    config = CorsConfig(allow_origins=("https://app.example",), allow_credentials=True)
    async with client(CorsMiddleware(ok, config)) as c:
        good = await c.options(
            "/",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "PUT",
                "access-control-request-headers": "Content-Type, X-Request-ID",
            },
        )
        bad_origin = await c.options(
            "/", headers={"origin": "https://evil.example", "access-control-request-method": "GET"}
        )
        bad_header = await c.options(
            "/",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "GET",
                "access-control-request-headers": "x-evil",
            },
        )
    assert good.status_code == 204
    assert good.headers["access-control-allow-origin"] == "https://app.example"
    assert good.headers["access-control-allow-credentials"] == "true"
    assert "PUT" in good.headers["access-control-allow-methods"]
    assert good.headers["access-control-allow-headers"] == "content-type, x-request-id"
    assert good.headers["vary"] == "Origin"
    assert bad_origin.status_code == 403
    assert bad_origin.json()["code"] == "http.cors_denied"
    assert bad_header.status_code == 403


async def test_cors_simple_requests() -> None:
    """Allowed origins get Allow-Origin and Expose-Headers; others get no CORS headers."""
    async with client(CorsMiddleware(ok, CorsConfig(allow_origins=("*",), allow_headers=("*",)))) as c:
        anyone = await c.get("/", headers={"origin": "https://x.example"})
        no_origin = await c.get("/")
        preflight = await c.options(
            "/",
            headers={
                "origin": "https://x.example",
                "access-control-request-method": "GET",
                "access-control-request-headers": "x-anything",
            },
        )
    assert anyone.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in anyone.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in no_origin.headers
    assert preflight.status_code == 204
    async with client(CorsMiddleware(ok, CorsConfig(allow_origins=("https://a.example",)))) as c:
        other = await c.get("/", headers={"origin": "https://b.example"})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    "kwargs",
    [
        {"allow_origins": ("*",), "allow_credentials": True},
        {"allow_origins": ("https://a.example/path",)},
        {"allow_origins": "https://a.example"},
    ],
)
def test_cors_config_refuses_unsafe_settings(kwargs: dict[str, Any]) -> None:
    """Wildcard with credentials, origins with paths, and bare strings are refused."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "http.cors_invalid"):
        CorsConfig(**kwargs)


def test_cors_is_off_by_default() -> None:
    """An empty CorsConfig allows no origin."""
    assert not CorsConfig().origin_allowed("https://a.example")


# --- problems ------------------------------------------------------------------------------------


async def test_infra_error_becomes_its_problem_with_retry_after() -> None:
    """An InfraError is rendered with its status, code and a Retry-After header."""

    async def limited(scope: Scope, receive: Any, send: Any) -> None:
        raise RateLimitedError("slow down", retry_after=2.6)

    async with client(RequestIdMiddleware(ProblemMiddleware(limited))) as c:
        r = await c.get("/")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    body = r.json()
    assert body["code"] == "rate_limited"
    assert body["detail"] == "slow down"
    assert body["request_id"] == r.headers["x-request-id"]


async def test_unexpected_exception_is_a_bare_500_with_error_id(caplog: pytest.LogCaptureFixture) -> None:
    """Only an error id reaches the client; the traceback is logged under that id."""

    async def boom(scope: Scope, receive: Any, send: Any) -> None:
        raise RuntimeError("database password is hunter2")

    with caplog.at_level(logging.ERROR, logger="llm_infra.http.server"):
        async with client(ProblemMiddleware(boom)) as c:
            r = await c.get("/")
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"type", "title", "status", "code", "error_id"}
    assert "hunter2" not in r.text
    assert body["error_id"] in caplog.text
    assert "hunter2" in caplog.text  # the log keeps the detail for operators


async def test_5xx_infra_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A server-side InfraError (5xx) is logged with its code and error id."""
    from llm_infra.errors import ExternalError

    async def down(scope: Scope, receive: Any, send: Any) -> None:
        raise ExternalError("search backend down", service="qdrant")

    with caplog.at_level(logging.ERROR, logger="llm_infra.http.server"):
        async with client(ProblemMiddleware(down)) as c:
            r = await c.get("/")
    assert r.status_code == 502
    assert r.json()["error_id"] in caplog.text


async def test_errors_after_the_response_started_propagate() -> None:
    """An exception after the response began cannot be rendered and is re-raised."""

    async def half(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("mid-stream")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError):
        await ProblemMiddleware(half)({"type": "http", "headers": []}, None, send)  # type: ignore[arg-type]
    assert len(sent) == 1


async def test_exempt_exceptions_are_not_rendered() -> None:
    """Exception types listed in ``exempt`` propagate."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise KeyError("framework handles it")

    with pytest.raises(KeyError):
        await ProblemMiddleware(app, exempt=[KeyError])({"type": "http", "headers": []}, None, None)  # type: ignore[arg-type]


def test_problem_response_shape() -> None:
    """The helper mirrors InfraError.to_problem's fields."""
    body = problem_response(
        413, "Too big", "max 1", code="http.body_too_large", request_id="r", extra={"limit": 1}
    )
    assert body == {
        "type": "urn:llm-infra:problem:http.body_too_large",
        "title": "Too big",
        "status": 413,
        "detail": "max 1",
        "code": "http.body_too_large",
        "limit": 1,
        "request_id": "r",
    }
