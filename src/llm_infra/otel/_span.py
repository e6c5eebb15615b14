"""``span(...)``: one helper that is a context manager (sync and async) and a decorator."""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, final, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llm_infra.errors import InfraError
from llm_infra.otel._runtime import get_tracer
from llm_infra.secrets import MASK, Secret, is_secret_name

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

P = ParamSpec("P")
R = TypeVar("R")

_TRACER = get_tracer("llm_infra")

_MAX_DEPTH = 8


def _is_secret_key(key: str) -> bool:
    return is_secret_name(key) or is_secret_name(key.rsplit(".", 1)[-1])


def _masked(value: object, depth: int = 0) -> object:
    """A copy of ``value`` whose nested mappings have their secret-named entries masked."""
    if isinstance(value, Secret):
        return MASK
    if depth >= _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return "..."
    if isinstance(value, Mapping):
        return {str(k): MASK if _is_secret_key(str(k)) else _masked(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item, depth + 1) for item in value]
    return value


def _clean_value(value: object) -> AttributeValue | None:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        inner = value.value
        return inner if isinstance(inner, bool | int | float | str) else str(inner)
    if isinstance(value, list | tuple):
        items = [_clean_value(_masked(item)) for item in value]
        for kind in (str, bool, int, float):
            if all(type(item) is kind for item in items):
                return tuple(items)
        if all(type(item) in (int, float) for item in items):
            return tuple(float(item) for item in items)  # type: ignore[arg-type]  # ints and floats only
        return tuple(str(item) for item in items)
    if isinstance(value, Mapping):
        return str(_masked(value))
    return str(value)


def _flatten(prefix: str, value: object, out: dict[str, AttributeValue], depth: int) -> None:
    if value is None:
        return
    if _is_secret_key(prefix):
        out[prefix] = MASK
        return
    if isinstance(value, Mapping) and depth < _MAX_DEPTH:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out, depth + 1)
        return
    cleaned = _clean_value(value)
    if cleaned is not None:
        out[prefix] = cleaned


def clean_attributes(attributes: Mapping[str, object] | None) -> dict[str, AttributeValue]:
    """Turn arbitrary values into OpenTelemetry attribute values, masking secrets.

    ``Secret`` values and values under secret-looking names (``llm_infra.secrets.is_secret_name``:
    ``password``, ``api_key``, ``authorization``, ``token``, ``cookie``, ...) become the mask, at
    any depth: a nested mapping is flattened into dotted names (``{"db": {"password": ...}}``
    gives ``db.password = '**********'``) and mappings inside lists are masked before they are
    turned into text. ``None`` values are left out; enums give their value; other objects their
    ``str``.

    .. versionadded:: 0.1.0
    """
    out: dict[str, AttributeValue] = {}
    if not attributes:
        return out
    for key, value in attributes.items():
        _flatten(str(key), value, out, 0)
    return out


def record_error(span: trace.Span, exc: BaseException) -> None:
    """Record an exception on a span: the event, ERROR status, and ``error.*`` attributes.

    For an ``InfraError`` the attributes are ``error.type`` (its kind), ``error.code``,
    ``error.id`` and ``error.retryable``; for other exceptions ``error.type`` is the class's
    qualified name.

    .. versionadded:: 0.1.0
    """
    if not span.is_recording():
        return
    if isinstance(exc, InfraError):
        attrs: dict[str, AttributeValue] = {
            "error.type": str(exc.kind),
            "error.code": exc.code,
            "error.id": exc.error_id,
            "error.retryable": exc.retryable,
        }
    else:
        cls = type(exc)
        name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
        attrs = {"error.type": name}
    span.set_attributes(attrs)
    span.record_exception(exc, attributes=attrs)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@final
class span:  # noqa: N801 - used like a function: ``with span("x"):`` and ``@span("x")``
    """Open a span: ``with span("name", key=value) as s:``, ``async with``, or ``@span("name")``.

    The span becomes current inside the block, so nested spans are its children. An exception
    leaving the block is recorded (``record_error``) and re-raised. Attribute values pass through
    ``clean_attributes``, so a ``Secret`` is never recorded.

    Args:
        name: the span name.
        kind: ``SpanKind`` (``INTERNAL`` by default).
        context: the parent context (e.g. from ``extract(headers)``); the current one by default.
        attributes: attributes whose names are not valid keywords (``{"db.system": "redis"}``).
        **attrs: more attributes.

    As a decorator it works on sync and async functions; each call gets its own span.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_attributes", "_context", "_kind", "_name", "_span", "_token")

    def __init__(
        self,
        name: str,
        /,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        context: Context | None = None,
        attributes: Mapping[str, object] | None = None,
        **attrs: object,
    ) -> None:
        merged = dict(attributes or {})
        merged.update(attrs)
        self._name = name
        self._kind = kind
        self._context = context
        self._attributes = clean_attributes(merged)
        self._span: trace.Span | None = None
        self._token: object | None = None

    def __enter__(self) -> trace.Span:
        current = _TRACER.start_span(
            self._name,
            context=self._context,
            kind=self._kind,
            attributes=self._attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._span = current
        self._token = otel_context.attach(trace.set_span_in_context(current, self._context))
        return current

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        current, token = self._span, self._token
        self._span = self._token = None
        if current is None:
            return
        if exc is not None:
            record_error(current, exc)
        current.end()
        otel_context.detach(token)  # type: ignore[arg-type]  # the token attach returned

    async def __aenter__(self) -> trace.Span:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _fresh(self) -> span:
        clone = span(self._name, kind=self._kind, context=self._context)
        clone._attributes = self._attributes
        return clone

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate a function so that each call runs inside a new span."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self._fresh():
                    return await fn(*args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper


def current_trace_ids() -> tuple[str, str] | None:
    """The current span's ``(trace_id, span_id)`` as lower-case hex, or None outside a valid span.

    .. versionadded:: 0.1.0
    """
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
