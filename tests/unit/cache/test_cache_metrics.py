"""Cache metrics: counters observed per cache name, monotonic across garbage-collected caches."""

from __future__ import annotations

import gc

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llm_infra.cache import TtlCache, register_cache_metrics


def _points(reader: InMemoryMetricReader, name: str) -> dict[str, float]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[str, float] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        out[str(point.attributes["cache.name"])] = point.value  # type: ignore[index]
    return out


def test_hits_misses_evictions_and_size_are_reported() -> None:
    """A metric reader sees the cache's counters under its name."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_cache_metrics(provider)
    register_cache_metrics(provider)  # idempotent
    cache: TtlCache[str, int] = TtlCache(1, 60.0, name="metrics-test-a")
    cache.set("a", 1)
    cache.get("a")
    cache.get("zz")
    cache.set("b", 2)
    assert _points(reader, "llm_infra.cache.hits")["metrics-test-a"] == 1
    assert _points(reader, "llm_infra.cache.misses")["metrics-test-a"] == 1
    assert _points(reader, "llm_infra.cache.evictions")["metrics-test-a"] == 1
    assert _points(reader, "llm_infra.cache.size")["metrics-test-a"] == 1
    provider.shutdown()


def test_counts_survive_the_cache() -> None:
    """Counts of a cache that was garbage collected stay in the cumulative total."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_cache_metrics(provider)
    cache: TtlCache[str, int] = TtlCache(4, 60.0, name="metrics-test-b")
    cache.get("x")
    cache.get("y")
    del cache
    gc.collect()
    again: TtlCache[str, int] = TtlCache(4, 60.0, name="metrics-test-b")
    again.get("z")
    assert _points(reader, "llm_infra.cache.misses")["metrics-test-b"] == 3
    provider.shutdown()


def test_retiring_while_the_registry_lock_is_held_does_not_deadlock() -> None:
    """A cache collected by GC while this thread holds the registry lock cannot deadlock it."""
    from llm_infra.cache import _metrics

    with _metrics._lock:  # GC may run __del__ at any point, including here
        _metrics.retire("metrics-test-gc", (1, 2, 3, 4))
    assert _metrics.totals()["metrics-test-gc"] == [1, 2, 3, 4, 0]
