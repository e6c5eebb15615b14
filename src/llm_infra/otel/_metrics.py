"""Metric helpers: cached instruments on the ``llm_infra`` meter, and the LLM span helper."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from llm_infra.errors import ConfigError
from llm_infra.otel import _codes as codes
from llm_infra.otel._runtime import get_meter
from llm_infra.otel._span import span

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

_lock = threading.Lock()
_instruments: dict[str, tuple[str, str, Any]] = {}


def _instrument(kind: str, name: str, unit: str, description: str, **kwargs: Any) -> Any:
    cached = _instruments.get(name)
    if cached is None:
        with _lock:
            cached = _instruments.get(name)
            if cached is None:
                meter = get_meter("llm_infra")
                instrument = getattr(meter, f"create_{kind}")(
                    name, unit=unit, description=description, **kwargs
                )
                cached = (kind, unit, instrument)
                _instruments[name] = cached
    if cached[0] != kind or cached[1] != unit:
        raise ConfigError(
            f"metric {name!r} already exists as a {cached[0]} in {cached[1]!r}, not a {kind} in {unit!r}",
            code=codes.METRIC_CONFLICT,
        )
    return cached[2]


def counter(name: str, *, unit: str = "1", description: str = "") -> metrics.Counter:
    """A monotonic counter on the ``llm_infra`` meter (the same object for the same name).

    Args:
        name: dotted metric name, e.g. ``cache.hits``.
        unit: UCUM unit (``1``, ``By``, ``{request}``).
        description: one line for the metric's help text.

    Raises:
        ConfigError: the name is already used by another kind of instrument or unit.

    .. versionadded:: 0.1.0
    """
    instrument: metrics.Counter = _instrument("counter", name, unit, description)
    return instrument


def up_down_counter(name: str, *, unit: str = "1", description: str = "") -> metrics.UpDownCounter:
    """A counter that may go down (in-flight requests, pool size) on the ``llm_infra`` meter.

    .. versionadded:: 0.1.0
    """
    instrument: metrics.UpDownCounter = _instrument("up_down_counter", name, unit, description)
    return instrument


def histogram(
    name: str, *, unit: str = "s", description: str = "", boundaries: Sequence[float] | None = None
) -> metrics.Histogram:
    """A histogram (durations in seconds by default) on the ``llm_infra`` meter.

    Args:
        name: dotted metric name, e.g. ``http.client.request.duration``.
        unit: UCUM unit, ``s`` by default.
        description: one line of help text.
        boundaries: advisory explicit bucket boundaries.

    .. versionadded:: 0.1.0
    """
    kwargs: dict[str, Any] = {}
    if boundaries is not None:
        kwargs["explicit_bucket_boundaries_advisory"] = list(boundaries)
    instrument: metrics.Histogram = _instrument("histogram", name, unit, description, **kwargs)
    return instrument


LLM_TOKENS_METRIC = "llm.tokens"
"""Counter of LLM tokens, by ``type`` (``input``/``output``), model and provider."""
LLM_DURATION_METRIC = "llm.operation.duration"
"""Histogram of LLM call durations, in seconds."""

_LLM_METER = get_meter("llm-dev-ops")
_llm_tokens = _LLM_METER.create_counter(LLM_TOKENS_METRIC, unit="{token}", description="LLM tokens used")
_llm_duration = _LLM_METER.create_histogram(LLM_DURATION_METRIC, unit="s", description="LLM call duration")


def record_llm_metrics(
    *, model: str, provider: str, input_tokens: int = 0, output_tokens: int = 0, operation: str | None = None
) -> None:
    """Add token counts to the ``llm.tokens`` counter (attribute ``type``: ``input``/``output``).

    .. versionadded:: 0.1.0
    """
    attrs: dict[str, AttributeValue] = {"llm.model": model, "llm.provider": provider}
    if operation is not None:
        attrs["llm.operation"] = operation
    if input_tokens:
        _llm_tokens.add(input_tokens, {**attrs, "type": "input"})
    if output_tokens:
        _llm_tokens.add(output_tokens, {**attrs, "type": "output"})


@final
class LlmSpan:
    """The handle ``llm_span`` yields: record token usage and extra attributes on it."""

    __slots__ = ("input_tokens", "output_tokens", "span")

    def __init__(self, current: trace.Span) -> None:
        self.span = current
        self.input_tokens = 0
        self.output_tokens = 0

    def record_tokens(self, *, input_tokens: int = 0, output_tokens: int = 0) -> None:
        """Add token counts (may be called several times, e.g. while streaming)."""
        if input_tokens < 0 or output_tokens < 0:
            raise ConfigError("token counts must not be negative", code=codes.INVALID_TOKENS)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one more attribute on the span."""
        self.span.set_attribute(key, value)


@final
class llm_span:  # noqa: N801 - used like a function: ``with llm_span("chat", "gpt-4o", "openai") as s:``
    """A span around one LLM call, recording tokens and latency (sync and async context manager).

    The span is named ``llm.operation`` (kind CLIENT) and carries ``llm.operation``, ``llm.model``,
    ``llm.provider``, ``llm.tokens.input``, ``llm.tokens.output``, ``llm.latency_ms`` and the
    GenAI semantic-convention equivalents (``gen_ai.operation.name``, ``gen_ai.request.model``,
    ``gen_ai.provider.name``, ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``).
    On exit the tokens go to the ``llm.tokens`` counter and the duration to ``llm.operation.duration``.

    Args:
        operation: ``chat``, ``completion``, ``embeddings``, ...
        model: the model name.
        provider: ``openai``, ``anthropic``, ``local``, ...
        attributes: more span attributes.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_attrs", "_handle", "_inner", "_model", "_operation", "_provider", "_start")

    def __init__(
        self, operation: str, model: str, provider: str, *, attributes: Mapping[str, object] | None = None
    ) -> None:
        self._operation = operation
        self._model = model
        self._provider = provider
        self._attrs = dict(attributes or {})
        self._inner: span | None = None
        self._handle: LlmSpan | None = None
        self._start = 0.0

    def __enter__(self) -> LlmSpan:
        attrs: dict[str, object] = {
            "llm.operation": self._operation,
            "llm.model": self._model,
            "llm.provider": self._provider,
            "gen_ai.operation.name": self._operation,
            "gen_ai.request.model": self._model,
            "gen_ai.provider.name": self._provider,
        }
        attrs.update(self._attrs)
        self._inner = span("llm.operation", kind=SpanKind.CLIENT, attributes=attrs)
        self._start = time.perf_counter()
        self._handle = LlmSpan(self._inner.__enter__())
        return self._handle

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        inner, handle = self._inner, self._handle
        if inner is None or handle is None:
            return
        elapsed = time.perf_counter() - self._start
        handle.span.set_attributes(
            {
                "llm.tokens.input": handle.input_tokens,
                "llm.tokens.output": handle.output_tokens,
                "llm.latency_ms": round(elapsed * 1000.0, 3),
                "gen_ai.usage.input_tokens": handle.input_tokens,
                "gen_ai.usage.output_tokens": handle.output_tokens,
            }
        )
        inner.__exit__(exc_type, exc, tb)
        self._inner = self._handle = None
        record_llm_metrics(
            model=self._model,
            provider=self._provider,
            operation=self._operation,
            input_tokens=handle.input_tokens,
            output_tokens=handle.output_tokens,
        )
        duration_attrs: dict[str, AttributeValue] = {
            "llm.model": self._model,
            "llm.provider": self._provider,
            "llm.operation": self._operation,
        }
        if exc is not None:
            duration_attrs["error.type"] = type(exc).__name__
        _llm_duration.record(elapsed, duration_attrs)

    async def __aenter__(self) -> LlmSpan:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
