"""``capture_spans()`` and ``reset_otel()``: OpenTelemetry in tests without touching globals by hand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace

from llm_infra._internal._lazy import require
from llm_infra.otel._runtime import RUNTIME, install_globals
from llm_infra.otel._setup import shutdown_active
from llm_infra.otel._tap import TAP

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


@contextmanager
def capture_spans() -> Iterator[list[ReadableSpan]]:
    """Yield a list that fills with every span finished, in any thread, inside the block.

    With ``init_otel`` active the spans are those its sampler keeps; otherwise a temporary SDK
    tracer provider that records everything is switched in for the block (and switched out after),
    so code that cached its tracer at import time is captured too. Blocks may nest.

    Raises:
        ConfigError: another library installed a global tracer provider that is not an SDK one.

    .. versionadded:: 0.1.0
    """
    sink: list[ReadableSpan] = []
    temporary = None
    previous = None
    with RUNTIME.lock:
        if RUNTIME.tracer_provider is None:
            global_provider = trace.get_tracer_provider()
            if hasattr(global_provider, "add_span_processor"):
                TAP.attach(global_provider)  # someone configured the SDK themselves: listen to theirs
            else:
                require("opentelemetry.sdk", "otel")
                from opentelemetry.sdk.trace import TracerProvider

                install_globals()
                temporary = TracerProvider(shutdown_on_exit=False)
                TAP.attach(temporary)
                previous = RUNTIME.swap(temporary, RUNTIME.meter_provider, capture_spans)
        TAP.add_sink(sink)
    try:
        yield sink
    finally:
        TAP.remove_sink(sink)
        if temporary is not None and previous is not None:
            with RUNTIME.lock:
                if RUNTIME.tracer_provider is temporary:
                    RUNTIME.swap(*previous)
            temporary.shutdown()


def reset_otel() -> None:
    """Shut down any active ``init_otel`` guard and empty the switch (for an autouse fixture).

    .. versionadded:: 0.1.0
    """
    shutdown_active()
    if RUNTIME.tracer_provider is not None or RUNTIME.meter_provider is not None:
        RUNTIME.swap(None, None, None)


__all__ = ["capture_spans", "reset_otel"]
