"""One error class per area, with the fields of that area's failures as attributes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar, TypedDict, Unpack

from llm_infra.errors._base import ErrorKind, InfraError


class BaseKwargs(TypedDict, total=False):
    """Keyword arguments every error accepts (see ``InfraError``)."""

    code: str | None
    context: Mapping[str, object] | None
    retry_after: float | None
    remediation: Iterable[str] | None
    retryable: bool | None


class ConfigError(InfraError, ValueError):
    """Configuration is missing, malformed or of the wrong type. Never retryable."""

    kind = ErrorKind.CONFIG
    default_code = "config.invalid"
    title = "Configuration error"
    _fields = ("key", "source")

    def __init__(
        self, message: str, *, key: str | None = None, source: str | None = None, **kw: Unpack[BaseKwargs]
    ) -> None:
        super().__init__(message, **kw)
        self.key = key
        self.source = source


class HttpError(InfraError):
    """An HTTP call failed: a non-2xx status, or a transport failure (``status`` None).

    Retryable when the status is >= 500, 408 or 429, or when there is no status.
    """

    kind = ErrorKind.HTTP
    default_code = "http.status"
    title = "Upstream HTTP error"
    http_status = 502
    _fields = ("status", "url", "method", "body")

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        method: str | None = None,
        body: str | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        if kw.get("code") is None:
            kw["code"] = "http.status" if status is not None else "http.transport"
        super().__init__(message, **kw)
        self.status = status
        self.url = url
        self.method = method
        self.body = body

    def _is_retryable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status in (408, 429)


class VectorError(InfraError):
    """A vector store operation failed (dimension mismatch, bad vector, engine failure)."""

    kind = ErrorKind.VECTOR
    default_code = "vector.error"
    title = "Vector store error"
    _fields = ("operation", "dimensions", "expected", "actual")

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        dimensions: int | None = None,
        expected: int | None = None,
        actual: int | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.operation = operation
        self.dimensions = dimensions
        self.expected = expected
        self.actual = actual

    def problem_status(self) -> int:
        """Input errors (dimension mismatch, invalid vector) are the client's: 400."""
        if self.code in ("vector.dimension_mismatch", "vector.invalid_vector", "vector.invalid_filter"):
            return 400
        return 500


_AUTH_STATUS = {
    "insufficient_permissions": 403,
    "rate_limited": 429,
    "account_locked": 403,
}


class AuthError(InfraError):
    """Authentication or authorization failed. Never retryable.

    Args:
        kind: the auth failure kind (``missing_credentials``, ``invalid_credentials``,
            ``invalid_token``, ``token_expired``, ``insufficient_permissions``, ...); stored as
            ``auth_kind`` (``.kind`` stays ``ErrorKind.AUTH``) and used for the code ``auth.<kind>``.
        identity: the subject concerned, if known.
    """

    kind = ErrorKind.AUTH
    default_code = "auth.invalid_credentials"
    title = "Authentication failed"
    _fields = ("auth_kind", "identity")

    def __init__(
        self,
        message: str,
        *,
        kind: str = "invalid_credentials",
        identity: str | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        if kw.get("code") is None:
            kw["code"] = f"auth.{kind}"
        super().__init__(message, **kw)
        self.auth_kind = kind
        self.identity = identity

    def problem_status(self) -> int:
        """401 for authentication failures, 403 for authorization ones."""
        return _AUTH_STATUS.get(self.auth_kind, 401)


class CryptoError(InfraError):
    """A cryptographic operation failed; verification failures are opaque on purpose."""

    kind = ErrorKind.CRYPTO
    default_code = "crypto.error"
    title = "Cryptographic error"
    _fields = ("operation",)

    def __init__(self, message: str, *, operation: str | None = None, **kw: Unpack[BaseKwargs]) -> None:
        super().__init__(message, **kw)
        self.operation = operation


class IoError(InfraError):
    """A filesystem or OS-level operation failed."""

    kind = ErrorKind.IO
    default_code = "io.error"
    title = "I/O error"
    _fields = ("operation", "path", "errno")

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        path: str | None = None,
        errno: int | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.operation = operation
        self.path = path
        self.errno = errno


class SerializationError(InfraError, ValueError):
    """Encoding or decoding failed; ``line``/``column`` locate the fault (1-based)."""

    kind = ErrorKind.SERIALIZATION
    default_code = "serialization.invalid"
    title = "Malformed document"
    http_status = 400
    _fields = ("format", "line", "column", "path")

    def __init__(
        self,
        message: str,
        *,
        format: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.format = format
        self.line = line
        self.column = column
        self.path = path


class ValidationError(InfraError, ValueError):
    """Input failed validation: ``field`` names it, ``expected``/``actual`` describe the mismatch."""

    kind = ErrorKind.VALIDATION
    default_code = "validation.invalid"
    title = "Invalid input"
    http_status = 422
    _fields = ("field", "expected", "actual")

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.field = field
        self.expected = expected
        self.actual = actual


class ExternalError(InfraError):
    """A dependency (service, pool, model provider) failed. Retryable when it says when to retry."""

    kind = ErrorKind.EXTERNAL
    default_code = "external.error"
    title = "Dependency failed"
    http_status = 502
    _fields = ("service", "operation")

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        operation: str | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.service = service
        self.operation = operation

    def _is_retryable(self) -> bool:
        return self.retry_after is not None


_MQ_CONNECTION_OPS = frozenset({"connect", "disconnect", "reconnect"})


class MessageQueueError(InfraError):
    """A broker operation failed. Retryable when the connection is at fault."""

    kind = ErrorKind.MESSAGE_QUEUE
    default_code = "mq.error"
    title = "Message queue error"
    http_status = 502
    _fields = ("queue", "operation", "connection")

    def __init__(
        self,
        message: str,
        *,
        queue: str | None = None,
        operation: str | None = None,
        connection: bool = False,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.queue = queue
        self.operation = operation
        self.connection = connection

    def _is_retryable(self) -> bool:
        return self.connection or self.operation in _MQ_CONNECTION_OPS


class OperationTimeout(InfraError, TimeoutError):
    """An operation ran past its timeout or deadline. Retryable."""

    kind = ErrorKind.TIMEOUT
    default_code = "timeout.exceeded"
    title = "Operation timed out"
    http_status = 504
    _retryable: ClassVar[bool] = True
    _fields = ("operation", "duration")

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        duration: float | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.operation = operation
        self.duration = duration


class RateLimitedError(InfraError):
    """A rate limit refused the call; ``retry_after`` says when the next one is allowed. Retryable."""

    kind = ErrorKind.RATE_LIMITED
    default_code = "rate_limited"
    title = "Too many requests"
    http_status = 429
    _retryable: ClassVar[bool] = True
    _fields = ("key", "limit")

    def __init__(
        self,
        message: str = "rate limit exceeded",
        *,
        key: str | None = None,
        limit: int | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.key = key
        self.limit = limit


class CircuitOpenError(InfraError):
    """A circuit breaker is open and refused the call without making it.

    Not retryable: wait ``retry_after`` seconds (the time until the breaker admits a probe).
    """

    kind = ErrorKind.CIRCUIT_OPEN
    default_code = "circuit.open"
    title = "Dependency temporarily unavailable"
    http_status = 503
    _fields = ("name",)

    def __init__(self, message: str, *, name: str | None = None, **kw: Unpack[BaseKwargs]) -> None:
        if kw.get("remediation") is None:
            kw["remediation"] = [
                "The dependency failed repeatedly; wait retry_after seconds before calling again.",
                "Check the dependency's health and the breaker's failure_threshold/reset_timeout.",
            ]
        super().__init__(message, **kw)
        self.name = name


class _ResourceError(InfraError):
    """Shared constructor of the errors about one resource (``resource_type``, ``resource_id``)."""

    _fields = ("resource_type", "resource_id")

    def __init__(
        self,
        message: str,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        **kw: Unpack[BaseKwargs],
    ) -> None:
        super().__init__(message, **kw)
        self.resource_type = resource_type
        self.resource_id = resource_id


class NotFoundError(_ResourceError, LookupError):
    """A resource does not exist."""

    kind = ErrorKind.NOT_FOUND
    default_code = "not_found"
    title = "Not found"
    http_status = 404


class AlreadyExistsError(_ResourceError):
    """A resource with that id already exists."""

    kind = ErrorKind.ALREADY_EXISTS
    default_code = "already_exists"
    title = "Conflict"
    http_status = 409
