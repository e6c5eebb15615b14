"""Every http client test starts and ends with no SDK installed and fresh OpenTelemetry API globals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_infra.testing import MockHttpServer


@pytest.fixture(autouse=True)
def _fresh(fresh_otel: None) -> None:
    """Every test runs with no SDK installed and fresh API globals (the shared ``fresh_otel``)."""


@pytest.fixture
def server() -> Iterator[MockHttpServer]:
    """A running loopback MockHttpServer."""
    with MockHttpServer() as srv:
        yield srv


@pytest.fixture
def traced_server() -> Iterator[MockHttpServer]:
    """A MockHttpServer opening a SERVER span per request."""
    with MockHttpServer(trace=True) as srv:
        yield srv
