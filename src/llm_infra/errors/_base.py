"""The error root, its kind enum and the context captured at construction."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from llm_infra._internal._ulid import new_ulid

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ErrorKind(StrEnum):
    """The area an error belongs to; its value is the first part of every code of the area."""

    CONFIG = "config"
    HTTP = "http"
    VECTOR = "vector"
    AUTH = "auth"
    CRYPTO = "crypto"
    IO = "io"
    SERIALIZATION = "serialization"
    VALIDATION = "validation"
    EXTERNAL = "external"
    MESSAGE_QUEUE = "message_queue"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    CIRCUIT_OPEN = "circuit_open"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    BATCH = "batch"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where an error was created: the first frame outside llm-infra's own code."""

    file: str
    line: int
    function: str


@dataclass(frozen=True, slots=True)
class TraceIds:
    """Trace and span id (lower-case hex) of the OpenTelemetry span recording when the error was made."""

    trace_id: str
    span_id: str


@dataclass(slots=True)
class ErrorContext:
    """Correlation data filled in when an error is constructed.

    Attributes:
        error_id: a ULID string, unique per error instance.
        timestamp: aware UTC datetime of construction.
        location: the user's code that created the error (llm-infra frames are skipped).
        trace_ids: the current recording span's ids, or None.
        attributes: extra key/values (added by ``error_context`` on the way up).
        remediation: suggested steps, most useful first.
    """

    error_id: str
    timestamp: datetime
    location: SourceLocation | None
    trace_ids: TraceIds | None
    attributes: dict[str, object] = field(default_factory=dict)
    remediation: list[str] = field(default_factory=list)


def _caller_location() -> SourceLocation | None:
    frame = sys._getframe(2)
    first = frame
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR):
            return SourceLocation(filename, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back  # type: ignore[assignment]
    if first is None:  # pragma: no cover - there is always a caller frame
        return None
    return SourceLocation(first.f_code.co_filename, first.f_lineno, first.f_code.co_name)


def _current_trace_ids() -> TraceIds | None:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry-api is a hard dependency
        return None
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if not ctx.is_valid or not span.is_recording():
        return None
    return TraceIds(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))


def _json_safe(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    # Anything else (including Secret, which masks its own repr) goes through repr.
    return repr(value) if not isinstance(value, StrEnum) else str(value)


class InfraError(Exception):
    """Root of every llm-infra error.

    Args:
        message: human-readable description; must not contain secrets.
        code: stable dotted code overriding the class default (e.g. ``vector.dimension_mismatch``).
        context: extra attributes added to ``.context.attributes``.
        retry_after: seconds the caller should wait before trying again.
        remediation: suggested steps, added to the class's defaults.
        retryable: overrides the class's retryability rule.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    default_code: ClassVar[str] = "internal.error"
    http_status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    _retryable: ClassVar[bool] = False
    _fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        context: Mapping[str, object] | None = None,
        retry_after: float | None = None,
        remediation: Iterable[str] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: str = code or self.default_code
        self.retry_after: float | None = None if retry_after is None else float(retry_after)
        self._retryable_override = retryable
        self.context = ErrorContext(
            error_id=new_ulid(),
            timestamp=datetime.now(UTC),
            location=_caller_location(),
            trace_ids=_current_trace_ids(),
            attributes=dict(context or {}),
            remediation=list(remediation or ()),
        )

    @property
    def retryable(self) -> bool:
        """Whether retrying the same call may succeed (drives retry and breaker decisions)."""
        if self._retryable_override is not None:
            return self._retryable_override
        return self._is_retryable()

    def _is_retryable(self) -> bool:
        return self._retryable

    @property
    def attributes(self) -> dict[str, object]:
        """The context attributes (a live dict)."""
        return self.context.attributes

    @property
    def error_id(self) -> str:
        """The ULID of this error instance."""
        return self.context.error_id

    def fields(self) -> dict[str, object]:
        """The subclass's variant fields (``status``, ``url``, ``field``, ...) as a dict."""
        return {name: getattr(self, name) for name in self._fields}

    def problem_status(self) -> int:
        """The HTTP status a server answers with for this error."""
        return self.http_status

    def to_problem(self) -> dict[str, object]:
        """Render an RFC 9457 ``application/problem+json`` body.

        The body carries ``type``, ``title``, ``status``, ``detail``, ``code``, ``error_id``,
        ``retryable`` and ``retry_after`` when set. No attributes or fields are included, so
        nothing beyond the message reaches a client.
        """
        body: dict[str, object] = {
            "type": f"urn:llm-infra:problem:{self.code}",
            "title": self.title,
            "status": self.problem_status(),
            "detail": self.message,
            "code": self.code,
            "error_id": self.context.error_id,
            "retryable": self.retryable,
        }
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body

    def to_dict(self) -> dict[str, object]:
        """A complete JSON-safe dict: kind, code, message, fields and context."""
        ctx = self.context
        return {
            "type": type(self).__name__,
            "kind": str(self.kind),
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "fields": _json_safe(self.fields()),
            "context": {
                "error_id": ctx.error_id,
                "timestamp": ctx.timestamp.isoformat(),
                "location": None
                if ctx.location is None
                else {
                    "file": ctx.location.file,
                    "line": ctx.location.line,
                    "function": ctx.location.function,
                },
                "trace_id": None if ctx.trace_ids is None else ctx.trace_ids.trace_id,
                "span_id": None if ctx.trace_ids is None else ctx.trace_ids.span_id,
                "attributes": _json_safe(ctx.attributes),
                "remediation": list(ctx.remediation),
            },
        }

    def __repr__(self) -> str:
        parts = [repr(self.message), f"code={self.code!r}"]
        parts += [f"{k}={v!r}" for k, v in self.fields().items() if v is not None]
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs: dict[str, object] = {
            "code": self.code,
            "retry_after": self.retry_after,
            "retryable": self._retryable_override,
        }
        kwargs.update(self.fields())
        # The instance dict carries state beyond the constructor fields (BatchError.failures, ...).
        return (_rebuild, (type(self), self.message, kwargs, self.context), dict(self.__dict__))


def _rebuild(
    cls: type[InfraError], message: str, kwargs: dict[str, Any], context: ErrorContext
) -> InfraError:
    err = cls.__new__(cls)
    InfraError.__init__(
        err,
        message,
        code=kwargs.pop("code"),
        retry_after=kwargs.pop("retry_after"),
        retryable=kwargs.pop("retryable"),
    )
    for name, value in kwargs.items():
        setattr(err, name, value)
    err.context = context
    return err
