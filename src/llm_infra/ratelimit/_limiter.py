"""``RateLimiter``: one limit (GCRA, token bucket or sliding window) over a memory or Redis backend."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import ConfigError, ExternalError, RateLimitedError
from llm_infra.ratelimit import _codes
from llm_infra.ratelimit._core import Algorithm, Decision, LimitSpec
from llm_infra.ratelimit._memory import MemoryBackend, MemoryTable
from llm_infra.ratelimit._metrics import retire, track
from llm_infra.ratelimit._redis import RedisBackend

_log = logging.getLogger("llm_infra.ratelimit")


@final
class RateLimiter:
    """Allow ``limit`` requests per ``period`` seconds per key, with bursts up to ``burst``.

    Algorithms:

    - ``gcra`` (default): the generic cell rate algorithm; one float of state per key, smooth
      spacing at the sustained rate plus a burst allowance. Same decisions as a token bucket.
    - ``token_bucket``: a bucket of ``burst`` tokens refilled at ``limit/period`` per second.
    - ``sliding_window``: a sliding window counter (the previous window's count weighted by how
      much of it still overlaps the sliding window, plus the current window's count).

    ``check`` decides and records; ``acquire`` also raises ``RateLimitedError`` when refused.
    ``acheck``/``aacquire`` are the async twins (a Redis backend then uses its async client; the
    memory backend does no I/O and answers inline).

    Args:
        limit: requests per period (>= 1).
        period: seconds (> 0).
        burst: requests allowed at once from an idle key (default ``limit``; GCRA and token
            bucket only).
        algorithm: ``"gcra"``, ``"token_bucket"`` or ``"sliding_window"``.
        backend: ``None`` (a private ``MemoryBackend``), a ``MemoryBackend`` or a ``RedisBackend``.
        clock: the time source. In memory its ``monotonic()`` is read. With Redis, ``None`` (the
            default) makes every decision use the Redis server's ``TIME`` (one clock for all
            processes); an explicit clock sends ``clock.time()`` instead.
        name: names the limit in metrics and storage keys (default: derived from the parameters).
        fail_open: when the backend is unreachable, allow (and log) instead of raising.

    Raises:
        ConfigError: a parameter is out of range or the backend is unknown.

    Example::

        >>> limiter = RateLimiter(limit=2, period=1.0)
        >>> [bool(limiter.check("alice")) for _ in range(3)]
        [True, True, False]

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "__weakref__",
        "_allowed",
        "_backend",
        "_counts_lock",
        "_denied",
        "_fail_open",
        "_now",
        "_remote",
        "_remote_now",
        "_spec",
        "_table",
    )

    def __init__(  # noqa: PLR0917 - the documented signature takes these positionally
        self,
        limit: int,
        period: float,
        burst: int | None = None,
        algorithm: Algorithm = "gcra",
        backend: MemoryBackend | RedisBackend | None = None,
        clock: Clock | None = None,
        *,
        name: str = "",
        fail_open: bool = False,
    ) -> None:
        self._spec = LimitSpec(limit=limit, period=period, burst=burst, algorithm=algorithm, name=name)
        if backend is None:
            backend = MemoryBackend()
        self._table: MemoryTable | None
        self._remote: RedisBackend | None
        if isinstance(backend, MemoryBackend):
            self._table, self._remote = backend.table(self._spec), None
        elif isinstance(backend, RedisBackend):
            self._table, self._remote = None, backend
        else:
            raise ConfigError(
                f"backend must be a MemoryBackend or a RedisBackend, got {type(backend).__name__}",
                key="backend",
                code=_codes.INVALID,
            )
        self._backend = backend
        # Binding time.monotonic directly saves one Python call per decision.
        self._now = time.monotonic if clock is None or clock is SYSTEM_CLOCK else clock.monotonic
        self._remote_now = None if clock is None else clock.time
        self._fail_open = fail_open
        self._counts_lock = threading.Lock()
        self._allowed = 0
        self._denied = 0
        track(self)

    @classmethod
    def from_config(cls, cfg: Any, section: str = "ratelimit", *, clock: Clock | None = None) -> RateLimiter:
        """Build a limiter from ``<section>.limit``, ``.period``, ``.burst``, ``.algorithm``,
        ``.redis_url`` (Redis when set), ``.prefix``, ``.name`` and ``.fail_open``.

        ``cfg`` is anything with ``get(dotted_key, default)`` (an ``llm_infra.config.Config``).
        """

        def get(name: str, default: Any) -> Any:
            return cfg.get(f"{section}.{name}", default)

        redis_url = get("redis_url", None)
        backend: MemoryBackend | RedisBackend | None = None
        if redis_url:
            backend = RedisBackend(str(redis_url), prefix=str(get("prefix", "llm-infra:ratelimit:")))
        burst = get("burst", None)
        return cls(
            int(get("limit", 60)),
            float(get("period", 60.0)),
            None if burst is None else int(burst),
            get("algorithm", "gcra"),
            backend,
            clock,
            name=str(get("name", "")),
            fail_open=bool(get("fail_open", False)),
        )

    spec: readonly[LimitSpec] = readonly("_spec", "The validated limit.")

    limit: readonly[int] = readonly("_spec.limit", "Requests per period.")

    period: readonly[float] = readonly("_spec.period", "The period in seconds.")

    burst: readonly[int] = readonly("_spec.capacity", "Requests allowed at once from an idle key.")

    algorithm: readonly[Algorithm] = readonly("_spec.algorithm", "The algorithm.")

    @property
    def name(self) -> str:
        """The name used in metrics."""
        spec = self._spec
        return spec.name or f"{spec.algorithm}:{spec.limit}/{spec.period:g}s"

    backend: readonly[MemoryBackend | RedisBackend] = readonly("_backend", "The backend holding the state.")

    def counts(self) -> tuple[int, int]:
        """``(allowed, denied)`` decisions made by this limiter in this process."""
        if self._table is not None:
            return self._table.allowed, self._table.denied
        with self._counts_lock:
            return self._allowed, self._denied

    def _record(self, decision: Decision) -> Decision:
        with self._counts_lock:
            if decision.allowed:
                self._allowed += 1
            else:
                self._denied += 1
        return decision

    def _backend_failed(self, exc: ExternalError) -> Decision:
        if not self._fail_open:
            raise exc
        _log.warning("rate-limit backend unavailable, allowing (fail_open): %s", exc.code)
        return self._record(Decision(True, self._spec.limit, 0.0, 0.0, self._spec.limit))

    def check(self, key: str, cost: int = 1) -> Decision:
        """Decide whether a request of ``cost`` under ``key`` is allowed, and record it if so.

        ``cost=0`` peeks: it reports the state without taking anything.

        Raises:
            ValidationError: ``cost`` is negative, not an int, or larger than ``burst``.
            ExternalError: the Redis backend failed (unless ``fail_open``).
        """
        if cost != 1:
            self._spec.check_cost(cost)
        table = self._table
        if table is not None:
            return table.decide(key, cost, self._now())
        assert self._remote is not None
        now = None if self._remote_now is None else self._remote_now()
        try:
            return self._record(self._remote.decide(self._spec, key, cost, now))
        except ExternalError as exc:
            return self._backend_failed(exc)

    async def acheck(self, key: str, cost: int = 1) -> Decision:
        """Async ``check`` (Redis: through the async client)."""
        if self._table is not None:
            return self.check(key, cost)
        if cost != 1:
            self._spec.check_cost(cost)
        assert self._remote is not None
        now = None if self._remote_now is None else self._remote_now()
        try:
            return self._record(await self._remote.adecide(self._spec, key, cost, now))
        except ExternalError as exc:
            return self._backend_failed(exc)

    def _refused(self, key: str, decision: Decision) -> RateLimitedError:
        return RateLimitedError(
            f"rate limit exceeded; retry in {decision.retry_after:.3g}s",
            key=key,
            limit=self._spec.limit,
            retry_after=decision.retry_after,
            code="rate_limited",
        )

    def acquire(self, key: str, cost: int = 1) -> Decision:
        """``check``, raising when refused.

        Raises:
            RateLimitedError: the request is refused; ``retry_after`` says when to retry.
        """
        decision = self.check(key, cost)
        if not decision.allowed:
            raise self._refused(key, decision)
        return decision

    async def aacquire(self, key: str, cost: int = 1) -> Decision:
        """Async ``acquire``."""
        decision = await self.acheck(key, cost)
        if not decision.allowed:
            raise self._refused(key, decision)
        return decision

    def reset(self, key: str) -> None:
        """Give ``key`` its full allowance back."""
        if self._table is not None:
            self._table.reset(key)
        else:
            assert self._remote is not None
            self._remote.reset(self._spec, key)

    async def areset(self, key: str) -> None:
        """Async ``reset``."""
        if self._table is not None:
            self._table.reset(key)
        else:
            assert self._remote is not None
            await self._remote.areset(self._spec, key)

    def __del__(self) -> None:
        try:
            name, counts = self.name, self.counts()
        except AttributeError:  # __init__ refused its arguments: nothing was counted
            return
        retire(name, counts)

    def __repr__(self) -> str:
        spec = self._spec
        return (
            f"RateLimiter(limit={spec.limit}, period={spec.period:g}, burst={spec.capacity}, "
            f"algorithm={spec.algorithm!r}, backend={self._backend!r})"
        )
