"""A span processor attached to every tracer provider llm-infra builds, feeding ``capture_spans`` lists."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, final

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

if TYPE_CHECKING:
    from opentelemetry.context import Context

_MARK = "_llm_infra_tap"


@final
class SpanTap(SpanProcessor):
    """Appends every finished span to each registered sink (a list), from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sinks: tuple[list[ReadableSpan], ...] = ()

    def attach(self, provider: Any) -> None:
        """Add the tap to an SDK ``TracerProvider`` once."""
        if getattr(provider, _MARK, False):
            return
        provider.add_span_processor(self)
        setattr(provider, _MARK, True)

    def add_sink(self, sink: list[ReadableSpan]) -> None:
        """Start copying finished spans into ``sink``."""
        with self._lock:
            self._sinks = (*self._sinks, sink)

    def remove_sink(self, sink: list[ReadableSpan]) -> None:
        """Stop copying into ``sink``."""
        with self._lock:
            self._sinks = tuple(s for s in self._sinks if s is not sink)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Copy the span into every sink (appending to a list is atomic)."""
        for sink in self._sinks:
            sink.append(span)

    def shutdown(self) -> None:
        """The tap is shared by providers; shutting one down leaves it in place."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered."""
        return True


TAP = SpanTap()
