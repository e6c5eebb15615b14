"""HttpClient and AsyncHttpClient on a real loopback server: methods, bodies, headers, auth, hooks, config."""

from __future__ import annotations

import httpx
import pytest

from llm_infra.config import ConfigLoader
from llm_infra.errors import ConfigError, HttpError, ValidationError
from llm_infra.http import (
    DEFAULT_USER_AGENT,
    AsyncHttpClient,
    BearerAuth,
    HttpClient,
    HttpTimeout,
)
from llm_infra.http._options import client_options_from_config
from llm_infra.resilience import CircuitBreaker, RetryPolicy
from llm_infra.secrets import MASK, Secret
from llm_infra.testing import MockHttpServer, MockResponse


def test_methods_and_bodies(server: MockHttpServer) -> None:
    """Every method reaches the server with its body, query and JSON encoding."""
    server.enqueue(MockResponse(json={"ok": True}))
    with HttpClient(base_url=server.base_url) as client:
        assert client.get("/items", params={"q": "a b"}).json() == {"ok": True}
        client.post("/items", json={"name": "x", "token": Secret("hidden")})
        client.put("/items/1", content=b"raw")
        client.patch("/items/1", data={"field": "v"})
        client.delete("/items/1")
        assert client.head("/items").status_code == 200
        client.request("OPTIONS", "/items")
    methods = [(r.method, r.path) for r in server.requests]
    assert methods == [
        ("GET", "/items"),
        ("POST", "/items"),
        ("PUT", "/items/1"),
        ("PATCH", "/items/1"),
        ("DELETE", "/items/1"),
        ("HEAD", "/items"),
        ("OPTIONS", "/items"),
    ]
    get, post, put, patch = server.requests[:4]
    assert get.query == {"q": "a b"}
    assert post.json() == {"name": "x", "token": MASK}
    assert post.headers["content-type"] == "application/json"
    assert put.body == b"raw"
    assert patch.body == b"field=v"


def test_default_headers_user_agent_and_secret_headers(server: MockHttpServer) -> None:
    """Default headers (secrets revealed on the wire only) and the User-Agent are sent."""
    with HttpClient(headers={"X-Team": "infra", "X-Api-Key": Secret("k-123456")}) as client:
        client.get(server.url("/"), headers={"X-Call": "1"})
    headers = server.requests[0].headers
    assert headers["user-agent"] == DEFAULT_USER_AGENT
    assert headers["x-team"] == "infra"
    assert headers["x-api-key"] == "k-123456"
    assert headers["x-call"] == "1"


def test_bearer_auth_from_a_secret_and_a_provider(server: MockHttpServer) -> None:
    """A Secret becomes a bearer token; a provider function supplies rotating tokens."""
    with HttpClient(auth=Secret("tok-1")) as client:
        client.get(server.url("/"))
    tokens = iter(["a1", "b2"])
    auth = BearerAuth(lambda: Secret(next(tokens)))
    with HttpClient(auth=auth) as client:
        client.get(server.url("/"))
        client.get(server.url("/"))
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer tok-1", "Bearer a1", "Bearer b2"]
    assert "a1" not in repr(auth)


def test_bearer_auth_validation() -> None:
    """Plain strings are refused; a provider must return a Secret."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        BearerAuth("plain")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(auth="plain")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        BearerAuth(lambda: "plain").current()  # type: ignore[arg-type,return-value]


def test_other_httpx_auth_is_accepted(server: MockHttpServer) -> None:
    """Any httpx.Auth works (here HTTP Basic)."""
    with HttpClient(auth=httpx.BasicAuth("user", "pw")) as client:
        client.get(server.url("/"))
    assert server.requests[0].headers["authorization"].startswith("Basic ")


def test_hooks_see_each_attempt(server: MockHttpServer) -> None:
    """Request hooks may add headers; response hooks see every attempt's response."""
    server.enqueue(MockResponse(status=503, headers={"Retry-After": "0"}), MockResponse(json=1))
    seen: list[int] = []

    def tag(request: httpx.Request) -> None:
        request.headers["X-Hook"] = "yes"

    with HttpClient(on_request=[tag], on_response=[lambda r: seen.append(r.status_code)]) as client:
        client.get(server.url("/"))
    assert seen == [503, 200]
    assert all(r.headers["x-hook"] == "yes" for r in server.requests)


def test_raise_for_status_false_returns_the_response(server: MockHttpServer) -> None:
    """With raise_for_status=False a 404 comes back as a response; per-client default too."""
    server.enqueue(MockResponse(status=404, body="nope"), MockResponse(status=409))
    with HttpClient() as client:
        response = client.get(server.url("/"), raise_for_status=False)
        assert response.status_code == 404
        assert response.text == "nope"
    with HttpClient(raise_for_status=False) as client:
        assert client.get(server.url("/")).status_code == 409


def test_redirects_are_followed_or_raised(server: MockHttpServer) -> None:
    """3xx is followed by default; without following it raises unless told not to."""
    server.enqueue(MockResponse(status=302, headers={"Location": "/final"}), path="/start")
    server.enqueue(MockResponse(json="done"), path="/final")
    with HttpClient(base_url=server.base_url) as client:
        assert client.get("/start").json() == "done"
    server.enqueue(MockResponse(status=302, headers={"Location": "/final"}), path="/start")
    with HttpClient(base_url=server.base_url, follow_redirects=False) as client:
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info:
            client.get("/start")
        assert info.value.status == 302
        server.enqueue(MockResponse(status=302, headers={"Location": "/final"}), path="/start")
        assert client.get("/start", raise_for_status=False).status_code == 302


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url at all", "/relative-without-base"])
def test_invalid_urls_are_validation_errors(url: str) -> None:
    """Non-http(s) or relative URLs without a base are refused before any I/O."""
    with HttpClient() as client, pytest.raises(ValidationError) as info:
        client.get(url)
    assert info.value.code == "http.invalid_url"


def test_option_validation() -> None:
    """Bad options are ConfigErrors."""
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(retry=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(max_retry_after=-1)
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(max_connections=0)
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(user_agent="a\nb")
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(circuit_breaker="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(base_url="http://[::1")
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpClient(verify="/nonexistent/ca.pem")
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpTimeout(read=0)
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        HttpTimeout(deadline=float("inf"))
    with pytest.raises(ConfigError, check=lambda e: e.code == "config.invalid"):
        AsyncHttpClient(backend="curl")  # type: ignore[arg-type]


def test_timeout_coercion() -> None:
    """Numbers set every phase and the deadline; None removes every limit."""
    assert HttpTimeout.of(2.0) == HttpTimeout(connect=2.0, read=2.0, write=2.0, pool=2.0, deadline=2.0)
    none = HttpTimeout.of(None)
    assert none.deadline is None
    assert none.as_httpx().read is None
    default = HttpTimeout()
    assert HttpTimeout.of(default) is default


def test_no_timeouts_and_no_retry(server: MockHttpServer) -> None:
    """timeout=None and retry=None work (no deadline, single attempt)."""
    server.enqueue(MockResponse(status=503))
    with (
        HttpClient(timeout=None, retry=None) as client,
        pytest.raises(HttpError, check=lambda e: e.code == "http.status"),
    ):
        client.get(server.url("/"))
    assert len(server.requests) == 1


def test_client_options_from_a_mapping() -> None:
    """The http.* keys map onto client options; unset keys give the client's own defaults."""
    options = client_options_from_config({})
    assert options["timeout"] == HttpTimeout()
    assert options["retry"] == RetryPolicy()
    assert options["user_agent"] == DEFAULT_USER_AGENT
    cfg = {
        "http": {
            "timeout_secs": 2,
            "connect_timeout_secs": 1,
            "max_retries": 0,
            "retry_delay_ms": 50,
            "user_agent": "svc/1",
            "base_url": "http://example.com",
            "verify": "false",
            "retry_non_idempotent": "yes",
            "headers": {"X-A": "1", "X-Key": Secret("s")},
            "bearer_token": "t0k",
            "circuit_breaker": {"enabled": True, "failure_threshold": 2, "reset_timeout_secs": 5},
        }
    }
    options = client_options_from_config(cfg)
    assert options["timeout"] == HttpTimeout(connect=1.0, read=2.0, write=2.0, pool=1.0, deadline=2.0)
    assert options["retry"] == RetryPolicy(max_attempts=1, base_delay=0.05, max_delay=30.0)
    assert options["verify"] is False
    assert options["retry_non_idempotent"] is True
    assert isinstance(options["headers"]["X-Key"], Secret)
    assert options["auth"].current().reveal() == "t0k"
    breaker = options["circuit_breaker"]("example.com:80")
    assert isinstance(breaker, CircuitBreaker)
    assert breaker.failure_threshold == 2


@pytest.mark.parametrize(
    ("key", "value"),
    [("timeout_secs", "soon"), ("max_retries", -1), ("retry_non_idempotent", "maybe"), ("headers", "x")],
)
def test_client_options_from_config_reject_bad_values(key: str, value: object) -> None:
    """Wrong types name their key."""
    with pytest.raises(ConfigError) as info:
        client_options_from_config({"http": {key: value}})
    assert info.value.code in ("config.validation", "config.wrong_type", "config.invalid")
    assert f"http.{key}" in str(info.value)


def test_from_config_with_the_real_config(server: MockHttpServer) -> None:
    """HttpClient.from_config reads a llm_infra.config.Config, secrets included."""
    environ = {
        "LLM_HTTP__USER_AGENT": "from-env/2",
        "LLM_HTTP__BASE_URL": server.base_url,
        "LLM_HTTP__BEARER_TOKEN": "abc",
    }
    cfg = ConfigLoader().with_env(environ=environ).load()
    with HttpClient.from_config(cfg, retry=None) as client:
        client.get("/cfg")
    headers = server.requests[0].headers
    assert headers["user-agent"] == "from-env/2"
    assert headers["authorization"] == "Bearer abc"


@pytest.mark.anyio
async def test_async_client_basics(server: MockHttpServer) -> None:
    """The async twin sends the same requests, runs async hooks, and reports its backend."""
    server.enqueue(MockResponse(json={"n": 1}))
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(request.method)

    async with AsyncHttpClient(
        base_url=server.base_url, on_request=[on_request], auth=Secret("tok")
    ) as client:
        assert client.backend == "unset"
        assert (await client.get("/a", params={"x": "1"})).json() == {"n": 1}
        assert client.backend == "aiohttp"
        await client.post("/a", json=[1, 2])
        await client.put("/a", content="text")
        await client.patch("/a", data={"k": "v"})
        await client.delete("/a")
        assert (await client.head("/a")).status_code == 200
    assert seen == ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    assert server.requests[1].json() == [1, 2]
    assert server.requests[2].body == b"text"
    assert server.requests[0].headers["authorization"] == "Bearer tok"


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_async_backends_agree(server: MockHttpServer, backend: str) -> None:
    """aiohttp and httpx backends give the same responses and errors."""
    server.enqueue(MockResponse(json={"b": backend}), MockResponse.problem(422, "Invalid", "bad field"))
    async with AsyncHttpClient(backend=backend, retry=None) as client:  # type: ignore[arg-type]
        assert (await client.get(server.url("/"))).json() == {"b": backend}
        with pytest.raises(HttpError, check=lambda e: e.code == "http.status") as info:
            await client.get(server.url("/"))
        assert client.backend == backend
    assert info.value.status == 422
    assert "Invalid: bad field" in info.value.message


@pytest.mark.anyio
async def test_async_custom_transport() -> None:
    """A custom httpx transport replaces the default; the backend reads 'custom'."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"via": "mock"}))
    async with AsyncHttpClient(transport=transport) as client:
        assert (await client.get("http://example.test/")).json() == {"via": "mock"}
        assert client.backend == "custom"


@pytest.mark.anyio
async def test_async_from_config(server: MockHttpServer) -> None:
    """AsyncHttpClient.from_config reads the same keys."""
    async with AsyncHttpClient.from_config({"http": {"base_url": server.base_url}}) as client:
        await client.get("/x")
    assert server.requests[0].headers["user-agent"] == DEFAULT_USER_AGENT


def test_default_client_and_client_from_an_empty_config_agree_on_every_option() -> None:
    """One default per setting: HttpClient() == HttpClient.from_config(empty Config), option by option."""
    empty = ConfigLoader().load()
    with HttpClient() as plain, HttpClient.from_config(empty) as configured:
        assert plain.options == configured.options
        assert plain.options.user_agent == DEFAULT_USER_AGENT


@pytest.mark.anyio
async def test_async_default_client_and_client_from_an_empty_config_agree() -> None:
    empty = ConfigLoader().load()
    async with AsyncHttpClient() as plain, AsyncHttpClient.from_config(empty) as configured:
        assert plain.options == configured.options
