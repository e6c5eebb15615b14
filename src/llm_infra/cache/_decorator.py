"""``cached``: memoize a sync or async function in a cache, one load per key at a time."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from llm_infra.cache import _codes as codes
from llm_infra.cache._ttl import check_ttl
from llm_infra.errors import ConfigError

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)


class CachedFunction(Protocol[C_co, P, R_co]):
    """What ``@cached(cache)`` returns: the function, plus the cache it stores results in.

    ``f.cache`` is the cache given to ``cached`` (typed as such, so ``f.cache.stats()`` type-checks).

    .. versionadded:: 0.1.0
    """

    @property
    def cache(self) -> C_co:
        """The cache that stores this function's results."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the function (or return its cached result)."""
        ...


_MISSING: Any = object()


def default_cache_key(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``module.qualname(args..., k=v...)`` with ``repr`` of each argument (keyword order ignored).

    Stable across processes for arguments whose ``repr`` is (str, int, float, tuples of those,
    ...). Pass ``key=`` to ``cached`` for arguments whose ``repr`` carries an address.
    """
    parts = [repr(a) for a in args]
    parts += [f"{k}={kwargs[k]!r}" for k in sorted(kwargs)]
    return f"{func.__module__}.{func.__qualname__}({', '.join(parts)})"


class _SyncFlight:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _AsyncFlight:
    __slots__ = ("abandoned", "done", "error", "loop", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.done = asyncio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False


def _cache_ops(cache: Any, want_async: bool) -> tuple[Callable[..., Any], Callable[..., Any], bool]:
    """Pick the cache's get/set pair and whether they must be awaited."""
    if hasattr(cache, "aget") and hasattr(cache, "aset") and (want_async or cache.is_async):
        if not want_async:
            raise ConfigError(
                "a sync function cannot be cached in a cache with an async level",
                key="cache",
                code=codes.ASYNC_BACKEND,
            )
        return cache.aget, cache.aset, True
    get, set_ = cache.get, cache.set
    is_async = inspect.iscoroutinefunction(get)
    if is_async and not want_async:
        raise ConfigError(
            f"a sync function cannot be cached in an async cache ({type(cache).__name__})",
            key="cache",
            code=codes.ASYNC_BACKEND,
        )
    return get, set_, is_async


class _Epoch:
    """How many loads a wrapper has finished: a leader re-reads the cache only if one finished."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def cached(
    cache: C, *, key: Callable[..., Hashable] | None = None, ttl: float | None = None
) -> Callable[[Callable[P, R]], CachedFunction[C, P, R]]:
    """Memoize a function in ``cache``, loading each missing key once however many callers wait.

    Works on sync functions (with a ``TtlCache`` or a ``TieredCache`` over a sync level) and on
    async functions (with any cache, ``RedisCache`` included). Concurrent calls that miss the same
    key share one call of the function (single flight): the others wait for its result, or
    for its exception, which is raised to each of them and not cached. If the loading task of an
    async function is cancelled, one of the waiters loads instead. Each call is one lookup in
    the cache's statistics (a hit or a miss).

    Args:
        cache: the cache that stores results.
        key: builds the cache key from the call's arguments (default: ``default_cache_key``, a string;
            ``RedisCache`` needs string keys).
        ttl: seconds a result lives (default: the cache's ``default_ttl``).

    Example::

        >>> from llm_infra.cache import TtlCache, cached
        >>> @cached(TtlCache(max_size=128, default_ttl=60.0))
        ... def square(x: int) -> int:
        ...     return x * x
        >>> square(4)
        16

    .. versionadded:: 0.1.0
    """
    ttl = check_ttl(ttl)

    def decorate(func: Callable[P, R]) -> CachedFunction[C, P, R]:
        make_key: Callable[..., Hashable] = (
            key if key is not None else functools.partial(_default_key_args, func)
        )
        if inspect.iscoroutinefunction(func):
            wrapper: Any = _async_wrapper(func, cache, make_key, ttl)
        else:
            wrapper = _sync_wrapper(func, cache, make_key, ttl)
        wrapper.cache = cache
        return cast("CachedFunction[C, P, R]", wrapper)

    return decorate


def _default_key_args(func: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    return default_cache_key(func, args, kwargs)


def _sync_wrapper(
    func: Callable[P, R], cache: Any, make_key: Callable[..., Hashable], ttl: float | None
) -> Callable[P, R]:
    get, set_, _ = _cache_ops(cache, want_async=False)
    flights: dict[Hashable, _SyncFlight] = {}
    lock = threading.Lock()
    epoch = _Epoch()

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        k = make_key(*args, **kwargs)
        seen = epoch.value
        value = get(k, _MISSING)
        if value is not _MISSING:
            return cast("R", value)
        with lock:
            flight = flights.get(k)
            leader = flight is None
            if flight is None:
                flight = flights[k] = _SyncFlight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return cast("R", flight.value)
        try:
            # A previous leader may have stored the value between our miss and our flight; look
            # again only if a load finished meanwhile (so that a plain miss is counted once).
            value = get(k, _MISSING) if epoch.value != seen else _MISSING
            if value is _MISSING:
                value = func(*args, **kwargs)
                set_(k, value, ttl)
            flight.value = value
            return cast("R", value)
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with lock:
                del flights[k]
                epoch.value += 1
            flight.done.set()

    return wrapper


def _async_wrapper(
    func: Callable[P, Awaitable[R]], cache: Any, make_key: Callable[..., Hashable], ttl: float | None
) -> Callable[P, Awaitable[R]]:
    get, set_, is_async = _cache_ops(cache, want_async=True)
    flights: dict[Hashable, _AsyncFlight] = {}
    lock = threading.Lock()
    epoch = _Epoch()

    async def cache_get(k: Hashable) -> Any:
        return await get(k, _MISSING) if is_async else get(k, _MISSING)

    async def cache_set(k: Hashable, value: Any) -> None:
        if is_async:
            await set_(k, value, ttl)
        else:
            set_(k, value, ttl)

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        k = make_key(*args, **kwargs)
        seen = epoch.value
        value = await cache_get(k)
        if value is not _MISSING:
            return cast("R", value)
        loop = asyncio.get_running_loop()
        while True:
            with lock:
                flight = flights.get(k)
                leader = flight is None or flight.loop is not loop
                if leader:
                    # A flight on another event loop cannot be awaited here: load independently.
                    mine = _AsyncFlight(loop)
                    if flight is None:
                        flights[k] = mine
                    flight = mine
            assert flight is not None
            if leader:
                break
            await flight.done.wait()
            if flight.abandoned:
                continue  # the loader was cancelled: take over
            if flight.error is not None:
                raise flight.error
            return cast("R", flight.value)
        completed = False
        try:
            value = await cache_get(k) if epoch.value != seen else _MISSING
            if value is _MISSING:
                value = await func(*args, **kwargs)
                await cache_set(k, value)
            flight.value = value
            completed = True
            return cast("R", value)
        except Exception as exc:
            flight.error = exc
            completed = True
            raise
        finally:
            flight.abandoned = not completed
            with lock:
                if flights.get(k) is flight:
                    del flights[k]
                epoch.value += 1
            flight.done.set()

    return wrapper
