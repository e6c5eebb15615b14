"""``TtlCache``: an in-process LRU cache with a time-to-live per entry, O(1) per operation."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar, final, overload

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.cache import _codes as codes
from llm_infra.cache._metrics import retire, track
from llm_infra.errors import ConfigError, ValidationError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_INF = math.inf


class CacheStats(NamedTuple):
    """Counters of one cache since it was created.

    Attributes:
        hits: lookups that found a live entry.
        misses: lookups that found nothing or an expired entry.
        evictions: live entries dropped to make room (least recently used first).
        expirations: entries dropped because their time-to-live had passed.
        size: entries held now (expired entries not yet dropped included).
        max_size: the capacity.

    .. versionadded:: 0.1.0
    """

    hits: int
    misses: int
    evictions: int
    expirations: int
    size: int
    max_size: int

    @property
    def hit_ratio(self) -> float:
        """``hits / (hits + misses)``, 0.0 before the first lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def check_ttl(ttl: float | None, name: str = "ttl") -> float | None:
    """Validate a time-to-live in seconds: ``None`` (never expires) or a finite number > 0."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not (0 < ttl < _INF):
        raise ValidationError(
            f"{name} must be a finite number of seconds > 0 or None, got {ttl!r}",
            field=name,
            expected="finite float > 0 or None",
            actual=repr(ttl),
            code=codes.INVALID_TTL,
        )
    return float(ttl)


@final
class TtlCache(Generic[K, V]):
    """A thread-safe LRU cache whose entries expire after a time-to-live.

    Every operation is O(1): entries live in an ``OrderedDict`` kept in recency order (``get``
    moves a hit to the most-recent end); when the cache is full, ``set`` drops the least recently
    used entry. Expired entries are dropped lazily, when looked up or when they reach the
    least-recent end; ``purge_expired()`` drops all of them at once (O(n)).

    ``max_size=0`` is a valid, disabled cache: ``set`` stores nothing and every ``get`` misses.

    Args:
        max_size: the most entries held at once (>= 0).
        default_ttl: seconds an entry lives unless ``set`` says otherwise; ``None`` means entries
            never expire (pure LRU).
        clock: the time source (its ``monotonic()`` is read); tests pass a ``FakeClock``.
        name: the ``cache.name`` attribute of this cache's OpenTelemetry metrics.

    Raises:
        ConfigError: ``max_size`` is negative or not an int, or ``default_ttl`` is not > 0.

    Example::

        >>> cache = TtlCache(max_size=2, default_ttl=60.0)
        >>> cache.set("a", 1)
        >>> cache.get("a")
        1

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "__weakref__",
        "_data",
        "_default_ttl",
        "_evictions",
        "_expirations",
        "_hits",
        "_lock",
        "_lookup",
        "_max_size",
        "_misses",
        "_now",
        "_touch",
        "name",
    )

    def __init__(
        self,
        max_size: int,
        default_ttl: float | None,
        *,
        clock: Clock | None = None,
        name: str = "ttl_cache",
    ) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
            raise ConfigError(
                f"max_size must be an int >= 0, got {max_size!r}", key="max_size", code=codes.INVALID_SIZE
            )
        try:
            ttl = check_ttl(default_ttl, "default_ttl")
        except ValidationError as exc:
            raise ConfigError(exc.message, key="default_ttl", code=codes.INVALID_TTL) from exc
        self._max_size = max_size
        self._default_ttl = ttl
        self._data: OrderedDict[K, tuple[V, float]] = OrderedDict()
        # Bound methods of the one dict this cache ever uses: two attribute lookups fewer per hit.
        self._lookup = self._data.get
        self._touch = self._data.move_to_end
        self._lock = threading.Lock()
        # Binding time.monotonic directly saves one Python call on every lookup.
        self._now = time.monotonic if clock is None or clock is SYSTEM_CLOCK else clock.monotonic
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._expirations = 0
        self.name = name
        track(self)

    max_size: readonly[int] = readonly("_max_size", "The capacity.")

    default_ttl: readonly[float | None] = readonly(
        "_default_ttl", "Seconds an entry lives by default (``None``: forever)."
    )

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        """Return the live value under ``key`` (and mark it most recently used), else ``default``."""
        lock = self._lock
        lock.acquire()
        try:
            entry = self._lookup(key)
            if entry is not None and entry[1] > self._now():
                self._touch(key)
                self._hits += 1
                return entry[0]
            self._misses += 1
            if entry is not None:
                del self._data[key]
                self._expirations += 1
            return default
        finally:
            lock.release()

    def get_with_ttl(self, key: K) -> tuple[V, float | None] | None:
        """Return ``(value, seconds left)`` for a live entry (``None`` seconds: never expires), else None.

        Counts as a lookup (hit or miss) and refreshes recency like ``get``.
        """
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self._misses += 1
                return None
            left = entry[1] - self._now()
            if left <= 0:
                del self._data[key]
                self._expirations += 1
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return entry[0], (None if entry[1] == _INF else left)

    def __contains__(self, key: object) -> bool:
        """Whether a live entry exists; neither counted nor refreshing recency."""
        with self._lock:
            entry = self._data.get(key)  # type: ignore[arg-type]
            return entry is not None and entry[1] > self._now()

    def set(self, key: K, value: V, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (default: ``default_ttl``).

        Replacing an entry resets its time-to-live and makes it most recently used. When the cache
        is full the least recently used entry is dropped first.

        Raises:
            ValidationError: ``ttl`` is not a finite number > 0.
        """
        if ttl is None:
            ttl = self._default_ttl
        elif ttl.__class__ is not float or not (0.0 < ttl < _INF):
            ttl = check_ttl(ttl)
        if self._max_size == 0:
            return
        lock = self._lock
        lock.acquire()
        try:
            expires = _INF if ttl is None else self._now() + ttl
            data = self._data
            if key in data:
                data[key] = (value, expires)
                self._touch(key)
                return
            if len(data) >= self._max_size:
                _, (_, old_expires) = data.popitem(last=False)
                if old_expires <= self._now():
                    self._expirations += 1
                else:
                    self._evictions += 1
            data[key] = (value, expires)
        finally:
            lock.release()

    insert = set
    """Alias of ``set``."""

    def invalidate(self, key: K) -> bool:
        """Drop the entry under ``key``; return whether there was one (live or expired)."""
        with self._lock:
            return self._data.pop(key, None) is not None

    def clear(self) -> None:
        """Drop every entry (the counters are kept)."""
        with self._lock:
            self._data.clear()

    def purge_expired(self) -> int:
        """Drop every expired entry now (O(n)); return how many were dropped."""
        with self._lock:
            now = self._now()
            dead = [k for k, (_, expires) in self._data.items() if expires <= now]
            for k in dead:
                del self._data[k]
            self._expirations += len(dead)
            return len(dead)

    def __len__(self) -> int:
        """Entries held, including expired ones not yet dropped (see ``purge_expired``)."""
        return len(self._data)

    def stats(self) -> CacheStats:
        """A snapshot of the counters (cheap: no scan)."""
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._evictions, self._expirations, len(self._data), self._max_size
            )

    def __del__(self) -> None:
        # Keep this cache's counts in the metric totals: cumulative counters must not go down.
        try:
            name, counts = self.name, (self._hits, self._misses, self._evictions, self._expirations)
        except AttributeError:  # __init__ refused its arguments: nothing was counted
            return
        retire(name, counts)

    def __repr__(self) -> str:
        return (
            f"TtlCache(name={self.name!r}, max_size={self._max_size}, default_ttl={self._default_ttl!r}, "
            f"size={len(self._data)})"
        )
