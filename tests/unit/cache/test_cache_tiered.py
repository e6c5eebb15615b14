"""TieredCache: lookup order, promotion with the remaining TTL, write order and invalidation races."""

from __future__ import annotations

from typing import Any

import pytest

from llm_infra.cache import TieredCache, TtlCache
from llm_infra.errors import ConfigError
from llm_infra.testing import FakeClock


class AsyncLevel:
    """An async cache level over a TtlCache, with a hook that runs inside a lookup."""

    def __init__(self, inner: TtlCache[str, Any]) -> None:
        self.inner = inner
        self.during_lookup: Any = None

    @property
    def default_ttl(self) -> float | None:
        return self.inner.default_ttl

    async def get(self, key: str, default: Any = None) -> Any:
        return self.inner.get(key, default)

    async def get_with_ttl(self, key: str) -> tuple[Any, float | None] | None:
        found = self.inner.get_with_ttl(key)
        if self.during_lookup is not None:
            hook, self.during_lookup = self.during_lookup, None
            await hook()
        return found

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.inner.set(key, value, ttl)

    async def invalidate(self, key: str) -> bool:
        return self.inner.invalidate(key)

    async def clear(self) -> None:
        self.inner.clear()


def make(clock: FakeClock) -> tuple[TtlCache[str, Any], TtlCache[str, Any], TieredCache[str, Any]]:
    l1: TtlCache[str, Any] = TtlCache(2, 5.0, clock=clock, name="l1")
    l2: TtlCache[str, Any] = TtlCache(100, 60.0, clock=clock, name="l2")
    return l1, l2, TieredCache(l1, l2)


def test_l2_hit_is_promoted_to_l1() -> None:
    """A value found only in L2 is copied into L1."""
    clock = FakeClock()
    l1, l2, tiered = make(clock)
    l2.set("k", "v")
    assert "k" not in l1
    assert tiered.get("k") == "v"
    assert l1.get("k") == "v"
    assert tiered.get("missing", "d") == "d"


def test_promotion_never_extends_an_entry_life() -> None:
    """A promoted entry lives in L1 no longer than it has left in L2."""
    clock = FakeClock()
    l1, l2, tiered = make(clock)
    l2.set("k", "v", ttl=2.0)
    assert tiered.get("k") == "v"
    clock.advance(2.0)
    assert l1.get("k") is None
    assert tiered.get("k") is None


def test_set_writes_both_levels_with_l1_capped_by_its_ttl() -> None:
    """``set`` stores in both; L1 keeps it for at most its own default ttl."""
    clock = FakeClock()
    l1, l2, tiered = make(clock)
    tiered.insert("k", 1, ttl=30.0)
    assert l1.get_with_ttl("k") == (1, 5.0)
    assert l2.get_with_ttl("k") == (1, 30.0)
    clock.advance(5.0)
    assert tiered.get("k") == 1  # served from L2 again


def test_invalidate_and_clear_reach_both_levels() -> None:
    """Invalidation and clearing remove the key from L1 and L2."""
    clock = FakeClock()
    l1, l2, tiered = make(clock)
    tiered.set("a", 1)
    tiered.set("b", 2)
    assert tiered.invalidate("a") is True
    assert tiered.invalidate("a") is False
    assert "a" not in l1
    assert "a" not in l2
    tiered.clear()
    assert len(l1) == 0
    assert len(l2) == 0


def test_sync_methods_refuse_an_async_l2() -> None:
    """The sync API over an async L2 raises a ConfigError naming the async methods."""
    tiered = TieredCache(TtlCache(2, 1.0), AsyncLevel(TtlCache(2, 1.0)))
    assert tiered.is_async
    with pytest.raises(ConfigError) as info:
        tiered.get("k")
    assert info.value.code == "cache.async_backend"


def test_levels_are_validated() -> None:
    """L1 must be a TtlCache and L2 a cache backend."""
    with pytest.raises(ConfigError) as raised:
        TieredCache(object(), TtlCache(1, 1.0))  # type: ignore[arg-type]
    assert raised.value.code == "cache.invalid_level"
    with pytest.raises(ConfigError) as raised:
        TieredCache(TtlCache(1, 1.0), object())  # type: ignore[arg-type]
    assert raised.value.code == "cache.invalid_level"


@pytest.mark.anyio
async def test_async_api_over_async_l2() -> None:
    """``aget``/``aset``/``ainvalidate``/``aclear`` work over an async L2 and promote."""
    clock = FakeClock()
    l1: TtlCache[str, Any] = TtlCache(4, 5.0, clock=clock)
    l2 = AsyncLevel(TtlCache(10, 60.0, clock=clock))
    tiered = TieredCache(l1, l2)
    assert tiered.l1 is l1
    assert tiered.l2 is l2
    await tiered.aset("k", [1, 2])
    l1.clear()
    assert await tiered.aget("k") == [1, 2]
    assert l1.get("k") == [1, 2]
    assert await tiered.aget("nope", 0) == 0
    await tiered.ainsert("j", 3)
    assert await tiered.ainvalidate("k") is True
    await tiered.aclear()
    assert await tiered.aget("j") is None
    assert "TieredCache" in repr(tiered)


@pytest.mark.anyio
async def test_async_api_over_sync_l2() -> None:
    """The async API also drives a synchronous L2."""
    clock = FakeClock()
    l1, l2, tiered = make(clock)
    await tiered.aset("k", 1)
    l1.clear()
    assert await tiered.aget("k") == 1
    assert await tiered.ainvalidate("k") is True
    await tiered.aset("j", 2)
    await tiered.aclear()
    assert len(l2) == 0


@pytest.mark.anyio
async def test_lookup_racing_an_invalidation_does_not_resurrect_the_value() -> None:
    """An L2 read that overlaps an invalidation does not put the old value into L1."""
    clock = FakeClock()
    l1: TtlCache[str, Any] = TtlCache(4, 5.0, clock=clock)
    l2 = AsyncLevel(TtlCache(10, 60.0, clock=clock))
    tiered = TieredCache(l1, l2)
    await tiered.aset("k", "old")
    l1.clear()

    async def invalidate() -> None:
        await tiered.ainvalidate("k")

    l2.during_lookup = invalidate
    assert await tiered.aget("k") == "old"  # the read began before the invalidation
    assert "k" not in l1
    assert await tiered.aget("k") is None


@pytest.mark.anyio
async def test_lookup_racing_a_set_keeps_the_new_value() -> None:
    """An L2 read that overlaps a ``set`` leaves the new value in L1."""
    clock = FakeClock()
    l1: TtlCache[str, Any] = TtlCache(4, 5.0, clock=clock)
    l2 = AsyncLevel(TtlCache(10, 60.0, clock=clock))
    tiered = TieredCache(l1, l2)
    await tiered.aset("k", "old")
    l1.clear()

    async def write() -> None:
        await tiered.aset("k", "new")

    l2.during_lookup = write
    await tiered.aget("k")
    assert l1.get("k") == "new"
