"""The shapes a cache layer has: sync (``TtlCache``) and async (``RedisCache``)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol, TypeVar, runtime_checkable

K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)
V = TypeVar("V")


@runtime_checkable
class CacheBackend(Protocol[K_contra, V]):
    """A synchronous cache layer (``TtlCache`` is one).

    .. versionadded:: 0.1.0
    """

    @property
    def default_ttl(self) -> float | None:
        """Seconds an entry lives by default (``None``: forever)."""
        ...

    def get(self, key: K_contra, default: Any = None) -> Any:
        """The live value under ``key``, else ``default``."""
        ...

    def get_with_ttl(self, key: K_contra) -> tuple[V, float | None] | None:
        """``(value, seconds left or None)`` for a live entry, else None."""
        ...

    def set(self, key: K_contra, value: V, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: ``default_ttl``)."""
        ...

    def invalidate(self, key: K_contra) -> bool:
        """Drop ``key``; whether it was there."""
        ...

    def clear(self) -> None:
        """Drop every entry."""
        ...


@runtime_checkable
class AsyncCacheBackend(Protocol[K_contra, V]):
    """An asynchronous cache layer (``RedisCache`` is one): the same methods, awaited.

    .. versionadded:: 0.1.0
    """

    @property
    def default_ttl(self) -> float | None:
        """Seconds an entry lives by default (``None``: forever)."""
        ...

    async def get(self, key: K_contra, default: Any = None) -> Any:
        """The live value under ``key``, else ``default``."""
        ...

    async def get_with_ttl(self, key: K_contra) -> tuple[V, float | None] | None:
        """``(value, seconds left or None)`` for a live entry, else None."""
        ...

    async def set(self, key: K_contra, value: V, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: ``default_ttl``)."""
        ...

    async def invalidate(self, key: K_contra) -> bool:
        """Drop ``key``; whether it was there."""
        ...

    async def clear(self) -> None:
        """Drop every entry."""
        ...
