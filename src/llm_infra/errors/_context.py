"""``error_context`` and the converter registry (``to_infra_error``)."""

from __future__ import annotations

import importlib
import json as _stdjson
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Literal, TypeVar, final

from llm_infra.errors._base import InfraError
from llm_infra.errors._types import (
    CryptoError,
    IoError,
    NotFoundError,
    OperationTimeout,
    SerializationError,
    ValidationError,
)

E = TypeVar("E", bound=BaseException)


@final
class error_context:  # noqa: N801 - used like a function: ``with error_context(op="x"):``
    """Add attributes to any ``InfraError`` raised inside the block, then let it propagate.

    Inner attributes win over outer ones, so the most specific context is kept::

        with error_context(op="publish", topic="jobs"):
            broker.publish(...)

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_attrs",)

    def __init__(self, **attrs: object) -> None:
        self._attrs = attrs

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if isinstance(exc, InfraError):
            attributes = exc.context.attributes
            for key, value in self._attrs.items():
                attributes.setdefault(key, value)
        return False

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        return self.__exit__(exc_type, exc, tb)


Converter = Callable[[BaseException], InfraError]
_converters: dict[type[BaseException], Converter] = {}
_named_converters: dict[str, Converter] = {}
_lock = threading.Lock()


def register_converter(exc_type: type[E], fn: Callable[[E], InfraError]) -> None:
    """Teach ``to_infra_error`` how to convert ``exc_type`` (and its subclasses).

    The most specific registered class in the exception's MRO wins.

    .. versionadded:: 0.1.0
    """
    with _lock:
        _converters[exc_type] = fn  # type: ignore[assignment]


def _register_named(qualname: str, fn: Converter) -> None:
    # Converters for optional libraries, keyed by "module.Class" so that errors imports none of them.
    _named_converters[qualname] = fn


def to_infra_error(exc: BaseException) -> InfraError:
    """Convert any exception into an ``InfraError``; an ``InfraError`` is returned unchanged.

    Built in: ``TimeoutError`` → ``OperationTimeout``, ``FileNotFoundError`` → ``IoError``
    (code ``io.not_found``), ``OSError`` → ``IoError`` (errno and path kept),
    ``json.JSONDecodeError`` → ``SerializationError`` (line, column), ``KeyError``/``LookupError``
    → ``NotFoundError``, ``ValueError``/``TypeError`` → ``ValidationError``, httpx errors →
    ``HttpError``/``OperationTimeout`` (codes ``http.*``, URLs redacted),
    ``cryptography.exceptions.InvalidTag``/``InvalidSignature`` → ``CryptoError``.
    Anything else becomes a plain ``InfraError`` (code ``internal.unexpected``). The original is
    kept as ``__cause__``.

    .. versionadded:: 0.1.0
    """
    if isinstance(exc, InfraError):
        return exc
    for cls in type(exc).__mro__:
        fn = _converters.get(cls)
        if fn is None:
            fn = _named_converters.get(f"{cls.__module__}.{cls.__qualname__}")
        if fn is not None:
            out = fn(exc)
            break
    else:  # pragma: no cover - BaseException is always in the MRO
        out = InfraError(f"{type(exc).__name__}: {exc}", code="internal.unexpected")
    if out.__cause__ is None:
        out.__cause__ = exc
    return out


def _from_timeout(exc: TimeoutError) -> InfraError:
    return OperationTimeout(str(exc) or "operation timed out")


def _from_oserror(exc: OSError) -> InfraError:
    path = exc.filename if isinstance(exc.filename, str) else None
    code = "io.not_found" if isinstance(exc, FileNotFoundError) else "io.error"
    if isinstance(exc, PermissionError):
        code = "io.permission_denied"
    message = exc.strerror or str(exc) or type(exc).__name__
    if path is not None:
        message = f"{message}: {path}"
    return IoError(message, errno=exc.errno, path=path, code=code)


def _from_json(exc: _stdjson.JSONDecodeError) -> InfraError:
    return SerializationError(
        f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        format="json",
        line=exc.lineno,
        column=exc.colno,
    )


def _from_lookup(exc: LookupError) -> InfraError:
    return NotFoundError(f"not found: {exc}")


def _from_value(exc: Exception) -> InfraError:
    return ValidationError(str(exc) or type(exc).__name__)


def _from_base(exc: BaseException) -> InfraError:
    return InfraError(f"{type(exc).__name__}: {exc}", code="internal.unexpected")


def _from_httpx(exc: BaseException) -> InfraError:
    # The one httpx converter lives with the HTTP client (codes http.*, URLs redacted); it is
    # loaded by name on first use so that errors depends on neither httpx nor llm_infra.http.
    convert = importlib.import_module("llm_infra.http._errors").httpx_error
    result: InfraError = convert(exc)
    return result


def _from_crypto(exc: BaseException) -> InfraError:
    return CryptoError("cryptographic verification failed", code="crypto.verification_failed")


register_converter(BaseException, _from_base)
register_converter(TimeoutError, _from_timeout)
register_converter(OSError, _from_oserror)
register_converter(_stdjson.JSONDecodeError, _from_json)
register_converter(LookupError, _from_lookup)
register_converter(ValueError, _from_value)
register_converter(TypeError, _from_value)
_register_named("httpx.HTTPError", _from_httpx)
_register_named("cryptography.exceptions.InvalidTag", _from_crypto)
_register_named("cryptography.exceptions.InvalidSignature", _from_crypto)
