"""``RedisCache``: an async cache level in Redis (usually the L2 of a ``TieredCache``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

from llm_infra._internal._attrs import AsyncClosing, readonly
from llm_infra._internal._lazy import require
from llm_infra.cache import _codes as codes
from llm_infra.cache._metrics import retire, track
from llm_infra.cache._ttl import CacheStats, check_ttl
from llm_infra.errors import ConfigError, ExternalError, InfraError, ValidationError
from llm_infra.errors._foreign import redis_error

if TYPE_CHECKING:
    import redis.asyncio

_log = logging.getLogger("llm_infra.cache")
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})
_SCAN_BATCH = 500


def _redis_error(exc: Exception, operation: str) -> ExternalError:
    # The shared converter: cache.redis_unavailable (retryable) or cache.redis_error.
    return redis_error(exc, operation, area="cache")


@final
class RedisCache(AsyncClosing):
    """An async cache in Redis, shared by every process that uses the same ``prefix``.

    Values are encoded pickle-free, as JSON through ``llm_infra.json`` by default (so a value
    read back is what JSON can carry: tuples come back as lists). Pass ``encode``/``decode`` for
    another format. A value that cannot be decoded is dropped and counted as a miss, never
    raised: a cache is derived data.

    Args:
        url: a ``redis://`` URL; or pass ``client``.
        client: an existing ``redis.asyncio.Redis`` (not closed by ``aclose``).
        prefix: prepended to every key; ``clear`` removes exactly the keys under it.
        default_ttl: seconds an entry lives unless ``set`` says otherwise; ``None``: forever.
        name: the ``cache.name`` attribute of this cache's metrics.
        encode: value -> bytes (default ``llm_infra.json.dumps``).
        decode: bytes -> value (default ``llm_infra.json.loads``).

    Raises:
        ConfigError: neither ``url`` nor ``client`` is given, ``default_ttl`` is invalid, or the
            ``redis`` extra is missing.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "__weakref__",
        "_client",
        "_counts_lock",
        "_decode",
        "_default_ttl",
        "_encode",
        "_errors",
        "_hits",
        "_misses",
        "_owns_client",
        "_prefix",
        "name",
    )

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.asyncio.Redis | None = None,
        prefix: str = "llm-infra:cache:",
        default_ttl: float | None = None,
        name: str = "redis_cache",
        encode: Callable[[Any], bytes] | None = None,
        decode: Callable[[bytes], Any] | None = None,
    ) -> None:
        try:
            self._default_ttl = check_ttl(default_ttl, "default_ttl")
        except ValidationError as exc:
            raise ConfigError(exc.message, key="default_ttl", code=codes.INVALID_TTL) from exc
        rexc = require("redis.exceptions", "redis")
        self._errors: tuple[type[Exception], ...] = (rexc.RedisError, OSError)
        if client is None:
            if not url:
                raise ConfigError("RedisCache needs url= or client=", key="url", code=codes.NO_BACKEND)
            aioredis = require("redis.asyncio", "redis")
            client = aioredis.Redis.from_url(url)
            self._owns_client = True
        else:
            self._owns_client = False
        if encode is None or decode is None:
            from llm_infra import json as infra_json

            encode = encode or infra_json.dumps
            decode = decode or infra_json.loads
        self._client = client
        self._prefix = prefix
        self._encode = encode
        self._decode = decode
        self._counts_lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self.name = name
        track(self)

    default_ttl: readonly[float | None] = readonly(
        "_default_ttl", "Seconds an entry lives by default (``None``: forever)."
    )

    prefix: readonly[str] = readonly("_prefix", "The key prefix.")

    def _key(self, key: str) -> str:
        if not isinstance(key, str):
            raise ValidationError(
                "RedisCache keys are strings", field="key", expected="str", actual=type(key).__name__
            )
        return self._prefix + key

    def _count(self, hit: bool) -> None:
        with self._counts_lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def _load(self, full_key: str, raw: bytes | str | None) -> tuple[bool, Any]:
        if raw is None:
            return False, None
        try:
            # The client is opened with decode_responses=False, but a caller's client may not be.
            return True, self._decode(raw.encode() if isinstance(raw, str) else raw)
        except (InfraError, ValueError, TypeError) as exc:
            _log.warning("dropping undecodable cache entry %r: %s", full_key, type(exc).__name__)
            return False, None

    async def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, else ``default``.

        Raises:
            ExternalError: Redis failed (retryable when it was a connection problem).
        """
        full = self._key(key)
        try:
            raw = await self._client.get(full)
        except self._errors as exc:
            raise _redis_error(exc, "get") from exc
        found, value = await self._lookup(full, raw)
        return value if found else default

    async def get_with_ttl(self, key: str) -> tuple[Any, float | None] | None:
        """``(value, seconds left or None)`` in one round trip, else None."""
        full = self._key(key)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(full)
                pipe.pttl(full)
                raw, pttl = await pipe.execute()
        except self._errors as exc:
            raise _redis_error(exc, "get") from exc
        found, value = await self._lookup(full, raw)
        if not found:
            return None
        return value, (None if pttl is None or pttl < 0 else pttl / 1000.0)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default ``default_ttl``; ``None``: forever).

        Raises:
            SerializationError: the encoder refused the value.
            ExternalError: Redis failed.
        """
        ttl = check_ttl(ttl)
        if ttl is None:
            ttl = self._default_ttl
        full = self._key(key)
        data = self._encode(value)
        try:
            if ttl is None:
                await self._client.set(full, data)
            else:
                await self._client.set(full, data, px=max(1, round(ttl * 1000)))
        except self._errors as exc:
            raise _redis_error(exc, "set") from exc

    insert = set
    """Alias of ``set``."""

    async def _lookup(self, full: str, raw: bytes | str | None) -> tuple[bool, Any]:
        """Decode ``raw``, drop an undecodable entry and count the hit or miss."""
        found, value = self._load(full, raw)
        if not found and raw is not None:
            await self._drop(full)
        self._count(found)
        return found, value

    async def _drop(self, full: str) -> bool:
        try:
            return bool(await self._client.unlink(full))
        except self._errors as exc:
            raise _redis_error(exc, "invalidate") from exc

    async def invalidate(self, key: str) -> bool:
        """Delete ``key``; whether it existed."""
        return await self._drop(self._key(key))

    async def clear(self) -> None:
        """Delete every key under ``prefix`` (SCAN + UNLINK in batches; other keys untouched)."""
        pattern = self._prefix.translate(_GLOB_SPECIAL) + "*"
        try:
            batch: list[Any] = []
            async for k in self._client.scan_iter(match=pattern, count=_SCAN_BATCH):
                batch.append(k)
                if len(batch) >= _SCAN_BATCH:
                    await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                await self._client.unlink(*batch)
        except self._errors as exc:
            raise _redis_error(exc, "clear") from exc

    def stats(self) -> CacheStats:
        """Hits and misses seen by this process (size, evictions and expirations are Redis's: 0 here)."""
        with self._counts_lock:
            return CacheStats(self._hits, self._misses, 0, 0, 0, 0)

    async def aclose(self) -> None:
        """Close the connection pool if this cache created it."""
        if self._owns_client:
            await self._client.aclose()

    def __del__(self) -> None:
        try:
            name, counts = self.name, (self._hits, self._misses, 0, 0)
        except AttributeError:  # __init__ refused its arguments: nothing was counted
            return
        retire(name, counts)

    def __repr__(self) -> str:
        return f"RedisCache(name={self.name!r}, prefix={self._prefix!r}, default_ttl={self._default_ttl!r})"
