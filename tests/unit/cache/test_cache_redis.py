"""RedisCache against the real loopback Redis: JSON values, TTLs, clear by prefix, tiering, @cached."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llm_infra.cache import RedisCache, TieredCache, TtlCache, cached
from llm_infra.errors import ConfigError, ExternalError, SerializationError, ValidationError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
async def cache(redis_url: str) -> AsyncIterator[RedisCache]:
    """A RedisCache under a unique prefix, cleared afterwards."""
    c = RedisCache(redis_url, prefix=f"test:cache:{uuid.uuid4().hex}:", default_ttl=60.0)
    yield c
    await c.clear()
    await c.aclose()


async def test_round_trip_and_miss(cache: RedisCache) -> None:
    """Values come back as JSON carries them; a missing key yields the default."""
    await cache.set("user:1", {"name": "Ada", "tags": ["a", "b"], "n": 1.5})
    assert await cache.get("user:1") == {"name": "Ada", "tags": ["a", "b"], "n": 1.5}
    assert await cache.get("nope", "dflt") == "dflt"
    assert cache.stats()[:2] == (1, 1)


async def test_none_is_a_value(cache: RedisCache) -> None:
    """A stored null is distinguishable from a miss through the default."""
    await cache.insert("k", None)
    missing = object()
    assert await cache.get("k", missing) is None


async def test_ttl_is_set_and_reported(cache: RedisCache) -> None:
    """``get_with_ttl`` returns the remaining time; ttl=None uses the default."""
    await cache.set("a", 1, ttl=5.0)
    await cache.set("b", 2)
    value, left = await cache.get_with_ttl("a")  # type: ignore[misc]
    assert value == 1
    assert 0 < left <= 5.0
    _, left_b = await cache.get_with_ttl("b")  # type: ignore[misc]
    assert 5.0 < left_b <= 60.0
    assert await cache.get_with_ttl("zzz") is None


async def test_entries_without_ttl(redis_url: str) -> None:
    """With no default ttl an entry never expires (remaining time None)."""
    c = RedisCache(redis_url, prefix=f"test:cache:{uuid.uuid4().hex}:")
    await c.set("k", "v")
    assert await c.get_with_ttl("k") == ("v", None)
    assert c.default_ttl is None
    await c.clear()
    await c.aclose()


async def test_expiry_happens_in_redis(cache: RedisCache) -> None:
    """A 50 ms entry is gone once Redis expires it (polled with a deadline)."""
    await cache.set("short", 1, ttl=0.05)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while await cache.get("short") is not None:
        assert loop.time() < deadline
        await asyncio.sleep(0.02)


async def test_invalidate_and_clear_only_touch_the_prefix(redis_url: str, cache: RedisCache) -> None:
    """``clear`` deletes the prefix's keys (in batches); glob characters in a prefix are literal."""
    # "<prefix>*" as a pattern would also match the other cache's keys if it were not escaped.
    other = RedisCache(redis_url, prefix=cache.prefix.rstrip(":") + "*")
    await other.set("keep", 1)
    for i in range(1200):
        await cache.set(f"k{i}", i)
    assert await cache.invalidate("k0") is True
    assert await cache.invalidate("k0") is False
    await other.clear()
    assert await cache.get("k5") == 5
    await other.set("keep", 1)
    await cache.clear()
    assert await cache.get("k5") is None
    assert await other.get("keep") == 1
    await other.clear()
    await other.aclose()


async def test_undecodable_values_are_dropped_as_misses(redis_url: str, cache: RedisCache) -> None:
    """A corrupt entry counts as a miss and is deleted, not raised."""
    import redis.asyncio

    raw = redis.asyncio.Redis.from_url(redis_url)
    await raw.set(cache.prefix + "bad", b"{not json")
    assert await cache.get("bad", "d") == "d"
    assert await raw.exists(cache.prefix + "bad") == 0
    await raw.set(cache.prefix + "bad2", b"{not json")
    assert await cache.get_with_ttl("bad2") is None
    await raw.aclose()


async def test_unencodable_values_and_bad_keys(cache: RedisCache) -> None:
    """Values JSON cannot carry raise SerializationError; non-str keys raise ValidationError."""
    with pytest.raises(SerializationError) as raised:
        await cache.set("k", object())
    assert raised.value.code == "json.unserializable"
    with pytest.raises(ValidationError) as raised:
        await cache.get(1)  # type: ignore[arg-type]
    assert raised.value.code == "validation.invalid"


async def test_custom_codec_and_client(redis_url: str) -> None:
    """``encode``/``decode`` replace JSON; a passed client is not closed by ``aclose``."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    c = RedisCache(
        client=client,
        prefix=f"test:cache:{uuid.uuid4().hex}:",
        encode=lambda v: str(v).encode(),
        decode=lambda b: int(b),
    )
    await c.set("n", 42)
    assert await c.get("n") == 42
    async with c:
        pass
    assert await client.ping()
    await c.clear()
    await client.aclose()
    assert "RedisCache" in repr(c)


async def test_unreachable_redis_is_a_retryable_external_error() -> None:
    """Connection failures surface as retryable ExternalError."""
    c = RedisCache("redis://127.0.0.1:1/0")
    for call in (c.get("k"), c.get_with_ttl("k"), c.set("k", 1), c.invalidate("k"), c.clear()):
        with pytest.raises(ExternalError) as info:
            await call
        assert info.value.retryable
        assert info.value.code == "cache.redis_unavailable"
    await c.aclose()


async def test_construction_errors() -> None:
    """A url or client is required and the default ttl is validated."""
    with pytest.raises(ConfigError) as raised:
        RedisCache()
    assert raised.value.code == "cache.no_backend"
    with pytest.raises(ConfigError) as raised:
        RedisCache("redis://127.0.0.1:6379/15", default_ttl=-1)
    assert raised.value.code == "cache.invalid_ttl"


async def test_tiered_over_redis_promotes(cache: RedisCache) -> None:
    """A TieredCache with Redis as L2 promotes hits into L1 with the remaining TTL."""
    l1: TtlCache[str, Any] = TtlCache(16, 300.0)
    tiered = TieredCache(l1, cache)
    await tiered.aset("k", {"v": 1}, ttl=30.0)
    l1.clear()
    assert await tiered.aget("k") == {"v": 1}
    _, left = l1.get_with_ttl("k")  # type: ignore[misc]
    assert left is not None
    assert left <= 30.0
    assert await tiered.ainvalidate("k") is True
    assert await cache.get("k") is None


async def test_cached_async_function_in_redis_single_flight(cache: RedisCache) -> None:
    """@cached over Redis loads once for 100 concurrent callers and serves later calls from Redis."""
    loads = 0
    gate = asyncio.Event()

    @cached(cache)
    async def embed(text: str) -> list[float]:
        nonlocal loads
        loads += 1
        await gate.wait()
        return [float(len(text))]

    tasks = [asyncio.create_task(embed("hello")) for _ in range(100)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == [[5.0]] * 100
    assert loads == 1
    assert await embed("hello") == [5.0]
    assert loads == 1
