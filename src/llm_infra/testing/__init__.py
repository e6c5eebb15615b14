"""Public test doubles and conformance suites for code built on llm-infra.

- ``FakeClock`` drives every time-dependent component without sleeping.
- ``set_testing(attempts=1)`` / ``is_testing()`` make retries instant in a test suite.
- ``capture_audit()`` collects the security audit events emitted inside a block.
- ``capture_spans()`` collects the OpenTelemetry spans finished inside a block; ``reset_otel()``
  restores the global providers (needs the ``otel`` extra).
- ``MockHttpServer`` is a real loopback HTTP server with scripted ``MockResponse``s.
- ``VectorStoreContract`` is the pytest mixin every vector backend passes (needs pytest).
- ``BrokerContract`` is the pytest mixin every message-queue backend passes (needs pytest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_infra._internal._lazy import lazy_getattr as _lazy_getattr
from llm_infra.resilience import is_testing as is_testing
from llm_infra.resilience import set_testing as set_testing
from llm_infra.testing._audit import AuditCapture as AuditCapture
from llm_infra.testing._audit import capture_audit as capture_audit
from llm_infra.testing._clock import FakeClock as FakeClock
from llm_infra.testing._http import MockHttpServer as MockHttpServer
from llm_infra.testing._http import MockResponse as MockResponse
from llm_infra.testing._http import RecordedRequest as RecordedRequest
from llm_infra.testing._http import unused_port as unused_port

if TYPE_CHECKING:
    from llm_infra.testing._mq import BrokerContract as BrokerContract
    from llm_infra.testing._otel import capture_spans as capture_spans
    from llm_infra.testing._otel import reset_otel as reset_otel
    from llm_infra.testing._vector import VectorStoreContract as VectorStoreContract

# Imported on first use: they need the opentelemetry SDK and pytest, which plain users may lack.
__getattr__ = _lazy_getattr(
    __name__,
    {
        "capture_spans": "llm_infra.testing._otel",
        "reset_otel": "llm_infra.testing._otel",
        "VectorStoreContract": "llm_infra.testing._vector",
        "BrokerContract": "llm_infra.testing._mq",
    },
)


__all__ = [
    "AuditCapture",
    "BrokerContract",
    "FakeClock",
    "MockHttpServer",
    "MockResponse",
    "RecordedRequest",
    "VectorStoreContract",
    "capture_audit",
    "capture_spans",
    "is_testing",
    "reset_otel",
    "set_testing",
    "unused_port",
]
