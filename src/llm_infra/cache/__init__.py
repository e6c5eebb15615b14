"""Caching: an O(1) LRU cache with per-entry TTL, a two-level cache, Redis, and ``@cached``.

``TtlCache`` (in process, thread-safe), ``RedisCache`` (async, shared between processes),
``TieredCache`` (a hot L1 in front of an L2, with promotion), and ``cached`` (memoize sync or
async functions with single flight: concurrent misses of one key run one load). Hits, misses,
evictions and expirations are counted (``.stats()``) and reported as OpenTelemetry metrics.

Example::

    >>> from llm_infra.cache import TtlCache
    >>> cache = TtlCache(max_size=1000, default_ttl=300.0)
    >>> cache.set("user:1", {"name": "Ada"})
    >>> cache.get("user:1")
    {'name': 'Ada'}
"""

from llm_infra.cache._decorator import CachedFunction as CachedFunction
from llm_infra.cache._decorator import cached as cached
from llm_infra.cache._decorator import default_cache_key as default_cache_key
from llm_infra.cache._metrics import register_cache_metrics as register_cache_metrics
from llm_infra.cache._protocols import AsyncCacheBackend as AsyncCacheBackend
from llm_infra.cache._protocols import CacheBackend as CacheBackend
from llm_infra.cache._redis import RedisCache as RedisCache
from llm_infra.cache._tiered import TieredCache as TieredCache
from llm_infra.cache._ttl import CacheStats as CacheStats
from llm_infra.cache._ttl import TtlCache as TtlCache

__all__ = [
    "AsyncCacheBackend",
    "CacheBackend",
    "CacheStats",
    "CachedFunction",
    "RedisCache",
    "TieredCache",
    "TtlCache",
    "cached",
    "default_cache_key",
    "register_cache_metrics",
]
