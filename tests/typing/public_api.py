"""The public API as users write it, checked by ``mypy --strict`` (never run by pytest).

Each function uses one area the way its docs show; ``assert_type`` pins what mypy infers, so a
change that loosens a public signature (an ``Any`` leaking out, a decorator losing the wrapped
function's parameters) fails the type check in CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, assert_type

from llm_infra import InfraError, json
from llm_infra.cache import CachedFunction, CacheStats, TtlCache, cached
from llm_infra.config import VECTOR_DIMENSIONS, Config, ConfigLoader, Key, int_range, one_of
from llm_infra.errors import ConfigError, ValidationError
from llm_infra.ids import nanoid, ulid, uuid7
from llm_infra.resilience import CircuitBreaker, RetryPolicy, circuit, retry
from llm_infra.secrets import Secret, reveal


def retry_keeps_signatures() -> None:
    @retry(RetryPolicy(max_attempts=3))
    def fetch(url: str, *, timeout: float = 1.0) -> bytes:
        return url.encode()

    assert_type(fetch("x", timeout=2.0), bytes)


async def retry_async() -> None:
    @retry()
    async def afetch(url: str) -> bytes:
        return url.encode()

    data: bytes = await afetch("x")
    assert data


def circuit_breaker() -> None:
    breaker = circuit("search", failure_threshold=3)
    assert_type(breaker, CircuitBreaker)

    @breaker
    def search(query: str) -> list[str]:
        return [query]

    assert_type(search("q"), list[str])


def config_keys() -> None:
    workers = Key("app.workers", cast=int_range(1, 64), default=4, doc="Worker threads.")
    mode = Key("app.mode", cast=one_of("fast", "safe"), default="safe")
    name = Key("app.name", default="svc")
    cfg = ConfigLoader(keys=[workers, mode, name]).with_env(environ={}).load()
    assert_type(cfg, Config)
    assert_type(cfg.get(workers), int)
    assert_type(cfg.get(mode), str)
    assert_type(cfg.get(name), str)
    assert_type(cfg.get(VECTOR_DIMENSIONS, None), int | None)

    @dataclass(frozen=True)
    class App:
        workers: int = 4
        name: str = "svc"

    assert_type(cfg.bind(App, "app"), App)


def cached_functions() -> None:
    cache: TtlCache[str, int] = TtlCache(max_size=128, default_ttl=60.0)

    @cached(cache)
    def square(x: int) -> int:
        return x * x

    assert_type(square(3), int)
    assert_type(square.cache, TtlCache[str, int])
    assert_type(square.cache.stats(), CacheStats)
    wrapped: CachedFunction[TtlCache[str, int], [int], int] = square
    assert wrapped(2) == 4


def secrets_stay_typed() -> None:
    token = Secret("s3cr3t")
    assert_type(token, Secret[str])
    assert_type(token.reveal(), str)
    raw = Secret(b"k" * 32)
    assert_type(raw.reveal(), bytes)
    assert_type(reveal(token), object)


def json_codec() -> None:
    data = json.dumps({"a": 1})
    assert_type(data, bytes)
    value = json.loads(data)
    assert_type(value, Any)


def ids() -> None:
    assert_type(ulid(), str)
    assert_type(uuid7(), str)
    assert_type(nanoid(), str)


def errors() -> None:
    try:
        raise ConfigError("bad", key="app.workers", code="config.wrong_type")
    except InfraError as exc:
        assert_type(exc.code, str)
        assert_type(exc.retryable, bool)
        assert_type(exc.to_dict(), dict[str, object])
    err = ValidationError("bad", field="x", expected="int", actual="str")
    assert isinstance(err, ValueError)


def read_only_attributes() -> None:
    cache: TtlCache[str, int] = TtlCache(max_size=8, default_ttl=None)
    assert_type(cache.max_size, int)
    assert_type(cache.default_ttl, float | None)
    assert_type(CircuitBreaker("db").failure_count, int)
    cache.max_size = 4  # type: ignore[assignment]  # read-only: the checker refuses it, as for a property
