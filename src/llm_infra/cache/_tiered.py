"""``TieredCache``: a small hot L1 in front of a larger (possibly remote) L2, with promotion."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Hashable
from typing import Any, Generic, TypeVar, cast, final

from llm_infra._internal._attrs import readonly
from llm_infra.cache import _codes as codes
from llm_infra.cache._protocols import AsyncCacheBackend, CacheBackend
from llm_infra.cache._ttl import TtlCache, check_ttl
from llm_infra.errors import ConfigError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING: Any = object()


def _min_ttl(*ttls: float | None) -> float | None:
    finite = [t for t in ttls if t is not None]
    return min(finite) if finite else None


@final
class TieredCache(Generic[K, V]):
    """Two cache levels: look in ``l1``, then in ``l2`` and promote a hit into ``l1``.

    Writes go to ``l2`` first, then ``l1``, so ``l1`` never holds a value ``l2`` refused. A
    promoted entry lives in ``l1`` for ``min(l1.default_ttl, the time the entry has left in l2)``,
    so promotion never extends an entry's life. Promotion is skipped when a ``set``,
    ``invalidate`` or ``clear`` ran while the ``l2`` lookup was in flight, so a lookup racing an
    invalidation cannot put the old value back into ``l1``.

    With a synchronous ``l2`` (another ``TtlCache``) use ``get``/``set``/``invalidate``/``clear``;
    with an async one (``RedisCache``) use ``aget``/``aset``/``ainvalidate``/``aclear`` (these also
    work over a synchronous ``l2``).

    .. note:: Another process's ``invalidate`` on a shared ``l2`` cannot reach this process's
       ``l1``: keep ``l1.default_ttl`` as short as the staleness you accept.

    Args:
        l1: the small, fast level.
        l2: the larger level: a ``CacheBackend`` or an ``AsyncCacheBackend``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_gen", "_l1", "_l2", "_l2_async", "_lock")

    def __init__(self, l1: TtlCache[K, V], l2: CacheBackend[K, V] | AsyncCacheBackend[K, V]) -> None:
        if not isinstance(l1, TtlCache):
            raise ConfigError("l1 must be a TtlCache", key="l1", code=codes.INVALID_LEVEL)
        if not isinstance(l2, CacheBackend | AsyncCacheBackend):
            raise ConfigError(
                "l2 must have get/get_with_ttl/set/invalidate/clear", key="l2", code=codes.INVALID_LEVEL
            )
        self._l1 = l1
        self._l2 = l2
        self._l2_async = inspect.iscoroutinefunction(l2.get)
        self._lock = threading.Lock()
        self._gen = 0

    l1: readonly[TtlCache[K, V]] = readonly("_l1", "The fast level.")

    l2: readonly[CacheBackend[K, V] | AsyncCacheBackend[K, V]] = readonly("_l2", "The large level.")

    is_async: readonly[bool] = readonly(
        "_l2_async", "Whether ``l2`` is asynchronous (only the ``a``-prefixed methods work then)."
    )

    def _sync_l2(self) -> CacheBackend[K, V]:
        if self._l2_async:
            raise ConfigError(
                "this TieredCache has an async l2: use aget/aset/ainvalidate/aclear",
                key="l2",
                code=codes.ASYNC_BACKEND,
            )
        return cast("CacheBackend[K, V]", self._l2)

    def _l1_ttl(self, ttl: float | None) -> float | None:
        return _min_ttl(ttl, self._l1.default_ttl, self._l2.default_ttl)

    def _promote(self, key: K, found: tuple[V, float | None], gen: int) -> None:
        value, left = found
        with self._lock:
            if self._gen == gen:
                self._l1.set(key, value, _min_ttl(left, self._l1.default_ttl))

    def _begin_write(self) -> None:
        with self._lock:
            self._gen += 1

    # --- synchronous -------------------------------------------------------------------------

    def get(self, key: K, default: Any = None) -> Any:
        """The value from ``l1``, else from ``l2`` (promoted into ``l1``), else ``default``."""
        value = self._l1.get(key, _MISSING)
        if value is not _MISSING:
            return value
        l2 = self._sync_l2()
        gen = self._gen
        found = l2.get_with_ttl(key)
        if found is None:
            return default
        self._promote(key, found, gen)
        return found[0]

    def set(self, key: K, value: V, ttl: float | None = None) -> None:
        """Store in ``l2`` then ``l1`` (for at most ``l1.default_ttl``)."""
        ttl = check_ttl(ttl)
        l2 = self._sync_l2()
        self._begin_write()
        l2.set(key, value, ttl)
        with self._lock:
            self._l1.set(key, value, self._l1_ttl(ttl))
            self._gen += 1

    insert = set
    """Alias of ``set``."""

    def invalidate(self, key: K) -> bool:
        """Drop ``key`` from both levels; whether either had it."""
        l2 = self._sync_l2()
        self._begin_write()
        in_l2 = l2.invalidate(key)
        with self._lock:
            in_l1 = self._l1.invalidate(key)
            self._gen += 1
        return in_l1 or in_l2

    def clear(self) -> None:
        """Empty both levels."""
        l2 = self._sync_l2()
        self._begin_write()
        l2.clear()
        with self._lock:
            self._l1.clear()
            self._gen += 1

    # --- asynchronous ------------------------------------------------------------------------

    async def aget(self, key: K, default: Any = None) -> Any:
        """Async ``get``: works over a sync or an async ``l2``."""
        value = self._l1.get(key, _MISSING)
        if value is not _MISSING:
            return value
        gen = self._gen
        if self._l2_async:
            found = await cast("AsyncCacheBackend[K, V]", self._l2).get_with_ttl(key)
        else:
            found = cast("CacheBackend[K, V]", self._l2).get_with_ttl(key)
        if found is None:
            return default
        self._promote(key, found, gen)
        return found[0]

    async def aset(self, key: K, value: V, ttl: float | None = None) -> None:
        """Async ``set``."""
        ttl = check_ttl(ttl)
        self._begin_write()
        if self._l2_async:
            await cast("AsyncCacheBackend[K, V]", self._l2).set(key, value, ttl)
        else:
            cast("CacheBackend[K, V]", self._l2).set(key, value, ttl)
        with self._lock:
            self._l1.set(key, value, self._l1_ttl(ttl))
            self._gen += 1

    ainsert = aset
    """Alias of ``aset``."""

    async def ainvalidate(self, key: K) -> bool:
        """Async ``invalidate``."""
        self._begin_write()
        if self._l2_async:
            in_l2 = await cast("AsyncCacheBackend[K, V]", self._l2).invalidate(key)
        else:
            in_l2 = cast("CacheBackend[K, V]", self._l2).invalidate(key)
        with self._lock:
            in_l1 = self._l1.invalidate(key)
            self._gen += 1
        return in_l1 or in_l2

    async def aclear(self) -> None:
        """Async ``clear``."""
        self._begin_write()
        if self._l2_async:
            await cast("AsyncCacheBackend[K, V]", self._l2).clear()
        else:
            cast("CacheBackend[K, V]", self._l2).clear()
        with self._lock:
            self._l1.clear()
            self._gen += 1

    def __repr__(self) -> str:
        return f"TieredCache(l1={self._l1!r}, l2={self._l2!r})"
