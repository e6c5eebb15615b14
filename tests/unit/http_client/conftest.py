"""Every http client test starts and ends with no SDK installed and fresh OpenTelemetry API globals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import metrics, trace
from opentelemetry.util._once import Once

from llm_infra.testing import MockHttpServer, reset_otel


def reset_api_globals() -> None:
    """Forget the global providers, as OpenTelemetry's own test helpers do."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics._internal._METER_PROVIDER_SET_ONCE = Once()
    metrics._internal._METER_PROVIDER = None
    metrics._internal._PROXY_METER_PROVIDER = metrics._internal._ProxyMeterProvider()


@pytest.fixture(autouse=True)
def _fresh_otel() -> Iterator[None]:
    """Reset llm-infra's switch and the API globals around each test."""
    reset_otel()
    reset_api_globals()
    yield
    reset_otel()
    reset_api_globals()


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
