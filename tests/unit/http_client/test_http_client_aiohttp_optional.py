"""aiohttp is optional: the async client falls back to httpx's transport, or says how to install it."""

from __future__ import annotations

import sys

import pytest

from llm_infra.errors import ConfigError
from llm_infra.http import AsyncHttpClient
from llm_infra.testing import MockHttpServer, MockResponse


@pytest.fixture
def no_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import aiohttp`` fail as if the extra were not installed."""
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    from llm_infra.http import _transport

    monkeypatch.setattr(_transport, "aiohttp_installed", lambda: False)


@pytest.mark.anyio
async def test_auto_falls_back_to_httpx_without_aiohttp(no_aiohttp: None, server: MockHttpServer) -> None:
    server.enqueue(MockResponse(json={"ok": True}))
    async with AsyncHttpClient() as client:
        assert (await client.get(server.url("/"))).json() == {"ok": True}
        assert client.backend == "httpx"


def test_explicit_aiohttp_without_it_names_the_extra(no_aiohttp: None) -> None:
    with pytest.raises(ConfigError) as info:
        AsyncHttpClient(backend="aiohttp")
    assert info.value.code == "config.missing_extra"
    assert "pip install 'llm-infra[http-async]'" in info.value.message


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        AsyncHttpClient(backend="curl")  # type: ignore[arg-type]
    assert info.value.code == "config.invalid"
