"""TtlCache: LRU order, per-entry TTL, disabled caches, thread safety, and a stateful model check."""

from __future__ import annotations

import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from llm_infra.cache import CacheStats, TtlCache
from llm_infra.errors import ConfigError, ValidationError
from llm_infra.testing import FakeClock


def test_get_returns_default_on_miss_and_value_on_hit() -> None:
    """A missing key yields the default; a stored one yields its value."""
    cache: TtlCache[str, int] = TtlCache(4, 10.0, clock=FakeClock())
    assert cache.get("a") is None
    assert cache.get("a", -1) == -1
    cache.set("a", 1)
    assert cache.get("a") == 1
    assert cache.stats() == CacheStats(hits=1, misses=2, evictions=0, expirations=0, size=1, max_size=4)


def test_get_refreshes_recency_so_lru_entry_is_evicted() -> None:
    """Reading an entry protects it: the least recently *used* entry goes first."""
    cache: TtlCache[str, int] = TtlCache(2, None, clock=FakeClock())
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1
    cache.set("c", 3)
    assert "a" in cache
    assert "b" not in cache
    assert cache.stats().evictions == 1


def test_entries_expire_after_their_own_ttl() -> None:
    """Each entry lives for its ttl (or the default), measured on the injected clock."""
    clock = FakeClock()
    cache: TtlCache[str, str] = TtlCache(10, 5.0, clock=clock)
    cache.set("short", "s", ttl=1.0)
    cache.set("default", "d")
    clock.advance(1.0)
    assert cache.get("short") is None
    assert cache.get("default") == "d"
    clock.advance(4.0)
    assert cache.get("default") is None
    assert cache.stats().expirations == 2


def test_replacing_an_entry_resets_its_ttl() -> None:
    """``set`` on an existing key stores the new value with a fresh ttl."""
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(2, 2.0, clock=clock)
    cache.set("a", 1)
    clock.advance(1.5)
    cache.insert("a", 2)
    clock.advance(1.5)
    assert cache.get("a") == 2


def test_get_with_ttl_reports_time_left() -> None:
    """``get_with_ttl`` returns the value and the seconds it has left (None when it never expires)."""
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(4, 10.0, clock=clock)
    cache.set("a", 1)
    cache.set("forever", 2, ttl=None)
    clock.advance(4.0)
    assert cache.get_with_ttl("a") == (1, 6.0)
    assert cache.get_with_ttl("missing") is None
    cache2: TtlCache[str, int] = TtlCache(4, None, clock=clock)
    cache2.set("x", 1)
    assert cache2.get_with_ttl("x") == (1, None)
    clock.advance(6.0)
    assert cache.get_with_ttl("a") is None


def test_max_size_zero_is_a_disabled_cache() -> None:
    """``max_size=0`` stores nothing and never loops or raises."""
    cache: TtlCache[str, int] = TtlCache(0, 1.0)
    cache.set("a", 1)
    assert cache.get("a") is None
    assert len(cache) == 0
    assert cache.stats().misses == 1


def test_eviction_of_an_expired_lru_entry_counts_as_expiration() -> None:
    """Dropping an already expired entry to make room is an expiration, not an eviction."""
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(1, 1.0, clock=clock)
    cache.set("a", 1)
    clock.advance(2.0)
    cache.set("b", 2)
    assert cache.stats().expirations == 1
    assert cache.stats().evictions == 0


def test_invalidate_clear_and_purge() -> None:
    """``invalidate`` reports presence, ``clear`` empties, ``purge_expired`` drops only expired entries."""
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(10, 1.0, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2, ttl=10.0)
    assert cache.invalidate("a") is True
    assert cache.invalidate("a") is False
    cache.set("c", 3)
    clock.advance(1.0)
    assert cache.purge_expired() == 1
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


@pytest.mark.parametrize("max_size", [-1, 1.5, True, "3"])
def test_invalid_max_size_is_a_config_error(max_size: object) -> None:
    """A negative or non-int ``max_size`` raises ConfigError."""
    with pytest.raises(ConfigError) as info:
        TtlCache(max_size, 1.0)  # type: ignore[arg-type]
    assert info.value.code == "cache.invalid_size"


@pytest.mark.parametrize("ttl", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_invalid_ttls_are_refused(ttl: object) -> None:
    """A ttl that is not a finite positive number is refused at construction and per call."""
    with pytest.raises(ConfigError) as raised:
        TtlCache(1, ttl)  # type: ignore[arg-type]
    assert raised.value.code == "cache.invalid_ttl"
    cache: TtlCache[str, int] = TtlCache(1, 1.0)
    with pytest.raises(ValidationError) as info:
        cache.set("a", 1, ttl=ttl)  # type: ignore[arg-type]
    assert info.value.code == "cache.invalid_ttl"


def test_integer_ttl_is_accepted() -> None:
    """An int ttl is a valid number of seconds."""
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(1, 1, clock=clock)
    cache.set("a", 1, ttl=3)
    clock.advance(2.5)
    assert cache.get("a") == 1


def test_repr_and_properties() -> None:
    """The repr names the cache and its shape; properties expose the configuration."""
    cache: TtlCache[str, int] = TtlCache(3, 2.0, name="users")
    assert "users" in repr(cache)
    assert cache.max_size == 3
    assert cache.default_ttl == 2.0
    assert cache.stats().hit_ratio == 0.0


def test_concurrent_writers_and_readers_keep_the_bound() -> None:
    """Threads hammering one cache never exceed max_size nor corrupt the counters."""
    cache: TtlCache[int, int] = TtlCache(64, 30.0)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(2000):
                k = (i * 7 + seed) % 200
                if i % 3:
                    cache.get(k)
                else:
                    cache.set(k, i)
                if i % 97 == 0:
                    cache.invalidate(k)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = cache.stats()
    assert len(cache) <= 64
    assert stats.hits + stats.misses == 4 * sum(1 for i in range(2000) if i % 3)


class _Model:
    """A plainly O(n) reference: a list in recency order with expiry times."""

    def __init__(self, max_size: int, default_ttl: float | None) -> None:
        self.max_size = max_size
        self.default_ttl = default_ttl
        self.items: list[tuple[str, int, float]] = []
        self.hits = self.misses = self.evictions = self.expirations = 0

    def _find(self, key: str) -> int:
        return next((i for i, item in enumerate(self.items) if item[0] == key), -1)

    def get(self, key: str, now: float) -> int | None:
        i = self._find(key)
        if i < 0:
            self.misses += 1
            return None
        item = self.items.pop(i)
        if item[2] <= now:
            self.expirations += 1
            self.misses += 1
            return None
        self.items.append(item)
        self.hits += 1
        return item[1]

    def set(self, key: str, value: int, ttl: float | None, now: float) -> None:
        if self.max_size == 0:
            return
        ttl = self.default_ttl if ttl is None else ttl
        expires = float("inf") if ttl is None else now + ttl
        i = self._find(key)
        if i >= 0:
            self.items.pop(i)
        elif len(self.items) >= self.max_size:
            old = self.items.pop(0)
            if old[2] <= now:
                self.expirations += 1
            else:
                self.evictions += 1
        self.items.append((key, value, expires))


class TtlCacheMachine(RuleBasedStateMachine):
    """TtlCache against the list model on a FakeClock."""

    keys = st.sampled_from(["a", "b", "c", "d", "e"])

    @initialize(max_size=st.integers(0, 4), default_ttl=st.sampled_from([None, 1.0, 2.5]))
    def setup(self, max_size: int, default_ttl: float | None) -> None:
        """Create the cache and its model."""
        self.clock = FakeClock()
        self.cache: TtlCache[str, int] = TtlCache(max_size, default_ttl, clock=self.clock)
        self.model = _Model(max_size, default_ttl)

    @rule(key=keys, value=st.integers(0, 100), ttl=st.sampled_from([None, 0.5, 1.0, 3.0]))
    def set(self, key: str, value: int, ttl: float | None) -> None:
        """Store a value."""
        self.cache.set(key, value, ttl)
        self.model.set(key, value, ttl, self.clock.monotonic())

    @rule(key=keys)
    def get(self, key: str) -> None:
        """Look a key up."""
        assert self.cache.get(key) == self.model.get(key, self.clock.monotonic())

    @rule(key=keys)
    def get_with_ttl(self, key: str) -> None:
        """Look a key up with its remaining time."""
        now = self.clock.monotonic()
        expected = self.model.get(key, now)
        found = self.cache.get_with_ttl(key)
        assert (None if found is None else found[0]) == expected

    @rule(key=keys)
    def invalidate(self, key: str) -> None:
        """Drop a key."""
        i = self.model._find(key)
        if i >= 0:
            self.model.items.pop(i)
        assert self.cache.invalidate(key) is (i >= 0)

    @rule(key=keys)
    def contains(self, key: str) -> None:
        """Membership does not count or refresh."""
        i = self.model._find(key)
        alive = i >= 0 and self.model.items[i][2] > self.clock.monotonic()
        assert (key in self.cache) is alive

    @precondition(lambda self: self.clock.monotonic() < 10_000)
    @rule(dt=st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]))
    def advance(self, dt: float) -> None:
        """Let time pass."""
        self.clock.advance(dt)

    @rule()
    def purge(self) -> None:
        """Drop expired entries."""
        now = self.clock.monotonic()
        dead = [item for item in self.model.items if item[2] <= now]
        self.model.items = [item for item in self.model.items if item[2] > now]
        self.model.expirations += len(dead)
        assert self.cache.purge_expired() == len(dead)

    @rule()
    def clear(self) -> None:
        """Empty the cache."""
        self.cache.clear()
        self.model.items.clear()

    @invariant()
    def same_state(self) -> None:
        """Size, order-independent contents and counters agree with the model."""
        m = self.model
        assert self.cache.stats() == CacheStats(
            m.hits, m.misses, m.evictions, m.expirations, len(m.items), m.max_size
        )
        assert len(self.cache) <= m.max_size


TestTtlCacheMachine = TtlCacheMachine.TestCase
TestTtlCacheMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
