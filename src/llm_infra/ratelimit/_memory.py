"""In-process state of the three algorithms: one dict per limit, a lock, O(1) per decision.

Time is a parameter (``now`` in seconds on any clock that only moves forward); nothing here
reads a clock. States that are back to a full allowance carry no information and are swept
when the table reaches ``max_keys``. A live state is never dropped: forgetting it would hand a
limited client a fresh allowance. When live states alone fill the table, a request under a
NEW key is refused (fail closed, counted in ``overflows``; a peek with ``cost=0`` too, so a
caller that checks before it spends sees the refusal) until some state goes idle; keys already
in the table are decided as usual.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from typing import Any, Protocol, final

from llm_infra._internal._attrs import readonly
from llm_infra.errors import ConfigError
from llm_infra.ratelimit import _codes
from llm_infra.ratelimit._core import EPSILON, Decision, LimitSpec

_new_decision = tuple.__new__
_floor = math.floor


class MemoryTable(Protocol):
    """The state of one limit in memory."""

    spec: LimitSpec
    allowed: int
    denied: int
    overflows: int

    def decide(self, key: str, cost: int, now: float) -> Decision:
        """Decide and record one request of ``cost`` at ``now``."""
        ...

    def reset(self, key: str) -> None:
        """Forget ``key``."""
        ...

    def __len__(self) -> int: ...


class _Table(ABC):
    __slots__ = ("_full_until", "_lock", "_max_keys", "_state", "allowed", "denied", "overflows", "spec")

    def __init__(self, spec: LimitSpec, max_keys: int) -> None:
        self.spec = spec
        self._max_keys = max_keys
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._full_until = -math.inf
        self.allowed = 0
        self.denied = 0
        self.overflows = 0

    @abstractmethod
    def _idle_at(self, state: Any) -> float:
        """When ``state`` is back to a full allowance (from then on it can be forgotten)."""

    def _admit(self, key: str, now: float) -> Decision | None:
        """``None`` when ``key`` may take a state; else the refusal of a new key in a full table.

        Called with the lock held, only for keys without a state. Idle states are swept first
        (at most once until the earliest live state goes idle, so a flood of new keys costs O(1)
        each); live states are never dropped.
        """
        if len(self._state) < self._max_keys:
            return None
        if now >= self._full_until:
            idle_at = self._idle_at
            self._state = {k: s for k, s in self._state.items() if idle_at(s) > now}
            if len(self._state) < self._max_keys:
                return None
            self._full_until = min(idle_at(s) for s in self._state.values())
        self.overflows += 1
        self.denied += 1
        wait = max(self._full_until - now, EPSILON)
        return _new_decision(Decision, (False, 0, wait, wait, self.spec.limit))

    def decide(self, key: str, cost: int, now: float) -> Decision:
        lock = self._lock
        lock.acquire()
        try:
            state = self._state.get(key)
            if state is None and (full := self._admit(key, now)) is not None:
                return full
            return self._decide(key, state, cost, now)
        finally:
            lock.release()

    @abstractmethod
    def _decide(self, key: str, state: Any, cost: int, now: float) -> Decision:
        """Decide with the lock held; ``state`` is None for a key without one (already admitted)."""

    def reset(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)

    def __len__(self) -> int:
        return len(self._state)


@final
class _GcraTable(_Table):
    """GCRA: the state is the theoretical arrival time (TAT) of the next request."""

    __slots__ = ()

    def _idle_at(self, state: Any) -> float:
        return float(state)

    def _decide(self, key: str, state: Any, cost: int, now: float) -> Decision:
        spec = self.spec
        interval = spec.emission_interval
        tolerance = spec.tolerance
        tat = now if state is None or state < now else state
        new_tat = tat + cost * interval
        allow_at = new_tat - tolerance
        if allow_at - now > EPSILON:
            self.denied += 1
            remaining = _floor((tolerance - (tat - now)) / interval + EPSILON)
            return _new_decision(Decision, (False, max(remaining, 0), allow_at - now, tat - now, spec.limit))
        if cost:
            self._state[key] = new_tat
        self.allowed += 1
        remaining = _floor((tolerance - (new_tat - now)) / interval + EPSILON)
        return _new_decision(Decision, (True, max(remaining, 0), 0.0, new_tat - now, spec.limit))


@final
class _TokenBucketTable(_Table):
    """Token bucket: the state is ``(tokens, time of that count)``; refills at ``limit/period``."""

    __slots__ = ()

    def _idle_at(self, state: Any) -> float:
        tokens, last = state
        return float(last + max(self.spec.capacity - tokens, 0.0) / self.spec.rate)

    def _decide(self, key: str, state: Any, cost: int, now: float) -> Decision:
        spec = self.spec
        rate = spec.rate
        capacity = spec.capacity
        if state is None:
            tokens = float(capacity)
        else:
            tokens = state[0] + (now - state[1]) * rate
            if tokens > capacity:
                tokens = float(capacity)
        if tokens + EPSILON < cost:
            self.denied += 1
            remaining = _floor(tokens + EPSILON)
            return _new_decision(
                Decision, (False, remaining, (cost - tokens) / rate, (capacity - tokens) / rate, spec.limit)
            )
        tokens -= cost
        if cost:
            self._state[key] = (tokens, now)
        self.allowed += 1
        remaining = _floor(tokens + EPSILON)
        return _new_decision(
            Decision, (True, max(remaining, 0), 0.0, max(capacity - tokens, 0.0) / rate, spec.limit)
        )


def sliding_window_retry(
    limit: int, period: float, *, prev: float, curr: float, cost: int, elapsed: float
) -> float:
    """Seconds until ``prev * (1 - t/period) + curr + cost <= limit`` (the window slides on)."""
    if curr + cost <= limit + EPSILON and prev > 0:
        # Allowed later in this window, once enough of the previous window has slid out.
        return max(period * (1.0 - (limit - curr - cost) / prev) - elapsed, 0.0)
    # Not before the next window, where this window's count becomes the sliding part.
    wait = period - elapsed
    if curr + cost > limit:
        wait += period * (1.0 - (limit - cost) / curr)
    return wait


@final
class _SlidingWindowTable(_Table):
    """Sliding window counter: ``(window index, count in it, count in the one before)``."""

    __slots__ = ()

    def _idle_at(self, state: Any) -> float:
        return float((state[0] + 2) * self.spec.period)

    def _decide(self, key: str, state: Any, cost: int, now: float) -> Decision:
        spec = self.spec
        period = spec.period
        limit = spec.limit
        window = _floor(now / period)
        elapsed = now - window * period
        if state is None:
            curr = prev = 0
        elif state[0] == window:
            curr, prev = state[1], state[2]
        elif state[0] == window - 1:
            curr, prev = 0, state[1]
        else:
            curr = prev = 0
        count = prev * (1.0 - elapsed / period) + curr
        if count + cost > limit + EPSILON:
            self.denied += 1
            retry = sliding_window_retry(limit, period, prev=prev, curr=curr, cost=cost, elapsed=elapsed)
            reset = (2 * period - elapsed) if curr else (period - elapsed)
            remaining = max(_floor(limit - count + EPSILON), 0)
            return _new_decision(Decision, (False, remaining, retry, reset, limit))
        if cost:
            curr += cost
            count += cost
            self._state[key] = (window, curr, prev)
        self.allowed += 1
        if curr:
            reset = 2 * period - elapsed
        elif prev:
            reset = period - elapsed
        else:
            reset = 0.0
        remaining = max(_floor(limit - count + EPSILON), 0)
        return _new_decision(Decision, (True, remaining, 0.0, reset, limit))


_TABLES: dict[str, type[_GcraTable | _TokenBucketTable | _SlidingWindowTable]] = {
    "gcra": _GcraTable,
    "token_bucket": _TokenBucketTable,
    "sliding_window": _SlidingWindowTable,
}


@final
class MemoryBackend:
    """Rate-limit state in this process (the default backend).

    Fast (about a microsecond per decision) but per process: use ``RedisBackend`` to share a
    limit between processes or hosts. Like Redis, one backend gives limiters with the same
    limit (same ``name``, or same parameters when unnamed) the same state; each limiter built
    with ``backend=None`` gets a private backend.

    Args:
        max_keys: states kept per limit (>= 1). Idle states are swept when the table is full;
            live ones are never dropped, so when live states alone fill it a request under a
            new key is refused (counted in the table's ``overflows``) until one goes idle.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_lock", "_max_keys", "_tables")

    def __init__(self, *, max_keys: int = 100_000) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ConfigError(
                f"max_keys must be an int >= 1, got {max_keys!r}", key="max_keys", code=_codes.INVALID
            )
        self._max_keys = max_keys
        self._tables: dict[str, MemoryTable] = {}
        self._lock = threading.Lock()

    max_keys: readonly[int] = readonly("_max_keys", "The most states kept per limit.")

    def table(self, spec: LimitSpec) -> MemoryTable:
        """The state table of ``spec`` (created empty on first use).

        Raises:
            ConfigError: another limit already uses ``spec.name`` on this backend.
        """
        base = spec.storage_key("")
        with self._lock:
            table = self._tables.get(base)
            if table is None:
                table = self._tables[base] = _TABLES[spec.algorithm](spec, self._max_keys)
            elif table.spec != spec:
                raise ConfigError(
                    f"the name {spec.name!r} is already used by a different limit on this backend",
                    key="name",
                    code=_codes.NAME_CONFLICT,
                )
            return table

    def __repr__(self) -> str:
        return f"MemoryBackend(max_keys={self._max_keys}, limits={len(self._tables)})"
