"""Stateful property tests: every limiter agrees with an exact reference model on a FakeClock.

The models are deliberately different formulations from the implementations: GCRA and the token
bucket are checked against a leaky-bucket *meter* (a level that drains at the sustained rate), and
the sliding window against a log of every accepted request.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from fractions import Fraction as F

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from llm_infra.ratelimit import Decision, MemoryBackend, RateLimiter, RedisBackend
from llm_infra.testing import FakeClock

TOL = 1e-5


@dataclass
class Outcome:
    """What the model says about one request."""

    margin: F  # >= 0: allowed; the distance to the boundary otherwise
    remaining: F  # exact, before flooring
    retry_after: F
    reset_after: F


class MeterModel:
    """A leaky bucket as a meter: level drains at ``limit/period``; capacity ``burst``."""

    def __init__(self, limit: int, period: float, burst: int) -> None:
        self.rate = F(limit) / F(period)
        self.cap = F(burst)
        self.level: dict[str, tuple[F, F]] = {}

    def _drained(self, key: str, now: F) -> F:
        level, last = self.level.get(key, (F(0), now))
        return max(F(0), level - (now - last) * self.rate)

    def evaluate(self, key: str, cost: int, now: F) -> Outcome:
        level = self._drained(key, now)
        after = level + cost
        margin = self.cap - after
        if margin >= 0:
            return Outcome(margin, self.cap - after, F(0), after / self.rate)
        return Outcome(margin, self.cap - level, -margin / self.rate, level / self.rate)

    def commit(self, key: str, cost: int, now: F) -> None:
        self.level[key] = (self._drained(key, now) + cost, now)

    def reset(self, key: str) -> None:
        self.level.pop(key, None)


class WindowModel:
    """A sliding window counter computed from the log of accepted requests."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = F(period)
        self.log: dict[str, list[tuple[F, int]]] = {}

    def _counts(self, key: str, now: F) -> tuple[F, F, F]:
        w = math.floor(now / self.period)
        elapsed = now - w * self.period
        entries = self.log.get(key, [])
        prev = F(sum(c for t, c in entries if math.floor(t / self.period) == w - 1))
        curr = F(sum(c for t, c in entries if math.floor(t / self.period) == w))
        return prev, curr, elapsed

    def count(self, key: str, now: F) -> F:
        prev, curr, elapsed = self._counts(key, now)
        return prev * (1 - elapsed / self.period) + curr

    def evaluate(self, key: str, cost: int, now: F) -> Outcome:
        prev, curr, elapsed = self._counts(key, now)
        count = prev * (1 - elapsed / self.period) + curr
        margin = self.limit - (count + cost)
        if margin >= 0:
            curr += cost
            count += cost
        if curr:
            reset = 2 * self.period - elapsed
        elif prev:
            reset = self.period - elapsed
        else:
            reset = F(0)
        return Outcome(margin, self.limit - count, F(0), reset)

    def commit(self, key: str, cost: int, now: F) -> None:
        if cost:
            self.log.setdefault(key, []).append((now, cost))

    def reset(self, key: str) -> None:
        self.log.pop(key, None)


def near_integer(x: F) -> bool:
    return abs(float(x) - round(float(x))) < TOL


class LimiterMachine(RuleBasedStateMachine):
    """A RateLimiter against its model on a FakeClock (memory backend; see RedisLimiterMachine)."""

    keys = st.sampled_from(["a", "b"])
    redis_url: str | None = None
    prefix = "test:"

    def make_backend(self) -> MemoryBackend | RedisBackend:
        return MemoryBackend()

    @initialize(
        algorithm=st.sampled_from(["gcra", "token_bucket", "sliding_window"]),
        limit=st.integers(1, 5),
        period=st.sampled_from([0.5, 1.0, 2.0]),
        burst=st.none() | st.integers(1, 6),
    )
    def setup(self, algorithm: str, limit: int, period: float, burst: int | None) -> None:
        """Create the limiter and its model."""
        if algorithm == "sliding_window":
            burst = None
        self.clock = FakeClock(start=1000.0, epoch=1_000_000.0)
        self.backend = self.make_backend()
        self.limiter = RateLimiter(
            limit,
            period,
            burst,
            algorithm,
            self.backend,
            self.clock,
            name=f"m{id(self)}",  # type: ignore[arg-type]
        )
        capacity = limit if burst is None else burst
        self.capacity = capacity
        self.model: MeterModel | WindowModel = (
            WindowModel(limit, period)
            if algorithm == "sliding_window"
            else MeterModel(limit, period, capacity)
        )
        self.algorithm = algorithm
        self.allowed = 0
        self.denied = 0

    def now(self) -> F:
        # The Redis backend sees wall time, the memory backend monotonic time; both move together.
        return F(self.clock.monotonic())

    def _check(self, key: str, cost: int) -> Decision:
        now = self.now()
        expected = self.model.evaluate(key, cost, now)
        decision = self.limiter.check(key, cost)
        if abs(expected.margin) > TOL:
            assert decision.allowed == (expected.margin >= 0), (decision, expected)
        if decision.allowed:
            self.model.commit(key, cost, now)
            self.allowed += 1
            assert decision.retry_after == 0.0
        else:
            self.denied += 1
            self._check_retry_after(key, cost, decision)
        if abs(expected.margin) > TOL:  # at the boundary either branch's figures are right
            if not near_integer(expected.remaining):
                assert decision.remaining == max(0, math.floor(expected.remaining)), (decision, expected)
            assert abs(decision.reset_after - float(expected.reset_after)) < TOL, (decision, expected)
        assert decision.limit == self.limiter.limit
        return decision

    def _check_retry_after(self, key: str, cost: int, decision: Decision) -> None:
        """Waiting retry_after is enough, and (beyond the tolerance) necessary."""
        later = self.now() + F(decision.retry_after)
        assert self.model.evaluate(key, cost, later).margin >= -TOL
        if decision.retry_after > 2 * TOL:
            earlier = self.now() + F(decision.retry_after) - F(2 * TOL)
            assert self.model.evaluate(key, cost, earlier).margin < TOL

    @rule(key=keys, cost=st.integers(0, 6))
    def check(self, key: str, cost: int) -> None:
        """One request (cost 0 peeks)."""
        self._check(key, min(cost, self.capacity))

    @rule(key=keys, cost=st.integers(1, 6))
    def waiting_retry_after_succeeds(self, key: str, cost: int) -> None:
        """After a refusal, waiting retry_after makes the same request pass."""
        cost = min(cost, self.capacity)
        decision = self._check(key, cost)
        if not decision.allowed:
            self.clock.advance(decision.retry_after)
            assert self._check(key, cost).allowed

    @precondition(lambda self: self.clock.monotonic() < 100_000)
    @rule(dt=st.sampled_from([0.0, 0.01, 0.1, 0.25, 1 / 3, 0.5, 1.0, 2.5]))
    def advance(self, dt: float) -> None:
        """Let time pass."""
        self.clock.advance(dt)

    @rule(key=keys)
    def reset(self, key: str) -> None:
        """Forget a key."""
        self.limiter.reset(key)
        self.model.reset(key)

    @invariant()
    def counts_match(self) -> None:
        """The limiter counted every decision."""
        if hasattr(self, "limiter"):
            assert self.limiter.counts() == (self.allowed, self.denied)


TestMemoryLimiterMachine = LimiterMachine.TestCase
TestMemoryLimiterMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@pytest.mark.integration
def test_redis_limiters_agree_with_the_model(redis_url: str) -> None:
    """The Lua scripts make the same decisions as the models (client-supplied time)."""
    import redis

    prefix = f"test:rl-model:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url)

    class RedisLimiterMachine(LimiterMachine):
        def make_backend(self) -> RedisBackend:  # type: ignore[override]
            return RedisBackend(client=client, prefix=prefix + uuid.uuid4().hex + ":")

    try:
        run_state_machine_as_test(
            RedisLimiterMachine, settings=settings(max_examples=40, stateful_step_count=30, deadline=None)
        )
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.unlink(*keys)
        client.close()
