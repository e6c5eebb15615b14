"""A bounded, retrying batch span processor that never blocks the application.

The SDK's ``BatchSpanProcessor`` drops a batch as soon as one export fails and does not count it.
This one keeps a failed batch and re-attempts it with exponential backoff ("buffer +
retry" for a collector that is down), holds new spans in a bounded queue meanwhile, and counts
every span it has to give up on in ``llm_infra.otel.spans.dropped`` (attribute ``reason``:
``queue_full``, ``export_failed`` or ``shutdown``). ``on_end`` only appends to a deque under a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, final

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_infra.otel._config import DROPPED_SPANS_METRIC, EXPORTED_SPANS_METRIC, BatchSettings

if TYPE_CHECKING:
    from opentelemetry import metrics
    from opentelemetry.context import Context

_log = logging.getLogger("llm_infra.otel")


@final
class BufferedSpanProcessor(SpanProcessor):
    """Queue finished spans (bounded) and export them in batches from a worker thread.

    Args:
        exporter: the span exporter (OTLP, console, ...).
        settings: queue size, batch size, schedule delay and retry policy.
        meter: where the dropped/exported counters are recorded.
        name: used in the worker thread's name and in log messages.
    """

    def __init__(
        self, exporter: SpanExporter, settings: BatchSettings, *, meter: metrics.Meter, name: str = "otlp"
    ) -> None:
        self._exporter = exporter
        self._settings = settings
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[ReadableSpan] = deque()
        self._pending: list[ReadableSpan] | None = None
        self._attempts = 0
        self._next_retry_at = 0.0
        self._exporting = False
        self._flush_requests = 0
        self._stopping = False
        self._stop_deadline = 0.0
        self._exporter_closed = False
        self.dropped: dict[str, int] = {"queue_full": 0, "export_failed": 0, "shutdown": 0}
        self.exported = 0
        self.failed_exports = 0
        self._dropped_counter = meter.create_counter(
            DROPPED_SPANS_METRIC, unit="{span}", description="Spans dropped before reaching the exporter"
        )
        self._exported_counter = meter.create_counter(
            EXPORTED_SPANS_METRIC, unit="{span}", description="Spans accepted by the exporter"
        )
        self._worker = threading.Thread(target=self._run, name=f"llm-infra-otel-{name}", daemon=True)
        self._worker.start()

    # --- SpanProcessor -------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a finished, sampled span; drop (and count) it when the queue is full."""
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        with self._cond:
            if self._stopping:
                reason = "shutdown"
            elif len(self._queue) >= self._settings.max_queue_size:
                reason = "queue_full"
            else:
                self._queue.append(span)
                if len(self._queue) >= self._settings.max_export_batch_size and self._pending is None:
                    self._cond.notify_all()
                return
        self._drop(1, reason)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued; True when the queue drained within the timeout."""
        deadline = time.monotonic() + timeout_millis / 1000.0
        with self._cond:
            if self._stopping:
                return False
            self._flush_requests += 1
            self._cond.notify_all()
            try:
                while self._queue or self._pending is not None or self._exporting:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._flush_requests -= 1

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the worker after a last, bounded export round; count what could not be sent."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._stop_deadline = time.monotonic() + timeout
            self._cond.notify_all()
        self._worker.join(timeout)
        if self._worker.is_alive():
            # The exporter is stuck retrying a dead collector: shutting it down interrupts its backoff.
            self._close_exporter()
            self._worker.join(1.0)
        with self._cond:
            leftover = len(self._queue) + (len(self._pending) if self._pending else 0)
            self._queue.clear()
            self._pending = None
        if leftover:
            self._drop(leftover, "shutdown")
        self._close_exporter()

    # --- worker --------------------------------------------------------------------------------

    def _close_exporter(self) -> None:
        with self._cond:
            if self._exporter_closed:
                return
            self._exporter_closed = True
        try:
            self._exporter.shutdown()
        except Exception:  # noqa: BLE001 - a broken exporter must not break the application's shutdown
            _log.exception("OTEL exporter %s failed to shut down", self._name)

    def _drop(self, count: int, reason: str) -> None:
        with self._cond:
            self.dropped[reason] += count
        self._dropped_counter.add(count, {"reason": reason})

    def _ready(self, now: float, timer_due: float) -> bool:
        if self._stopping:
            return True
        if self._pending is not None:
            return now >= self._next_retry_at
        if not self._queue:
            return False
        return (
            len(self._queue) >= self._settings.max_export_batch_size
            or self._flush_requests > 0
            or now >= timer_due
        )

    def _run(self) -> None:
        timer_due = time.monotonic() + self._settings.schedule_delay
        while True:
            with self._cond:
                while not self._ready(time.monotonic(), timer_due):
                    wake_at = self._next_retry_at if self._pending is not None else timer_due
                    if not self._queue and self._pending is None:
                        # Nothing to do: tell flush waiters, then sleep until spans arrive.
                        self._cond.notify_all()
                        wake_at = time.monotonic() + self._settings.schedule_delay
                    self._cond.wait(max(0.0, wake_at - time.monotonic()))
                stopping = self._stopping
            if stopping:
                self._drain()
                return
            self._export_round(final=False)
            if self._pending is None:
                timer_due = time.monotonic() + self._settings.schedule_delay

    def _drain(self) -> None:
        while time.monotonic() < self._stop_deadline and not self._exporter_closed:
            with self._cond:
                if not self._queue and self._pending is None:
                    return
            self._export_round(final=True)

    def _take_batch(self) -> list[ReadableSpan]:
        with self._cond:
            if self._pending is not None:
                batch = self._pending
            else:
                size = min(self._settings.max_export_batch_size, len(self._queue))
                batch = [self._queue.popleft() for _ in range(size)]
            self._exporting = bool(batch)
            return batch

    def _export_round(self, *, final: bool) -> None:
        batch = self._take_batch()
        if not batch:
            return
        ok = self._try_export(batch)
        with self._cond:
            self._exporting = False
            if ok:
                self._pending = None
                self._attempts = 0
                self.exported += len(batch)
            else:
                self.failed_exports += 1
                self._attempts += 1
                give_up = final or self._attempts >= self._settings.max_export_attempts
                if give_up:
                    self._pending = None
                    self._attempts = 0
                else:
                    self._pending = batch
                    backoff = self._settings.retry_backoff * 2 ** (self._attempts - 1)
                    self._next_retry_at = time.monotonic() + backoff
            attempts = self._attempts
            self._cond.notify_all()
        if ok:
            self._exported_counter.add(len(batch))
        elif not final and attempts:
            if attempts == 1:
                _log.warning(
                    "OTEL exporter connection failed: %d spans buffered, retrying (exporter %s)",
                    len(batch),
                    self._name,
                )
        else:
            _log.warning(
                "OTEL exporter connection failed: dropped %d spans after retries (exporter %s)",
                len(batch),
                self._name,
            )
            self._drop(len(batch), "export_failed")

    def _try_export(self, batch: Sequence[ReadableSpan]) -> bool:
        try:
            return self._exporter.export(batch) is SpanExportResult.SUCCESS
        except Exception:  # noqa: BLE001 - any exporter failure is an export failure, never the app's
            _log.debug("OTEL exporter %s raised", self._name, exc_info=True)
            return False
