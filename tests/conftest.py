"""Project-wide fixtures: the anyio backend and the loopback services of integration tests.

A test that needs a real service takes its fixture (``redis_url``, ``postgres_dsn``, ...). When
the service is unreachable the test skips with a one-line reason on a laptop and fails under
``CI=true``, where ``.ci/run`` has started every service.
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> str:
    """Return ``url`` when its host:port accepts TCP; else skip (laptop) or fail (CI)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or default_port
    if not _reachable(host, port):
        message = f"{name} is not reachable at {host}:{port}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: integration services must be up)")
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the loopback Redis (``LLM_TEST_REDIS_URL``)."""
    return require_service("redis", os.environ.get("LLM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), 6379)


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """DSN of the loopback PostgreSQL, database ``test`` (``LLM_TEST_POSTGRES_DSN``)."""
    return require_service(
        "postgres",
        os.environ.get("LLM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
        5432,
    )


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """URL of the loopback RabbitMQ (``LLM_TEST_RABBITMQ_URL``)."""
    return require_service(
        "rabbitmq", os.environ.get("LLM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"), 5672
    )


@pytest.fixture(scope="session")
def nats_url() -> str:
    """URL of the loopback NATS (``LLM_TEST_NATS_URL``)."""
    return require_service("nats", os.environ.get("LLM_TEST_NATS_URL", "nats://127.0.0.1:4222"), 4222)


# --------------------------------------------------------------------------- shared helpers

WaitFor = Callable[..., None]


def _wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.005) -> None:
    """Poll ``predicate`` until it is true; fail the test when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout} s")
        pause.wait(interval)


@pytest.fixture
def wait_for() -> WaitFor:
    """``wait_for(predicate, timeout=10.0)``: poll with a deadline instead of sleeping a fixed time."""
    return _wait_for


def reset_otel_globals() -> None:
    """Uninstall llm-infra's OTel guard and forget the OpenTelemetry API's global providers."""
    from opentelemetry import metrics, trace
    from opentelemetry.util._once import Once

    from llm_infra.testing._otel import reset_otel

    reset_otel()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics._internal._METER_PROVIDER_SET_ONCE = Once()
    metrics._internal._METER_PROVIDER = None
    metrics._internal._PROXY_METER_PROVIDER = metrics._internal._ProxyMeterProvider()
    logs = importlib.import_module("opentelemetry._logs._internal")
    logs._LOGGER_PROVIDER_SET_ONCE = Once()
    logs._LOGGER_PROVIDER = None
    logs._PROXY_LOGGER_PROVIDER = logs.ProxyLoggerProvider()


@pytest.fixture
def fresh_otel() -> Iterator[None]:
    """Run the test with no OTel SDK installed and fresh API globals, and reset them afterwards."""
    reset_otel_globals()
    yield
    reset_otel_globals()
