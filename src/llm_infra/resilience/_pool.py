"""``ResourcePool``: at most ``max_size`` items out, timeouts, clean close, no permit leaks."""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar, final

import anyio

from llm_infra._internal._attrs import AsyncClosing, readonly
from llm_infra.errors import ConfigError, ExternalError, InfraError
from llm_infra.resilience import _codes

T = TypeVar("T")
_logger = logging.getLogger("llm_infra.resilience")


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False


@dataclass(frozen=True, slots=True)
class _PoolSpec(Generic[T]):
    """A ``ResourcePool``'s settings, validated once."""

    factory: Callable[[], T | Awaitable[T]]
    max_size: int
    dispose: Callable[[T], object] | None
    check: Callable[[T], bool] | None
    retry_after: float

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise ConfigError("ResourcePool.max_size must be >= 1", key="max_size", code=_codes.INVALID_POOL)
        if self.retry_after < 0:
            raise ConfigError(
                "ResourcePool.retry_after must be >= 0", key="retry_after", code=_codes.INVALID_POOL
            )


@final
class ResourcePool(Generic[T], AsyncClosing):
    """An async pool of reusable items (connections, clients, model sessions).

    ``async with pool.acquire(timeout=2.0) as item:`` lends an item: an idle one, or a new one
    from ``factory`` while fewer than ``max_size`` are out. Waiters are served first come,
    first served; a returned item's permit is handed directly to the next waiter.

    Guarantees: never more than ``max_size`` items out; a waiter cancelled or timed out at any
    point (even just as it was handed a permit) gives the permit back; a failing factory gives
    its permit back.

    Args:
        factory: makes a new item (sync or async).
        max_size: the most items out at once.
        dispose: closes an item (sync or async) when the pool closes or an item is discarded.
        check: returns False for an idle item that must not be reused (it is disposed).
        retry_after: seconds suggested to callers that time out.
        name: the pool's name, in errors.

    Raises:
        ConfigError: for ``max_size < 1`` or a negative ``retry_after``.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        factory: Callable[[], T | Awaitable[T]],
        max_size: int,
        *,
        dispose: Callable[[T], object] | None = None,
        check: Callable[[T], bool] | None = None,
        retry_after: float = 1.0,
        name: str = "resource_pool",
    ) -> None:
        self._spec = _PoolSpec(factory, max_size, dispose, check, retry_after)
        self.name = name
        self._idle: deque[T] = deque()
        self._waiters: deque[_Waiter] = deque()
        self._out = 0
        self._closed = False
        self._discarded: set[int] = set()

    max_size: readonly[int] = readonly("_spec.max_size", "The most items out at once.")

    in_use: readonly[int] = readonly("_out", "Permits held (items lent out, or being created).")

    @property
    def idle(self) -> int:
        """Idle items ready for reuse."""
        return len(self._idle)

    @property
    def waiting(self) -> int:
        """Callers waiting for an item."""
        return len(self._waiters)

    closed: readonly[bool] = readonly("_closed", "True once ``aclose`` was called.")

    def acquire(self, timeout: float | None = None) -> _Lease[T]:
        """Borrow an item: ``async with pool.acquire(timeout=1.0) as item:``.

        Args:
            timeout: seconds to wait for an item; None waits forever, 0 fails at once.

        Raises:
            ExternalError: ``resource_pool.timeout`` (``service="resource_pool"``, with
                ``retry_after``, so retryable) when no item became free in time;
                ``resource_pool.closed`` (not retryable) when the pool is closed.
        """
        return _Lease(self, timeout)

    def discard(self, item: T) -> None:
        """Mark a borrowed item as broken: it is disposed instead of returned to the pool."""
        self._discarded.add(id(item))

    def _closed_error(self) -> ExternalError:
        return ExternalError(
            f"resource pool {self.name!r} is closed",
            service="resource_pool",
            operation="acquire",
            code=_codes.POOL_CLOSED,
        )

    async def _take_permit(self, timeout: float | None) -> None:
        if self._closed:
            raise self._closed_error()
        if self._out < self._spec.max_size and not self._waiters:
            self._out += 1
            return
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            with anyio.move_on_after(timeout):
                await waiter.event.wait()
        except BaseException:
            # Cancelled from outside: pass on a permit handed over meanwhile, else leave the queue.
            if waiter.granted:
                self._release_permit()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        if waiter.granted:
            return
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if self._closed:
            raise self._closed_error()
        raise ExternalError(
            f"timed out after {timeout} s waiting for an item of pool {self.name!r} "
            f"(max_size={self._spec.max_size})",
            service="resource_pool",
            operation="acquire",
            retry_after=self._spec.retry_after,
            code=_codes.POOL_TIMEOUT,
        )

    def _release_permit(self) -> None:
        if self._waiters and not self._closed:
            waiter = self._waiters.popleft()
            waiter.granted = True
            waiter.event.set()
            return
        self._out -= 1

    async def _create(self) -> T:
        try:
            made = self._spec.factory()
            item: T = await made if inspect.isawaitable(made) else made
        except InfraError:
            raise
        except Exception as exc:
            raise ExternalError(
                f"the factory of pool {self.name!r} failed: {type(exc).__name__}",
                service="resource_pool",
                operation="create",
                code=_codes.POOL_FACTORY_FAILED,
            ) from exc
        return item

    async def _dispose(self, item: T) -> None:
        dispose = self._spec.dispose
        if dispose is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                result = dispose(item)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # disposal must not mask the caller's outcome
                _logger.exception("pool %r: disposing an item failed", self.name)

    async def _get(self, timeout: float | None) -> T:
        await self._take_permit(timeout)
        check = self._spec.check
        try:
            while self._idle:
                item = self._idle.pop()
                if check is None or check(item):
                    return item
                await self._dispose(item)
            return await self._create()
        except BaseException:
            self._release_permit()
            raise

    async def _put(self, item: T) -> None:
        try:
            discarded = id(item) in self._discarded
            if discarded:
                self._discarded.discard(id(item))
            if self._closed or discarded:
                await self._dispose(item)
            else:
                self._idle.append(item)
        finally:
            self._release_permit()

    async def aclose(self) -> None:
        """Close the pool: waiters get ``resource_pool.closed``, idle items are disposed now and
        lent items when they come back."""
        self._closed = True
        while self._waiters:
            self._waiters.popleft().event.set()
        while self._idle:
            await self._dispose(self._idle.pop())

    def __repr__(self) -> str:
        return (
            f"ResourcePool({self.name!r}, in_use={self._out}, idle={len(self._idle)}, "
            f"max_size={self._spec.max_size})"
        )


@final
class _Lease(Generic[T]):
    """The async context manager returned by ``ResourcePool.acquire``."""

    __slots__ = ("_item", "_pool", "_timeout")

    def __init__(self, pool: ResourcePool[T], timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._item: T | None = None

    async def __aenter__(self) -> T:
        item = await self._pool._get(self._timeout)
        self._item = item
        return item

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        item = self._item
        self._item = None
        with anyio.CancelScope(shield=True):
            await self._pool._put(item)  # type: ignore[arg-type]  # set in __aenter__
