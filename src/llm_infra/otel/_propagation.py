"""W3C trace context (``traceparent``/``tracestate``) and baggage over HTTP or message headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar, final

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.context import Context

M = TypeVar("M", bound=MutableMapping[str, str])

# Always W3C, whatever OTEL_PROPAGATORS says: every llm-infra service speaks the same format.
_PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


@final
class _HeaderGetter(Getter[Mapping[str, str]]):
    """Case-insensitive header lookup (HTTP header names are case-insensitive)."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            lowered = key.lower()
            for name, candidate in carrier.items():
                if name.lower() == lowered:
                    value = candidate
                    break
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier.keys())


_GETTER = _HeaderGetter()


def _as_mapping(headers: Mapping[str, str] | Iterable[tuple[Any, Any]]) -> Mapping[str, str]:
    if isinstance(headers, Mapping):
        return headers
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1") if isinstance(name, bytes | bytearray) else str(name)
        out[key.lower()] = value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)
    return out


def inject(headers: M | None = None, *, context: Context | None = None) -> M | dict[str, str]:
    """Write the current (or given) trace context and baggage into ``headers`` and return them.

    Args:
        headers: a mutable mapping (a dict, ``httpx.Headers``); a new dict when None.
        context: the context to propagate; the current one by default.

    .. versionadded:: 0.1.0
    """
    carrier: M | dict[str, str] = {} if headers is None else headers
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract(
    headers: Mapping[str, str] | Iterable[tuple[Any, Any]], *, context: Context | None = None
) -> Context:
    """Read the trace context and baggage of incoming ``headers`` into a ``Context``.

    Pass the result as the parent: ``with span("handle", context=extract(request.headers)):``.
    Header names are matched case-insensitively; ASGI-style ``[(b"name", b"value")]`` lists work too.
    Malformed headers are ignored (the result then has no remote parent).

    .. versionadded:: 0.1.0
    """
    return _PROPAGATOR.extract(_as_mapping(headers), context=context, getter=_GETTER)
