"""Redis backend against the real loopback Redis: server time, async client, cross-process limits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator

import pytest

from llm_infra.errors import ConfigError, ExternalError
from llm_infra.ratelimit import RateLimiter, RedisBackend

pytestmark = pytest.mark.integration

ALGORITHMS = ["gcra", "token_bucket", "sliding_window"]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix, deleted after the test."""
    import redis

    value = f"test:rl:{uuid.uuid4().hex}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=value + "*"))
    if keys:
        client.unlink(*keys)
    client.close()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_server_time_decisions(redis_url: str, prefix: str, algorithm: str) -> None:
    """With no clock, decisions use Redis TIME and match the in-memory semantics."""
    backend = RedisBackend(redis_url, prefix=prefix)
    limiter = RateLimiter(3, 3600.0, algorithm=algorithm, backend=backend)  # type: ignore[arg-type]
    decisions = [limiter.check("user") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[-1].retry_after > 0
    assert decisions[0].reset_after > 0
    limiter.reset("user")
    assert limiter.check("user").allowed
    backend.close()


@pytest.mark.anyio
@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_async_client(redis_url: str, prefix: str, algorithm: str) -> None:
    """The async path runs the same script through redis.asyncio."""
    backend = RedisBackend(redis_url, prefix=prefix)
    limiter = RateLimiter(2, 3600.0, algorithm=algorithm, backend=backend)  # type: ignore[arg-type]
    assert (await limiter.acheck("k")).allowed
    assert (await limiter.aacquire("k")).allowed
    assert not (await limiter.acheck("k")).allowed
    await limiter.areset("k")
    assert (await limiter.acheck("k")).allowed
    await backend.aclose()


def test_script_is_reloaded_after_script_flush(redis_url: str, prefix: str) -> None:
    """A flushed script cache (NOSCRIPT) falls back to EVAL transparently."""
    import redis

    client = redis.Redis.from_url(redis_url)
    backend = RedisBackend(client=client, prefix=prefix)
    limiter = RateLimiter(5, 60.0, backend=backend)
    assert limiter.check("k").allowed
    client.script_flush()
    assert limiter.check("k").remaining == 3
    client.close()


@pytest.mark.anyio
async def test_async_script_reload(redis_url: str, prefix: str) -> None:
    """The async path also survives SCRIPT FLUSH."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    backend = RedisBackend(async_client=client, prefix=prefix)
    limiter = RateLimiter(5, 60.0, backend=backend)
    await client.script_flush()
    assert (await limiter.acheck("k")).remaining == 4
    with pytest.raises(ConfigError) as exc_info:
        limiter.check("k")  # only an async client was given
    assert exc_info.value.code == "ratelimit.no_sync_client"
    await client.aclose()


def test_sync_only_backend_refuses_async(redis_url: str, prefix: str) -> None:
    """A backend built from a sync client cannot serve ``acheck``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    backend = RedisBackend(client=client, prefix=prefix)
    with pytest.raises(ConfigError) as exc_info:
        backend._async_client()
    assert exc_info.value.code == "ratelimit.no_async_client"
    assert "RedisBackend" in repr(backend)
    client.close()


_CHILD = textwrap.dedent(
    """
    import sys
    from llm_infra.ratelimit import RateLimiter, RedisBackend
    url, prefix, algorithm, attempts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    backend = RedisBackend(url, prefix=prefix)
    limiter = RateLimiter(50, 3600.0, algorithm=algorithm, backend=backend, name="shared")
    print(sum(limiter.check("tenant").allowed for _ in range(attempts)))
    """
)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_limit_holds_across_processes(redis_url: str, prefix: str, algorithm: str) -> None:
    """Two processes hammering one key share one limit: exactly 50 of 160 requests pass."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, redis_url, prefix, algorithm, "80"],
        stdout=subprocess.PIPE,
        text=True,
    )
    backend = RedisBackend(redis_url, prefix=prefix)
    limiter = RateLimiter(50, 3600.0, algorithm=algorithm, backend=backend, name="shared")  # type: ignore[arg-type]
    mine = sum(limiter.check("tenant").allowed for _ in range(80))
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    assert mine + int(out.strip()) == 50
    backend.close()


def test_keys_expire_once_idle(redis_url: str, prefix: str) -> None:
    """Every state key carries a TTL, so idle keys do not accumulate in Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for algorithm in ALGORITHMS:
        RateLimiter(5, 10.0, algorithm=algorithm, backend=RedisBackend(client=client, prefix=prefix)).check(  # type: ignore[arg-type]
            "k"
        )
    keys = list(client.scan_iter(match=prefix + "*"))
    assert len(keys) == 3
    assert all(0 < client.pttl(k) <= 20_001 for k in keys)
    client.close()


def _kill_clients(redis_url: str, name: str) -> int:
    import redis

    admin = redis.Redis.from_url(redis_url)
    killed = 0
    for entry in admin.client_list():
        if entry.get("name") == name:
            killed += admin.client_kill_filter(_id=entry["id"])
    admin.close()
    return killed


def test_connection_killed_mid_use_is_reported_then_recovered(redis_url: str, prefix: str) -> None:
    """A held connection the server dropped fails one decision (retryable), then a new one is used."""
    import redis

    name = f"rl-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url, client_name=name)
    limiter = RateLimiter(10, 60.0, backend=RedisBackend(client=client, prefix=prefix))
    assert limiter.check("k").allowed
    assert _kill_clients(redis_url, name) >= 1
    with pytest.raises(ExternalError) as info:
        limiter.check("k")
    assert info.value.code == "ratelimit.redis_unavailable"
    assert info.value.retryable
    assert limiter.check("k").remaining == 8
    client.close()


@pytest.mark.anyio
async def test_async_killed_connection_is_reported_then_recovered(redis_url: str, prefix: str) -> None:
    """The async path also drops a broken connection and recovers on the next call."""
    import redis.asyncio

    name = f"rl-{uuid.uuid4().hex[:8]}"
    client = redis.asyncio.Redis.from_url(redis_url, client_name=name)
    backend = RedisBackend(async_client=client, prefix=prefix)
    limiter = RateLimiter(10, 60.0, backend=backend)
    assert (await limiter.acheck("k")).allowed
    assert _kill_clients(redis_url, name) >= 1
    with pytest.raises(ExternalError) as exc_info:
        await limiter.acheck("k")
    assert exc_info.value.code == "ratelimit.redis_unavailable"
    assert (await limiter.acheck("k")).remaining == 8
    await backend.aclose()
    await client.aclose()
