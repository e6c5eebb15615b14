"""OpenTelemetry metrics of the caches, observed from their counters (nothing on the hot path).

A cache counts hits, misses, evictions and expirations in plain attributes. Observable
instruments read those counters when a metric reader collects, summed per ``cache.name``; counts
of caches that were garbage collected are kept, so the cumulative sums never go down.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import metrics

from llm_infra.otel._observed import ObservedCounters

METER_NAME = "llm_infra.cache"
_FIELDS = ("hits", "misses", "evictions", "expirations")


def _observer(index: int) -> metrics.CallbackT:
    def observe(_options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(row[index], {"cache.name": name}) for name, row in totals().items()]

    return observe


def _instrument(meter: metrics.Meter) -> None:
    for index, field in enumerate(_FIELDS):
        meter.create_observable_counter(
            f"{METER_NAME}.{field}",
            callbacks=[_observer(index)],
            unit="{" + field.rstrip("s") + "}",
            description=f"Cache {field}",
        )
    meter.create_observable_gauge(
        f"{METER_NAME}.size", callbacks=[_observer(4)], unit="{entry}", description="Entries held"
    )


# Per cache name: ``[hits, misses, evictions, expirations, size]`` (retired caches included).
_counters = ObservedCounters(METER_NAME, 5, read="stats", instrument=_instrument)
_lock, track, retire, totals = _counters.lock, _counters.track, _counters.retire, _counters.totals


def register_cache_metrics(meter_provider: metrics.MeterProvider | None = None) -> None:
    """Report every cache's counters through ``meter_provider`` (default: the global one).

    Instruments (attribute ``cache.name``): ``llm_infra.cache.hits``, ``.misses``, ``.evictions``,
    ``.expirations`` (observable counters) and ``llm_infra.cache.size`` (observable gauge). The
    global provider is registered automatically when the first cache is created; call this for
    another provider (a test's, say). Idempotent per provider.

    .. versionadded:: 0.1.0
    """
    _counters.register(meter_provider)
