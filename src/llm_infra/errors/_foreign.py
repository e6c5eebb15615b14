"""Converters for the backend drivers every area shares (redis-py, psycopg), registered by name.

``errors`` imports neither driver: the converters are keyed by ``"module.Class"`` in the
``to_infra_error`` registry and look at the exception's class names only. Areas call
``redis_error`` / ``postgres_error`` directly to name their own code prefix and operation.
"""

from __future__ import annotations

from llm_infra.errors._context import _register_named
from llm_infra.errors._types import ExternalError

_REDIS_TRANSIENT = frozenset({"ConnectionError", "TimeoutError", "BusyLoadingError", "TryAgainError"})
_PG_TRANSIENT = frozenset(
    {"OperationalError", "SerializationFailure", "DeadlockDetected", "AdminShutdown", "PoolTimeout"}
)


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _driver_error(service: str, operation: str, detail: str, transient: bool, code: str) -> ExternalError:
    return ExternalError(
        f"{service} {operation} failed: {detail}",
        service=service,
        operation=operation,
        code=code,
        retryable=transient,
    )


def redis_error(exc: BaseException, operation: str, *, area: str = "external") -> ExternalError:
    """The ``ExternalError`` for a redis-py failure of ``operation``.

    Connection trouble and timeouts (and ``OSError``) are retryable with code
    ``<area>.redis_unavailable``; anything else is ``<area>.redis_error``. Only the class name
    reaches the message: a driver message may quote connection details.
    """
    transient = bool(_class_names(exc) & _REDIS_TRANSIENT) or isinstance(exc, OSError)
    code = f"{area}.redis_unavailable" if transient else f"{area}.redis_error"
    return _driver_error("redis", operation, type(exc).__name__, transient, code)


def postgres_error(exc: BaseException, operation: str, *, area: str = "external") -> ExternalError:
    """The ``ExternalError`` for a psycopg failure of ``operation``.

    Connection trouble, serialization failures and deadlocks are retryable with code
    ``<area>.postgres_unavailable``; a rejected statement is ``<area>.postgres_error``. The message
    carries the class and SQLSTATE only, never the driver's text (it may quote the DSN).
    """
    state = getattr(exc, "sqlstate", None)
    detail = type(exc).__name__ + (f" (SQLSTATE {state})" if state else "")
    transient = bool(_class_names(exc) & _PG_TRANSIENT) or isinstance(exc, OSError)
    code = f"{area}.postgres_unavailable" if transient else f"{area}.postgres_error"
    return _driver_error("postgres", operation, detail, transient, code)


def _from_redis(exc: BaseException) -> ExternalError:
    return redis_error(exc, "call")


def _from_postgres(exc: BaseException) -> ExternalError:
    return postgres_error(exc, "query")


_register_named("redis.exceptions.RedisError", _from_redis)
_register_named("psycopg.Error", _from_postgres)
_register_named("psycopg_pool.PoolTimeout", _from_postgres)

__all__ = ["postgres_error", "redis_error"]
