"""@cached: memoization, keys, error handling and single flight for sync and async functions."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from llm_infra.cache import TieredCache, TtlCache, cached, default_cache_key
from llm_infra.errors import ConfigError
from llm_infra.testing import FakeClock


class AsyncLevel:
    """A minimal async cache level."""

    def __init__(self) -> None:
        self.inner: TtlCache[Any, Any] = TtlCache(100, 60.0)

    @property
    def default_ttl(self) -> float | None:
        return 60.0

    async def get(self, key: Any, default: Any = None) -> Any:
        return self.inner.get(key, default)

    async def get_with_ttl(self, key: Any) -> tuple[Any, float | None] | None:
        return self.inner.get_with_ttl(key)

    async def set(self, key: Any, value: Any, ttl: float | None = None) -> None:
        self.inner.set(key, value, ttl)

    async def invalidate(self, key: Any) -> bool:
        return self.inner.invalidate(key)

    async def clear(self) -> None:
        self.inner.clear()


def test_sync_function_is_memoized_per_arguments() -> None:
    """Repeated calls with the same arguments run the function once."""
    calls: list[tuple[int, int]] = []

    @cached(TtlCache(16, 60.0))
    def add(a: int, b: int = 0) -> int:
        calls.append((a, b))
        return a + b

    assert add(1, b=2) == 3
    assert add(1, b=2) == 3
    assert add(2) == 2
    assert calls == [(1, 2), (2, 0)]


def test_none_results_are_cached_too() -> None:
    """A function returning None is not called again (the miss sentinel is not None)."""
    calls = 0

    @cached(TtlCache(4, 60.0))
    def nothing() -> None:
        nonlocal calls
        calls += 1

    nothing()
    nothing()
    assert calls == 1


def test_ttl_and_custom_key() -> None:
    """``ttl=`` bounds a result's life; ``key=`` chooses the cache key."""
    clock = FakeClock()
    cache: TtlCache[Any, Any] = TtlCache(4, 60.0, clock=clock)
    calls = 0

    @cached(cache, key=lambda user, **_: ("user", user), ttl=1.0)
    def load(user: str, verbose: bool = False) -> str:
        nonlocal calls
        calls += 1
        return user.upper()

    assert load("ada") == "ADA"
    assert load("ada", verbose=True) == "ADA"
    assert cache.get(("user", "ada")) == "ADA"
    clock.advance(1.0)
    load("ada")
    assert calls == 2


def test_default_key_is_stable_and_ignores_keyword_order() -> None:
    """The default key is module.qualname plus the reprs of the arguments."""

    def f(a: int, **kw: int) -> None: ...

    k1 = default_cache_key(f, (1,), {"x": 1, "y": 2})
    k2 = default_cache_key(f, (1,), {"y": 2, "x": 1})
    assert k1 == k2
    assert k1.endswith("f(1, x=1, y=2)")


def test_exceptions_are_not_cached() -> None:
    """A failing call raises to the caller and the next call tries again."""
    attempts = 0

    @cached(TtlCache(4, 60.0))
    def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("boom")
        return "ok"

    with pytest.raises(RuntimeError):
        flaky()
    assert flaky() == "ok"


def test_sync_single_flight_100_threads_one_load() -> None:
    """100 threads missing the same key at once cause exactly one load."""
    loads = 0
    release = threading.Event()
    start = threading.Barrier(101)

    cache: TtlCache[Any, Any] = TtlCache(4, 60.0)

    @cached(cache)
    def slow(x: int) -> int:
        nonlocal loads
        loads += 1
        assert release.wait(10)
        return x * 2

    results: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        start.wait()
        value = slow(21)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=call) for _ in range(100)]
    for t in threads:
        t.start()
    start.wait()
    # Hold the loader until every caller has missed (one miss each: the loader's re-check is not
    # counted), so the 99 others are waiting on its flight when it finishes.
    poll = threading.Event()
    for _ in range(2000):
        if cache.stats().misses >= 100:
            break
        poll.wait(0.005)
    assert cache.stats().misses == 100
    release.set()
    for t in threads:
        t.join(10)
    assert loads == 1
    assert results == [42] * 100


def test_sync_single_flight_shares_the_exception() -> None:
    """Waiters of a failing load get its exception; nothing is cached."""
    release = threading.Event()
    entered = threading.Event()

    @cached(TtlCache(4, 60.0))
    def fail() -> int:
        entered.set()
        assert release.wait(10)
        raise ValueError("nope")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            fail()
        except ValueError as exc:
            errors.append(exc)

    leader = threading.Thread(target=call)
    leader.start()
    assert entered.wait(10)
    waiters = [threading.Thread(target=call) for _ in range(5)]
    for t in waiters:
        t.start()
    release.set()
    for t in [leader, *waiters]:
        t.join(10)
    assert len(errors) == 6


def test_sync_function_refuses_an_async_cache() -> None:
    """Caching a sync function in an async-only cache is a ConfigError at decoration."""
    with pytest.raises(ConfigError) as raised:
        cached(AsyncLevel())(lambda: 1)
    assert raised.value.code == "cache.async_backend"
    with pytest.raises(ConfigError) as raised:
        cached(TieredCache(TtlCache(1, 1.0), AsyncLevel()))(lambda: 1)
    assert raised.value.code == "cache.async_backend"


@pytest.mark.anyio
async def test_async_single_flight_100_tasks_one_load() -> None:
    """100 concurrent tasks missing the same key cause exactly one load."""
    loads = 0
    gate = asyncio.Event()

    @cached(TtlCache(4, 60.0))
    async def fetch(x: int) -> int:
        nonlocal loads
        loads += 1
        await gate.wait()
        return x + 1

    tasks = [asyncio.create_task(fetch(1)) for _ in range(100)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == [2] * 100
    assert loads == 1
    assert await fetch(1) == 2
    assert loads == 1


@pytest.mark.anyio
async def test_async_single_flight_over_an_async_cache() -> None:
    """Single flight also holds when the cache itself is async."""
    loads = 0
    gate = asyncio.Event()
    level = AsyncLevel()

    @cached(level)
    async def fetch(x: int) -> int:
        nonlocal loads
        loads += 1
        await gate.wait()
        return x

    tasks = [asyncio.create_task(fetch(5)) for _ in range(100)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == [5] * 100
    assert loads == 1


@pytest.mark.anyio
async def test_async_tiered_cache_is_used_through_its_async_methods() -> None:
    """A TieredCache over an async L2 caches async functions."""
    tiered = TieredCache(TtlCache(4, 5.0), AsyncLevel())
    calls = 0

    @cached(tiered, key=lambda x: f"k{x}")
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    assert await f(1) == 1
    assert await f(1) == 1
    assert calls == 1
    assert await tiered.aget("k1") == 1


@pytest.mark.anyio
async def test_async_waiters_share_the_exception() -> None:
    """Waiters of a failing async load get its exception; the next call retries."""
    gate = asyncio.Event()
    attempts = 0

    @cached(TtlCache(4, 60.0))
    async def fail() -> int:
        nonlocal attempts
        attempts += 1
        await gate.wait()
        if attempts == 1:
            raise KeyError("x")
        return 7

    tasks = [asyncio.create_task(fail()) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, KeyError) for r in results)
    assert await fail() == 7


@pytest.mark.anyio
async def test_cancelled_loader_hands_over_to_a_waiter() -> None:
    """When the loading task is cancelled, a waiter loads instead of hanging."""
    first_gate = asyncio.Event()
    loads = 0

    @cached(TtlCache(4, 60.0))
    async def load() -> str:
        nonlocal loads
        loads += 1
        if loads == 1:
            await first_gate.wait()  # never set: this load is cancelled
        return "second"

    leader = asyncio.create_task(load())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(load())
    await asyncio.sleep(0)
    leader.cancel()
    assert await waiter == "second"
    assert loads == 2
    with pytest.raises(asyncio.CancelledError):
        await leader


def test_wrapper_exposes_its_cache() -> None:
    """The decorated function keeps a reference to its cache."""
    cache: TtlCache[Any, Any] = TtlCache(1, 1.0)

    @cached(cache)
    def f() -> int:
        return 1

    assert f.cache is cache  # type: ignore[attr-defined]


def test_each_call_is_one_lookup_in_the_stats() -> None:
    """3 misses and 1 hit report misses=3, hits=1 (a leader's re-check is not counted twice)."""
    cache: TtlCache[object, object] = TtlCache(max_size=16, default_ttl=None)

    @cached(cache)
    def double(x: int) -> int:
        return 2 * x

    assert [double(1), double(2), double(3), double(1)] == [2, 4, 6, 2]
    stats = double.cache.stats()
    assert (stats.misses, stats.hits) == (3, 1)


def test_each_async_call_is_one_lookup_in_the_stats() -> None:
    """The async wrapper counts one lookup per call too."""
    import asyncio

    cache: TtlCache[object, object] = TtlCache(max_size=16, default_ttl=None)

    @cached(cache)
    async def double(x: int) -> int:
        return 2 * x

    async def run() -> list[int]:
        return [await double(1), await double(2), await double(3), await double(1)]

    assert asyncio.run(run()) == [2, 4, 6, 2]
    stats = cache.stats()
    assert (stats.misses, stats.hits) == (3, 1)
