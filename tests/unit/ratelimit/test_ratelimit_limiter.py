"""RateLimiter API: decisions, validation, acquire, reset, memory sweeping, config, metrics."""

from __future__ import annotations

import gc

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llm_infra.errors import ConfigError, ExternalError, RateLimitedError, ValidationError
from llm_infra.ratelimit import (
    Decision,
    LimitSpec,
    MemoryBackend,
    RateLimiter,
    RedisBackend,
    register_metrics,
)
from llm_infra.testing import FakeClock

ALGORITHMS = ["gcra", "token_bucket", "sliding_window"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_allows_limit_then_refuses_with_retry_after(algorithm: str) -> None:
    """An idle key gets ``limit`` requests, then a refusal saying how long to wait."""
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(3, 1.0, algorithm=algorithm, clock=clock)  # type: ignore[arg-type]
    decisions = [limiter.check("k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert not refused
    assert refused.retry_after > 0
    clock.advance(refused.retry_after)
    assert limiter.check("k")


def test_gcra_spaces_requests_at_the_sustained_rate() -> None:
    """After the burst, GCRA admits one request per period/limit."""
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(10, 1.0, burst=1, clock=clock)
    assert limiter.check("k")
    refused = limiter.check("k")
    assert refused.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    assert limiter.check("k")


def test_keys_are_independent() -> None:
    """Each key has its own allowance."""
    limiter = RateLimiter(1, 60.0, clock=FakeClock())
    assert limiter.check("a")
    assert limiter.check("b")
    assert not limiter.check("a")


def test_decision_is_a_truthy_tuple() -> None:
    """A Decision unpacks like a tuple and is truthy only when allowed."""
    d = Decision(True, 1, 0.0, 1.0, 2)
    allowed, remaining, *_ = d
    assert allowed
    assert remaining == 1
    assert bool(Decision(False, 0, 1.0, 1.0, 2)) is False


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cost_zero_peeks_and_larger_costs_consume_more(algorithm: str) -> None:
    """``cost=0`` reports without consuming; ``cost=n`` takes n."""
    limiter = RateLimiter(5, 10.0, algorithm=algorithm, clock=FakeClock())  # type: ignore[arg-type]
    assert limiter.check("k", cost=0).remaining == 5
    assert limiter.check("k", cost=3).remaining == 2
    assert limiter.check("k", cost=0).remaining == 2
    assert not limiter.check("k", cost=3)


@pytest.mark.parametrize("cost", [-1, 1.5, "1", 11])
def test_invalid_costs_are_refused(cost: object) -> None:
    """Negative, non-int or larger-than-burst costs raise ValidationError."""
    limiter = RateLimiter(10, 1.0)
    with pytest.raises(ValidationError) as exc_info:
        limiter.check("k", cost)  # type: ignore[arg-type]
    assert exc_info.value.code in ("ratelimit.cost_exceeds_burst", "ratelimit.invalid_cost")


def test_cost_above_burst_has_its_own_code() -> None:
    """A cost that can never pass is reported as such."""
    with pytest.raises(ValidationError) as info:
        RateLimiter(10, 1.0, burst=2).check("k", 3)
    assert info.value.code == "ratelimit.cost_exceeds_burst"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0, "period": 1.0},
        {"limit": 1.5, "period": 1.0},
        {"limit": True, "period": 1.0},
        {"limit": 1, "period": 0},
        {"limit": 1, "period": float("inf")},
        {"limit": 1, "period": "1"},
        {"limit": 1, "period": 1.0, "burst": 0},
        {"limit": 1, "period": 1.0, "burst": 2.0},
        {"limit": 1, "period": 1.0, "algorithm": "leaky"},
        {"limit": 2, "period": 1.0, "burst": 3, "algorithm": "sliding_window"},
    ],
)
def test_invalid_specs_are_config_errors(kwargs: dict[str, object]) -> None:
    """Out-of-range parameters raise ConfigError."""
    with pytest.raises(ConfigError) as exc_info:
        LimitSpec(**kwargs)  # type: ignore[arg-type]
    assert exc_info.value.code == "ratelimit.invalid"


def test_sliding_window_accepts_burst_equal_to_limit() -> None:
    """A sliding window's burst may be stated, if it equals the limit."""
    assert RateLimiter(3, 1.0, burst=3, algorithm="sliding_window").burst == 3


def test_unknown_backend_is_refused() -> None:
    """Only memory and Redis backends are accepted."""
    with pytest.raises(ConfigError) as exc_info:
        RateLimiter(1, 1.0, backend=object())  # type: ignore[arg-type]
    assert exc_info.value.code == "ratelimit.invalid"
    with pytest.raises(ConfigError) as exc_info:
        MemoryBackend(max_keys=0)
    assert exc_info.value.code == "ratelimit.invalid"
    with pytest.raises(ConfigError) as exc_info:
        RedisBackend()
    assert exc_info.value.code == "config.invalid"


def test_acquire_raises_rate_limited_error() -> None:
    """``acquire`` returns the decision, or raises RateLimitedError with retry_after and limit."""
    limiter = RateLimiter(1, 2.0, clock=FakeClock())
    assert limiter.acquire("user").allowed
    with pytest.raises(RateLimitedError) as info:
        limiter.acquire("user")
    assert info.value.code == "rate_limited"
    err = info.value
    assert err.retry_after == pytest.approx(2.0)
    assert err.limit == 1
    assert err.retryable
    assert err.to_problem()["status"] == 429


@pytest.mark.anyio
async def test_async_twins_on_memory() -> None:
    """``acheck``/``aacquire``/``areset`` work on the memory backend."""
    limiter = RateLimiter(1, 2.0, clock=FakeClock())
    assert (await limiter.acheck("k")).allowed
    with pytest.raises(RateLimitedError) as exc_info:
        await limiter.aacquire("k")
    assert exc_info.value.code == "rate_limited"
    await limiter.areset("k")
    assert (await limiter.aacquire("k")).allowed
    with pytest.raises(ValidationError) as exc_info:
        await limiter.acheck("k", -1)
    assert exc_info.value.code == "ratelimit.invalid_cost"


def test_reset_restores_the_allowance() -> None:
    """``reset`` forgets a key."""
    limiter = RateLimiter(1, 60.0, clock=FakeClock())
    limiter.check("k")
    limiter.reset("k")
    assert limiter.check("k")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_memory_backend_sweeps_idle_states(algorithm: str) -> None:
    """Idle states are dropped when the table outgrows max_keys, live ones are kept."""
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(
        2,
        1.0,
        algorithm=algorithm,
        backend=MemoryBackend(max_keys=10),
        clock=clock,  # type: ignore[arg-type]
    )
    for i in range(10):
        limiter.check(f"old{i}")
    clock.advance(5.0)
    limiter.check("live")
    limiter.check("live")
    limiter.check("new")  # the table was full at "live": idle states were swept
    table = limiter._table
    assert table is not None
    assert len(table) == 2
    assert table.overflows == 0
    assert not limiter.check("live")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_memory_backend_never_forgets_a_live_limit(algorithm: str) -> None:
    """With live states filling max_keys, new keys are refused; limited keys stay limited.

    Regression: the table used to drop the oldest live states, so a limited client came back
    with a fresh allowance once enough new keys (e.g. rotated addresses) had been seen.
    """
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(1, 3600.0, algorithm=algorithm, backend=MemoryBackend(max_keys=10), clock=clock)  # type: ignore[arg-type]
    for i in range(10):
        assert limiter.check(f"k{i}")
    table = limiter._table
    assert table is not None
    for i in range(10, 30):
        refused = limiter.check(f"k{i}")
        assert not refused
        assert refused.retry_after > 0
    assert len(table) == 10
    assert table.overflows == 20
    assert limiter.check("never-seen", 0).remaining == 0  # a peek at a new key fails closed too
    assert table.overflows == 21
    assert not limiter.check("k0")  # still limited: never forgotten
    assert limiter.check("k1", 0).remaining == 0  # a peek on a known key is still answered
    clock.advance(2 * 3600.0 + 1)
    assert limiter.check("k10")  # once states go idle, room is made for new keys
    assert limiter.check("k0")


def test_properties_and_repr() -> None:
    """The limiter exposes its parameters."""
    backend = MemoryBackend(max_keys=5)
    limiter = RateLimiter(4, 2.0, burst=6, algorithm="token_bucket", backend=backend, name="api")
    assert (limiter.limit, limiter.period, limiter.burst, limiter.algorithm) == (4, 2.0, 6, "token_bucket")
    assert limiter.name == "api"
    assert limiter.backend is backend
    assert backend.max_keys == 5
    assert limiter.spec.rate == 2.0
    assert "token_bucket" in repr(limiter)
    assert "max_keys=5, limits=1" in repr(backend)
    assert RateLimiter(1, 1.0).name == "gcra:1/1s"


class Cfg:
    """A minimal config: ``get(dotted, default)``."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def get(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)


def test_from_config_reads_the_section() -> None:
    """``from_config`` builds the limiter from ``ratelimit.*`` keys."""
    limiter = RateLimiter.from_config(
        Cfg(
            {
                "ratelimit.limit": 5,
                "ratelimit.period": "10",
                "ratelimit.burst": 7,
                "ratelimit.algorithm": "token_bucket",
            }
        )
    )
    assert (limiter.limit, limiter.period, limiter.burst, limiter.algorithm) == (5, 10.0, 7, "token_bucket")
    default = RateLimiter.from_config(Cfg({}))
    assert (default.limit, default.period, default.algorithm) == (60, 60.0, "gcra")
    remote = RateLimiter.from_config(Cfg({"api.redis_url": "redis://127.0.0.1:1/0"}), "api")
    assert isinstance(remote.backend, RedisBackend)


def test_unreachable_redis_raises_or_fails_open() -> None:
    """A dead Redis raises a retryable ExternalError, or allows when fail_open."""
    backend = RedisBackend("redis://127.0.0.1:1/0")
    strict = RateLimiter(1, 1.0, backend=backend)
    with pytest.raises(ExternalError) as info:
        strict.check("k")
    assert info.value.retryable
    assert info.value.code == "ratelimit.redis_unavailable"
    lenient = RateLimiter(1, 1.0, backend=backend, fail_open=True)
    assert lenient.check("k").allowed
    assert lenient.counts() == (1, 0)
    with pytest.raises(ExternalError) as exc_info:
        strict.reset("k")
    assert exc_info.value.code == "ratelimit.redis_unavailable"
    backend.close()


@pytest.mark.anyio
async def test_unreachable_redis_async() -> None:
    """The async path reports a dead Redis the same way."""
    backend = RedisBackend("redis://127.0.0.1:1/0")
    with pytest.raises(ExternalError) as exc_info:
        await RateLimiter(1, 1.0, backend=backend).acheck("k")
    assert exc_info.value.code == "ratelimit.redis_unavailable"
    assert (await RateLimiter(1, 1.0, backend=backend, fail_open=True).acheck("k")).allowed
    with pytest.raises(ExternalError) as exc_info:
        await RateLimiter(1, 1.0, backend=backend).areset("k")
    assert exc_info.value.code == "ratelimit.redis_unavailable"
    await backend.aclose()


def test_metrics_count_decisions_per_limiter() -> None:
    """The decisions counter reports allowed and denied per limiter name, across GC."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_metrics(provider)
    register_metrics(provider)
    limiter = RateLimiter(1, 60.0, name="metrics-rl")
    limiter.check("a")
    limiter.check("a")
    del limiter
    gc.collect()
    RateLimiter(1, 60.0, name="metrics-rl").check("b")
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        (p.attributes["ratelimit.name"], p.attributes["ratelimit.decision"]): p.value  # type: ignore[index]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "llm_infra.ratelimit.decisions"
        for p in m.data.data_points  # type: ignore[union-attr]
    }
    assert points[("metrics-rl", "allowed")] == 2
    assert points[("metrics-rl", "denied")] == 1
    provider.shutdown()


def test_limiters_on_one_memory_backend_share_a_limit() -> None:
    """Like Redis, one backend gives limiters with the same limit the same state."""
    backend = MemoryBackend()
    clock = FakeClock()
    first = RateLimiter(2, 60.0, backend=backend, clock=clock, name="api")
    second = RateLimiter(2, 60.0, backend=backend, clock=clock, name="api")
    other = RateLimiter(2, 60.0, backend=backend, clock=clock, name="other")
    assert first.check("k")
    assert second.check("k")
    assert not first.check("k")
    assert other.check("k")
    assert RateLimiter(2, 60.0, clock=clock).check("k", 0).remaining == 2  # a private backend


def test_a_name_used_by_another_limit_is_refused() -> None:
    """Reusing a name for different parameters on one backend is a ConfigError."""
    backend = MemoryBackend()
    RateLimiter(2, 60.0, backend=backend, name="api")
    with pytest.raises(ConfigError) as info:
        RateLimiter(3, 60.0, backend=backend, name="api")
    assert info.value.code == "ratelimit.name_conflict"


def test_retiring_while_the_registry_lock_is_held_does_not_deadlock() -> None:
    """A limiter collected by GC while this thread holds the registry lock cannot deadlock it."""
    from llm_infra.ratelimit import _metrics

    with _metrics._lock:  # GC may run __del__ at any point, including here
        _metrics.retire("rl-test-gc", (5, 6))
    assert _metrics.totals()["rl-test-gc"] == [5, 6]
