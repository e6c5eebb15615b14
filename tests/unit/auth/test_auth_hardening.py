"""Regression tests for the service-layer hardening: root_path, deny by default, brute force, order."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from llm_infra.audit import AuthorizationCheck, SecurityAuditLog
from llm_infra.auth import (
    ApiKeyAuthenticator,
    AuthMiddleware,
    Credentials,
    Identity,
    JwtAuthenticator,
    MemoryKeyStore,
    MultiAuthenticator,
    RbacPolicy,
    secure_stack,
)
from llm_infra.crypto import JwtSigner, JwtValidator
from llm_infra.errors import ConfigError
from llm_infra.json import loads
from llm_infra.ratelimit import RateLimiter, RateLimitMiddleware
from llm_infra.testing import FakeClock
from llm_infra.testing._audit import capture_audit

SECRET = b"hardening-secret-0123456789abcdef!"
POLICY = RbacPolicy.from_dict(
    {"roles": {"reader": ["vector:search:collection/*"], "writer": ["vector:write:collection/*"]}}
)


def permission_for(scope: Any) -> tuple[str, str] | None:
    """The documented example: it only knows route paths."""
    if scope["path"].startswith("/collections/"):
        action = "vector:search" if scope["method"] == "GET" else "vector:write"
        return action, "collection/" + scope["path"].split("/")[2]
    return None


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    identity = scope.get("state", {}).get("identity")
    body = (identity.subject if identity is not None else "-").encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


class Counting:
    """An authenticator wrapper that counts how often authentication actually ran."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def supports(self, credentials: Credentials) -> bool:
        return bool(self.inner.supports(credentials))

    def authenticate(self, credentials: Any) -> Identity:
        self.calls += 1
        return self.inner.authenticate(credentials)  # type: ignore[no-any-return]

    async def aauthenticate(self, credentials: Any) -> Identity:
        self.calls += 1
        return await self.inner.aauthenticate(credentials)  # type: ignore[no-any-return]


def _client(app: Any, *, root_path: str = "", host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.anyio
async def test_root_path_does_not_bypass_permissions() -> None:
    """Under root_path="/api" the permission function sees the route path; writes are checked.

    Regression: permission_for saw "/api/collections/docs", returned None, and the request
    passed with no permission check and no audit event.
    """
    keys = ApiKeyAuthenticator(MemoryKeyStore())
    reader = keys.create("reader-svc", ["reader"])
    seen: list[str] = []

    def recording(scope: Any) -> tuple[str, str] | None:
        seen.append(scope["path"])
        return permission_for(scope)

    app = AuthMiddleware(ok_app, authenticator=keys, policy=POLICY, permission_for=recording)
    with capture_audit() as audit:
        async with _client(app, root_path="/api") as client:
            search = await client.get("/api/collections/docs", headers={"X-API-Key": reader})
            write = await client.post("/api/collections/docs", headers={"X-API-Key": reader})
    assert search.status_code == 200
    assert write.status_code == 403
    assert loads(write.content)["code"] == "auth.insufficient_permissions"
    assert seen == ["/collections/docs", "/collections/docs"]
    checks = audit.of_type(AuthorizationCheck)
    assert [(c.action, c.granted) for c in checks] == [("vector:search", True), ("vector:write", False)]


@pytest.mark.anyio
async def test_unmapped_routes_are_denied_by_default_and_audited() -> None:
    """A route permission_for does not map is 403 auth.unmapped_route, with an AuthorizationCheck."""
    keys = ApiKeyAuthenticator(MemoryKeyStore())
    writer = keys.create("w", ["writer", "reader"])
    app = AuthMiddleware(ok_app, authenticator=keys, policy=POLICY, permission_for=permission_for)
    with capture_audit() as audit:
        async with _client(app, root_path="/api") as client:
            admin = await client.get("/api/admin/users", headers={"X-API-Key": writer})
            health = await client.get("/api/healthz")
            health_with_key = await client.get("/api/healthz", headers={"X-API-Key": writer})
            outside = await client.get("/apix/collections/docs", headers={"X-API-Key": writer})
    assert admin.status_code == 403
    assert loads(admin.content)["code"] == "auth.unmapped_route"
    assert health.status_code == 200  # explicitly public (exempt_paths), under root_path too
    assert health_with_key.text == "w"
    assert outside.status_code == 403  # "/apix" is not under "/api": no prefix confusion
    denied = [c for c in audit.of_type(AuthorizationCheck) if not c.granted]
    assert [(c.identity, c.resource, c.action) for c in denied] == [
        ("w", "/admin/users", "unmapped_route"),
        ("w", "/apix/collections/docs", "unmapped_route"),
    ]


@pytest.mark.anyio
async def test_failed_attempts_are_rate_limited_before_authentication() -> None:
    """After the failure budget, even a valid key is refused with 429 and authentication never runs."""
    clock = FakeClock()
    keys = ApiKeyAuthenticator(MemoryKeyStore(), clock=clock)
    good = keys.create("svc")
    counting = Counting(keys)
    budget = RateLimiter(3, 60.0, clock=clock)
    app = AuthMiddleware(ok_app, authenticator=counting, failure_limiter=budget)
    async with _client(app, host="2001:db8:1:2::10") as client:
        for i in range(3):
            bad = await client.get("/x", headers={"X-API-Key": f"lli_{'a' * 16}_{str(i) * 56}"})
            assert bad.status_code == 401
        runs = counting.calls
        blocked = await client.get("/x", headers={"X-API-Key": good})
    assert blocked.status_code == 429
    assert loads(blocked.content)["code"] == "auth.too_many_failures"
    assert int(blocked.headers["retry-after"]) >= 1
    assert counting.calls == runs  # refused before the authenticator ran
    # Rotating the address inside the same /64 does not help; another network is unaffected.
    async with _client(app, host="2001:db8:1:2:ffff::1") as rotated:
        assert (await rotated.get("/x", headers={"X-API-Key": good})).status_code == 429
    async with _client(app, host="2001:db8:1:3::1") as other:
        assert (await other.get("/x", headers={"X-API-Key": good})).status_code == 200
    clock.advance(61.0)
    async with _client(app, host="2001:db8:1:2::10") as later:
        assert (await later.get("/x", headers={"X-API-Key": good})).status_code == 200


@pytest.mark.anyio
async def test_the_brute_force_budget_is_on_by_default() -> None:
    """Without a failure_limiter argument, 20 failures per minute per network is the budget."""
    keys = ApiKeyAuthenticator(MemoryKeyStore())
    app = AuthMiddleware(ok_app, authenticator=keys)
    async with _client(app) as client:
        statuses = [
            (await client.get("/x", headers={"Authorization": "Bearer not-a-key"})).status_code
            for _ in range(21)
        ]
    assert statuses == [401] * 20 + [429]


def test_turning_the_budget_off_is_loud(caplog: pytest.LogCaptureFixture) -> None:
    """failure_limiter=None is allowed but logged as a warning."""
    with caplog.at_level(logging.WARNING, logger="llm_infra.auth"):
        AuthMiddleware(ok_app, authenticator=ApiKeyAuthenticator(MemoryKeyStore()), failure_limiter=None)
    assert "no failure_limiter" in caplog.text


def test_ipv6_prefix_is_validated() -> None:
    """An out-of-range prefix is refused by both middlewares."""
    keys = ApiKeyAuthenticator(MemoryKeyStore())
    with pytest.raises(ConfigError) as auth_info:
        AuthMiddleware(ok_app, authenticator=keys, ipv6_prefix=8)
    assert auth_info.value.code == "auth.invalid_option"
    with pytest.raises(ConfigError) as rl_info:
        RateLimitMiddleware(ok_app, RateLimiter(1, 1.0), ipv6_prefix=129)
    assert rl_info.value.code == "ratelimit.invalid"


@pytest.mark.anyio
async def test_rate_limit_outside_auth_is_loud() -> None:
    """A RateLimitMiddleware(require_identity=True) that runs before authentication raises."""
    keys = ApiKeyAuthenticator(MemoryKeyStore())
    wrong = RateLimitMiddleware(
        AuthMiddleware(ok_app, authenticator=keys), RateLimiter(5, 60.0), require_identity=True
    )
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "client": ("10.0.0.1", 1)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        raise AssertionError("nothing may be sent")

    with pytest.raises(ConfigError) as info:
        await wrong(scope, receive, send)
    assert info.value.code == "ratelimit.misordered"


@pytest.mark.anyio
async def test_secure_stack_limits_per_tenant_and_issuer() -> None:
    """secure_stack keys the request limit by tenant+issuer+subject: same sub, two tenants, two budgets."""
    clock = FakeClock()
    signer = JwtSigner.hs256(SECRET, clock=clock)
    jwt = JwtAuthenticator(JwtValidator.hs256(SECRET, clock=clock))
    app = secure_stack(
        ok_app,
        authenticator=MultiAuthenticator([jwt]),
        limiter=RateLimiter(2, 60.0, clock=clock),
        audit=SecurityAuditLog(flush_interval=None),
    )
    a = signer.sign({"sub": "alice", "tenant": "a"})
    b = signer.sign({"sub": "alice", "tenant": "b"})
    async with _client(app) as client:
        codes_a = [
            (await client.get("/x", headers={"Authorization": f"Bearer {a}"})).status_code for _ in range(3)
        ]
        code_b = (await client.get("/x", headers={"Authorization": f"Bearer {b}"})).status_code
        health = [(await client.get("/healthz")).status_code for _ in range(5)]
    assert codes_a == [200, 200, 429]
    assert code_b == 200
    assert health == [200] * 5


@pytest.mark.anyio
async def test_a_full_failure_table_fails_closed_for_new_networks() -> None:
    """When live failure states fill the budget's table, a new network cannot get free guesses."""
    from llm_infra.ratelimit import MemoryBackend

    clock = FakeClock()
    keys = ApiKeyAuthenticator(MemoryKeyStore(), clock=clock)
    good = keys.create("svc")
    budget = RateLimiter(5, 60.0, clock=clock, backend=MemoryBackend(max_keys=2))
    app = AuthMiddleware(ok_app, authenticator=keys, failure_limiter=budget)
    for host in ("10.0.0.1", "10.0.0.2"):
        async with _client(app, host=host) as client:
            assert (await client.get("/x", headers={"X-API-Key": "lli_bad"})).status_code == 401
    async with _client(app, host="10.0.0.3") as newcomer:
        refused = await newcomer.get("/x", headers={"X-API-Key": good})
    assert refused.status_code == 429
    assert loads(refused.content)["code"] == "auth.too_many_failures"
    clock.advance(61.0)  # the live failure states expire: room again
    async with _client(app, host="10.0.0.3") as newcomer:
        assert (await newcomer.get("/x", headers={"X-API-Key": good})).status_code == 200
