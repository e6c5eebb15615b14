"""RateLimitMiddleware: RateLimit-* headers, 429 problem+json, identity keys, on_limited hook."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from llm_infra.ratelimit import (
    Decision,
    RateLimiter,
    RateLimitEvent,
    RateLimitMiddleware,
    identity_subject,
    rate_limit_headers,
    request_key,
)
from llm_infra.testing import FakeClock


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app answering 200 "ok"."""
    if scope["type"] == "lifespan":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


@dataclass
class Identity:
    subject: str


def with_identity(app: Any) -> Any:
    """A stand-in auth middleware: ``X-User`` becomes ``scope["state"]["identity"]``."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for name, value in scope.get("headers", []):
            if name == b"x-user":
                scope.setdefault("state", {})["identity"] = Identity(value.decode())
        await app(scope, receive, send)

    return middleware


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.anyio
async def test_headers_on_allowed_and_problem_json_on_refused() -> None:
    """Allowed responses carry RateLimit-*; the refusal is a 429 problem+json with Retry-After."""
    limiter = RateLimiter(2, 60.0, clock=FakeClock())
    app = RateLimitMiddleware(hello, limiter)
    async with client(app) as c:
        first = await c.get("/")
        assert first.status_code == 200
        assert first.headers["ratelimit-limit"] == "2"
        assert first.headers["ratelimit-remaining"] == "1"
        assert first.headers["ratelimit-reset"] == "30"
        assert first.headers["ratelimit-policy"] == "2;w=60"
        await c.get("/")
        refused = await c.get("/")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit-remaining"] == "0"
    body = refused.json()
    assert body["status"] == 429
    assert body["code"] == "rate_limited"
    assert body["retry_after"] == pytest.approx(30.0)


@pytest.mark.anyio
async def test_identity_keys_are_separate_from_addresses() -> None:
    """Authenticated users are limited by subject, anonymous ones by client address."""
    limiter = RateLimiter(1, 60.0, clock=FakeClock())
    app = with_identity(RateLimitMiddleware(hello, limiter))
    async with client(app) as c:
        assert (await c.get("/", headers={"x-user": "alice"})).status_code == 200
        assert (await c.get("/", headers={"x-user": "bob"})).status_code == 200
        assert (await c.get("/")).status_code == 200
        assert (await c.get("/", headers={"x-user": "alice"})).status_code == 429
        assert (await c.get("/")).status_code == 429


@pytest.mark.anyio
async def test_on_limited_receives_the_audit_fields() -> None:
    """Each refusal calls on_limited (sync or async) with identity, endpoint, limit and window."""
    events: list[RateLimitEvent] = []

    async def record(event: RateLimitEvent) -> None:
        events.append(event)

    limiter = RateLimiter(1, 10.0, clock=FakeClock())
    app = with_identity(RateLimitMiddleware(hello, limiter, on_limited=record))
    async with client(app) as c:
        await c.post("/v1/search", headers={"x-user": "carol"})
        await c.post("/v1/search", headers={"x-user": "carol"})
    assert len(events) == 1
    event = events[0]
    assert (event.identity, event.endpoint, event.limit, event.window) == (
        "carol",
        "POST /v1/search",
        1,
        10.0,
    )
    assert event.key == "id:-:-:carol"
    assert event.retry_after == pytest.approx(10.0)


@pytest.mark.anyio
async def test_failing_on_limited_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A broken audit hook does not turn the 429 into a 500."""

    def broken(event: RateLimitEvent) -> None:
        raise RuntimeError("audit down")

    app = RateLimitMiddleware(hello, RateLimiter(1, 10.0, clock=FakeClock()), on_limited=broken)
    with caplog.at_level(logging.ERROR, logger="llm_infra.ratelimit"):
        async with client(app) as c:
            await c.get("/")
            assert (await c.get("/")).status_code == 429
    assert "on_limited callback failed" in caplog.text


@pytest.mark.anyio
async def test_exempt_paths_key_none_and_cost() -> None:
    """Exempt paths and None keys bypass the limit; ``cost`` weighs requests."""
    limiter = RateLimiter(4, 60.0, clock=FakeClock())
    app = RateLimitMiddleware(
        hello,
        limiter,
        exempt_paths={"/healthz"},
        key=lambda scope: None if scope["path"] == "/free" else "all",
        cost=lambda scope: 3 if scope["path"] == "/heavy" else 1,
    )
    async with client(app) as c:
        for _ in range(5):
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/free")).status_code == 200
        heavy = await c.get("/heavy")
        assert heavy.headers["ratelimit-remaining"] == "1"
        assert (await c.get("/heavy")).status_code == 429


@pytest.mark.anyio
async def test_non_http_scopes_pass_through() -> None:
    """Lifespan (and websocket) scopes are not limited."""
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = RateLimitMiddleware(app, RateLimiter(1, 1.0))
    await middleware({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


@pytest.mark.anyio
async def test_request_id_is_copied_into_the_problem() -> None:
    """A request id placed in the scope state by an outer middleware appears in the 429 body."""

    def with_request_id(app: Any) -> Any:
        async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope.setdefault("state", {})["request_id"] = "req-1"
            await app(scope, receive, send)

        return middleware

    app = with_request_id(RateLimitMiddleware(hello, RateLimiter(1, 1.0, clock=FakeClock())))
    async with client(app) as c:
        await c.get("/")
        assert (await c.get("/")).json()["request_id"] == "req-1"


def test_key_helpers() -> None:
    """Identity may be an object, a mapping or a string; else the client address is used."""
    assert identity_subject({"state": {"identity": {"subject": "m"}}}) == "m"
    assert identity_subject({"state": {"identity": "s"}}) == "s"
    assert identity_subject({"state": {"identity": Identity("o")}}) == "o"
    assert identity_subject({"state": {"identity": object()}}) is None
    assert identity_subject({"state": {"other": 1}}) is None
    assert identity_subject({}) is None
    assert request_key({"client": ("10.0.0.1", 5)}) == "ip:10.0.0.1"
    assert request_key({}) == "ip:unknown"
    assert request_key({"state": {"identity": "x"}}) == "id:-:-:x"


def test_headers_round_retry_after_up_to_one_second() -> None:
    """Retry-After is whole seconds, at least 1."""
    headers = dict(rate_limit_headers(Decision(False, 0, 0.2, 0.2, 5), 1.0))
    assert headers[b"retry-after"] == b"1"
    assert headers[b"ratelimit-reset"] == b"1"
    assert b"retry-after" not in dict(rate_limit_headers(Decision(True, 4, 0.0, 0.2, 5), 1.0))
