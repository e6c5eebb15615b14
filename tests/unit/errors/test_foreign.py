"""The shared redis/psycopg converters: retryable for connection trouble, no driver text."""

from __future__ import annotations

import pytest

from llm_infra.errors import ExternalError, to_infra_error
from llm_infra.errors._foreign import postgres_error, redis_error


def test_redis_connection_error_is_retryable() -> None:
    redis_exceptions = pytest.importorskip("redis.exceptions")
    err = redis_error(redis_exceptions.ConnectionError("redis://:hunter2@h"), "get", area="cache")
    assert isinstance(err, ExternalError)
    assert err.code == "cache.redis_unavailable"
    assert err.retryable
    assert "hunter2" not in err.message
    other = redis_error(redis_exceptions.ResponseError("WRONGTYPE"), "get", area="cache")
    assert other.code == "cache.redis_error"
    assert not other.retryable


def test_registry_converts_redis_and_postgres() -> None:
    redis_exceptions = pytest.importorskip("redis.exceptions")
    psycopg = pytest.importorskip("psycopg")
    assert to_infra_error(redis_exceptions.TimeoutError()).code == "external.redis_unavailable"
    err = to_infra_error(psycopg.OperationalError("password=hunter2"))
    assert err.code == "external.postgres_unavailable"
    assert err.retryable
    assert "hunter2" not in err.message
    bad = postgres_error(psycopg.errors.UndefinedTable(), "select", area="auth")
    assert bad.code == "auth.postgres_error"
    assert not bad.retryable
