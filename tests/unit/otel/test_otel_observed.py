"""ObservedCounters: live and retired counters summed per name, instruments created once per provider."""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llm_infra.otel._observed import ObservedCounters


class _Thing:
    def __init__(self, name: str, allowed: int, denied: int) -> None:
        self.name = name
        self._counts = (allowed, denied, 99)

    def counts(self) -> tuple[int, int, int]:
        return self._counts


def test_totals_sum_live_and_retired_objects_per_name() -> None:
    """Rows add live objects' first ``width`` counters to the counts of retired ones."""
    made: list[metrics.Meter] = []
    counters = ObservedCounters("test.observed", 2, read="counts", instrument=made.append)
    a, b = _Thing("x", 1, 2), _Thing("x", 10, 20)
    counters.track(a)
    counters.track(b)
    counters.retire("x", (100, 200))
    counters.retire("gone", (5,))
    assert counters.totals() == {"x": [111, 222], "gone": [5, 0]}
    assert len(made) == 1  # the global provider, instrumented by the first track()


def test_register_is_idempotent_per_provider() -> None:
    """A provider gets the instruments once; another provider gets its own."""
    made: list[metrics.Meter] = []
    counters = ObservedCounters("test.observed", 1, read="counts", instrument=made.append)
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    counters.register(provider)
    counters.register(provider)
    counters.register(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    assert len(made) == 2
