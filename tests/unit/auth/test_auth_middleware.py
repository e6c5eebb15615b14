"""AuthMiddleware under a real Starlette app: credentials, 401/403 problem+json, audit events, websockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from llm_infra.audit import (
    AuthenticationAttempt,
    AuthMethod,
    AuthorizationCheck,
    MemoryAuditSink,
    SecurityAuditLog,
)
from llm_infra.auth import (
    ApiKeyAuthenticator,
    AuthMiddleware,
    Credentials,
    Identity,
    JwtAuthenticator,
    MemoryKeyStore,
    MultiAuthenticator,
    RbacPolicy,
    extract_credentials,
)
from llm_infra.crypto import JwtSigner, JwtValidator
from llm_infra.errors import AuthError, ConfigError, IoError
from llm_infra.json import loads
from llm_infra.testing import FakeClock
from llm_infra.testing._audit import capture_audit

SECRET = b"middleware-secret-0123456789abcdef"
POLICY = RbacPolicy.from_dict(
    {
        "roles": {
            "user": ["profile:read:self"],
            "reader": {"inherits": ["user"], "allow": ["vector:read:collection/*"]},
            "writer": {"inherits": ["reader"], "allow": ["vector:write:collection/*"]},
        }
    }
)


def permission_for(scope: Any) -> tuple[str, str] | None:
    path = scope["path"]
    if path in ("/whoami", "/ws"):
        return "profile:read", "self"
    if path.startswith("/collections/"):
        action = "vector:read" if scope["method"] == "GET" else "vector:write"
        return action, "collection/" + path.removeprefix("/collections/")
    return None


async def whoami(request: Request) -> JSONResponse:
    identity = request.state.identity
    body: dict[str, Any] = {"subject": None if identity is None else identity.subject}
    if identity is not None:
        body["user"] = request.user.subject
        body["roles"] = sorted(identity.roles)
    return JSONResponse(body)


async def collection(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("healthy")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.scope["identity"].subject)
    await websocket.close()


class Env:
    def __init__(
        self, *, allow_anonymous: bool = False, authenticator: Any = None, rbac: bool = True
    ) -> None:
        self.clock = FakeClock()
        self.keys = ApiKeyAuthenticator(MemoryKeyStore(), clock=self.clock)
        self.signer = JwtSigner.hs256(SECRET, clock=self.clock)
        self.jwt = JwtAuthenticator(JwtValidator.hs256(SECRET, clock=self.clock, leeway=0))
        self.sink = MemoryAuditSink()
        self.audit = SecurityAuditLog([self.sink], flush_interval=None)
        self.app = Starlette(
            routes=[
                Route("/whoami", whoami),
                Route("/collections/{name}", collection, methods=["GET", "POST"]),
                Route("/healthz", health),
                WebSocketRoute("/ws", ws_echo),
            ],
            middleware=[
                Middleware(
                    AuthMiddleware,
                    authenticator=authenticator or MultiAuthenticator([self.keys, self.jwt]),
                    audit=self.audit,
                    policy=POLICY if rbac else None,
                    permission_for=permission_for if rbac else None,
                    allow_anonymous=allow_anonymous,
                )
            ],
        )

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")


@pytest.fixture
def env() -> Env:
    return Env()


@pytest.fixture
async def client(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with env.client() as c:
        yield c


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = loads(response.content)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:llm-infra:problem:{code}"
    if status == 401:
        assert response.headers["www-authenticate"] == 'Bearer realm="llm-infra"'
    else:
        assert "www-authenticate" not in response.headers
    return body


@pytest.mark.anyio
async def test_api_key_in_x_api_key_header(env: Env, client: httpx.AsyncClient) -> None:
    """X-API-Key authenticates; the identity reaches request.state and request.user."""
    key = env.keys.create("svc", ["reader"])
    response = await client.get("/whoami", headers={"X-API-Key": key, "User-Agent": "tests/1"})
    assert response.status_code == 200
    assert response.json() == {"subject": "svc", "user": "svc", "roles": ["reader"]}
    event = [e for e in env.audit._buffer if isinstance(e, AuthenticationAttempt)][-1]
    assert (event.identity, event.method, event.success, event.user_agent) == (
        "svc",
        AuthMethod.API_KEY,
        True,
        "tests/1",
    )
    assert event.ip_address == "127.0.0.1"


@pytest.mark.anyio
async def test_api_key_as_bearer_and_jwt_bearer(env: Env, client: httpx.AsyncClient) -> None:
    """A Bearer value starting with lli_ is an API key; any other Bearer value is a JWT."""
    key = env.keys.create("svc", ["user"])
    token = env.signer.sign({"sub": "alice", "roles": ["writer"]}, expires_in=60)
    assert (await client.get("/whoami", headers={"Authorization": f"Bearer {key}"})).json()[
        "subject"
    ] == "svc"
    response = await client.get("/whoami", headers={"Authorization": f"bearer {token}"})
    assert response.json() == {"subject": "alice", "user": "alice", "roles": ["writer"]}
    methods = [e.method for e in env.audit._buffer if isinstance(e, AuthenticationAttempt)]
    assert methods == [AuthMethod.API_KEY, AuthMethod.JWT]


@pytest.mark.anyio
async def test_missing_credentials_is_401(client: httpx.AsyncClient) -> None:
    """No credentials: 401 problem with auth.missing_credentials and a Bearer challenge."""
    body = assert_problem(await client.get("/whoami"), 401, "auth.missing_credentials")
    assert body["detail"] == "authentication required"
    assert body["retryable"] is False


@pytest.mark.anyio
async def test_exempt_paths_need_no_credentials(client: httpx.AsyncClient) -> None:
    """/healthz is served without credentials."""
    response = await client.get("/healthz")
    assert (response.status_code, response.text) == (200, "healthy")


@pytest.mark.anyio
async def test_invalid_key_is_401_and_audited_by_key_id(env: Env, client: httpx.AsyncClient) -> None:
    """A wrong key gets 401 invalid_credentials; the audit event names the key id, not the key."""
    key = env.keys.create("svc")
    wrong = key[:-1] + ("a" if key[-1] != "a" else "b")
    with capture_audit() as audit:
        response = await client.get("/whoami", headers={"X-API-Key": wrong})
    assert_problem(response, 401, "auth.invalid_credentials")
    [event] = audit.of_type(AuthenticationAttempt)
    assert event.identity == f"api_key:{env.keys.key_id_of(key)}"
    assert not event.success
    assert event.reason == "auth.invalid_credentials"
    assert wrong not in audit.text
    assert wrong[-56:] not in response.text


@pytest.mark.anyio
async def test_expired_token_is_401_token_expired(env: Env, client: httpx.AsyncClient) -> None:
    """An expired JWT gets 401 auth.token_expired."""
    token = env.signer.sign({"sub": "alice"}, expires_in=10)
    env.clock.advance(11)
    with capture_audit() as audit:
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "auth.token_expired")
    [event] = audit.of_type(AuthenticationAttempt)
    assert (event.identity, event.method, event.success) == ("unknown", AuthMethod.JWT, False)
    assert token not in audit.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        [("Authorization", "Basic dXNlcjpwYXNz")],
        [("Authorization", "Bearer")],
        [("Authorization", "Bearer a b")],
        [("Authorization", "Bearer tok\\en")],
        [("X-API-Key", "   ")],
        [("Authorization", "Bearer " + "a" * 9000)],
        [("Authorization", "Bearer abc"), ("X-API-Key", "lli_x")],
        [("X-API-Key", "a"), ("X-API-Key", "b")],
    ],
)
async def test_malformed_or_ambiguous_credentials_are_401(
    client: httpx.AsyncClient, headers: list[tuple[str, str]]
) -> None:
    """Other schemes, malformed, oversized, repeated or conflicting credentials: 401 invalid_credentials."""
    with capture_audit() as audit:
        response = await client.get("/whoami", headers=headers)
    assert_problem(response, 401, "auth.invalid_credentials")
    assert [e.success for e in audit.of_type(AuthenticationAttempt)] == [False]


@pytest.mark.anyio
async def test_permission_denied_is_403_and_audited(env: Env, client: httpx.AsyncClient) -> None:
    """A reader may GET but not POST a collection: 403 insufficient_permissions and an AuthorizationCheck."""
    key = env.keys.create("svc", ["reader"])
    assert (await client.get("/collections/docs", headers={"X-API-Key": key})).status_code == 200
    with capture_audit() as audit:
        response = await client.post("/collections/docs", headers={"X-API-Key": key})
    assert_problem(response, 403, "auth.insufficient_permissions")
    [check] = audit.of_type(AuthorizationCheck)
    assert (check.identity, check.action, check.resource, check.granted) == (
        "svc",
        "vector:write",
        "collection/docs",
        False,
    )
    writer = env.keys.create("w", ["writer"])
    assert (await client.post("/collections/docs", headers={"X-API-Key": writer})).status_code == 200


@pytest.mark.anyio
async def test_anonymous_requests_when_allowed() -> None:
    """allow_anonymous (without RBAC) lets requests without credentials through; bad ones still fail."""
    env = Env(allow_anonymous=True, rbac=False)
    async with env.client() as client:
        assert (await client.get("/whoami")).json() == {"subject": None}
        assert (await client.get("/whoami", headers={"X-API-Key": "nope"})).status_code == 401
    with_policy = Env(allow_anonymous=True)  # under a policy only exempt paths are anonymous
    async with with_policy.client() as client:
        assert_problem(await client.get("/whoami"), 401, "auth.missing_credentials")
        assert (await client.get("/healthz")).status_code == 200


class BrokenAuthenticator:
    def supports(self, credentials: Credentials) -> bool:
        return True

    def authenticate(self, credentials: Any) -> Identity:
        raise IoError("key store unavailable", code="auth.keystore_io")

    async def aauthenticate(self, credentials: Any) -> Identity:
        return self.authenticate(credentials)


@pytest.mark.anyio
async def test_backend_failure_is_its_own_problem() -> None:
    """A store outage answers with that error's status and code (not 401), and no audit event."""
    env = Env(authenticator=BrokenAuthenticator())
    async with env.client() as client:
        with capture_audit() as audit:
            response = await client.get("/whoami", headers={"X-API-Key": "lli_x"})
    assert_problem(response, 500, "auth.keystore_io")
    assert audit.of_type(AuthenticationAttempt) == []


@pytest.mark.anyio
async def test_non_http_scopes_pass_through(env: Env) -> None:
    """Lifespan messages reach the app untouched."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = AuthMiddleware(app, authenticator=env.keys)
    await middleware({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


@pytest.mark.anyio
async def test_raw_scope_edge_cases(env: Env) -> None:
    """Non-ASCII header bytes are refused; a missing client or odd client host gives no IP."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("must not be reached")

    middleware = AuthMiddleware(app, authenticator=env.keys, audit=env.audit)
    scope = {
        "type": "http",
        "path": "/x",
        "method": "GET",
        "headers": [(b"x-api-key", "clé".encode())],
        "client": ("testclient", 1),
    }
    with capture_audit() as audit:
        await middleware(scope, None, send)  # type: ignore[arg-type]
        await middleware({**scope, "client": None, "headers": [(b"user-agent", b"ua")]}, None, send)  # type: ignore[arg-type]
        await middleware({**scope, "client": ("::1", 5), "headers": [(b"x-api-key", b"nope")]}, None, send)  # type: ignore[arg-type]
    assert [m["status"] for m in sent if "status" in m] == [401, 401, 401]
    first, last = audit.of_type(AuthenticationAttempt)
    assert (first.ip_address, first.identity) == (None, "unknown")
    assert (last.ip_address, last.identity) == ("::1", "api_key:malformed")


def test_websocket_requires_credentials(env: Env) -> None:
    """Unauthenticated websockets are closed with 1008; authenticated ones see the identity."""
    key = env.keys.create("svc", ["user"])
    with TestClient(env.app) as client:
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
            pass
        assert info.value.code == 1008
        with client.websocket_connect("/ws", headers={"X-API-Key": key}) as ws:
            assert ws.receive_text() == "svc"


def test_options_are_validated(env: Env) -> None:
    """A realm with quotes is refused, and so is a policy without permission_for (or the reverse)."""
    with pytest.raises(ConfigError) as exc_info:
        AuthMiddleware(env.app, authenticator=env.keys, realm='x" injected="')
    assert exc_info.value.code == "auth.invalid_option"
    with pytest.raises(ConfigError) as exc_info:
        AuthMiddleware(env.app, authenticator=env.keys, policy=POLICY)
    assert exc_info.value.code == "auth.invalid_option"
    with pytest.raises(ConfigError) as exc_info:
        AuthMiddleware(env.app, authenticator=env.keys, permission_for=permission_for)
    assert exc_info.value.code == "auth.invalid_option"


def test_default_audit_log_only_logs(env: Env) -> None:
    """Without an audit argument, attempts still reach the security_audit logger."""
    key = env.keys.create("svc")
    app = Starlette(
        routes=[Route("/whoami", whoami)], middleware=[Middleware(AuthMiddleware, authenticator=env.keys)]
    )
    with capture_audit() as audit, TestClient(app) as client:
        assert client.get("/whoami", headers={"X-API-Key": key}).status_code == 200
    assert [e.identity for e in audit.of_type(AuthenticationAttempt)] == ["svc"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),
        ([(b"content-type", b"x")], None),
        ([(b"X-Api-Key", b" lli_abc ")], ("api_key", "lli_abc")),
        ([(b"authorization", b"Bearer eyJ.a.b")], ("bearer", "eyJ.a.b")),
        ([(b"AUTHORIZATION", b"BEARER  lli_k ")], ("api_key", "lli_k")),
    ],
)
def test_extract_credentials(headers: list[tuple[bytes, bytes]], expected: tuple[str, str] | None) -> None:
    """extract_credentials finds exactly one credential, case-insensitively."""
    found = extract_credentials(headers)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.kind.value, found.secret.reveal()) == expected


def test_extract_credentials_never_echoes_the_value() -> None:
    """Rejections carry no part of the header value."""
    canary = "Basic Y2FuYXJ5LXNlY3JldA=="
    with pytest.raises(AuthError) as info:
        extract_credentials([(b"authorization", canary.encode())])
    assert info.value.code == "auth.invalid_credentials"
    assert "Y2FuYXJ5" not in repr(info.value) + str(info.value.to_dict())
