"""OpenTelemetry metrics of the caches, observed from their counters (nothing on the hot path).

A cache counts hits, misses, evictions and expirations in plain attributes. Observable
instruments read those counters when a metric reader collects, summed per ``cache.name``; counts
of caches that were garbage collected are kept, so the cumulative sums never go down.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

from opentelemetry import metrics

METER_NAME = "llm_infra.cache"
_FIELDS = ("hits", "misses", "evictions", "expirations")


class _Observed(Protocol):
    name: str

    def stats(self) -> tuple[int, int, int, int, int, int]: ...


_lock = threading.Lock()
_live: weakref.WeakSet[_Observed] = weakref.WeakSet()
_retired: dict[str, list[int]] = {}
_pending: list[tuple[str, tuple[int, ...]]] = []
_installed: list[object] = []
_default_installed = False


def track(cache: _Observed) -> None:
    """Start reporting ``cache`` (installs the instruments on the global meter provider once)."""
    global _default_installed
    with _lock:
        _live.add(cache)
        install = not _default_installed
        _default_installed = True
    if install:
        register_cache_metrics()


def retire(name: str, counts: Iterable[int]) -> None:
    """Keep the counts of a cache that is going away, so cumulative sums stay monotonic.

    Called from ``__del__``, i.e. from garbage collection, which can run while this very thread
    holds ``_lock``: so no lock here, only an atomic ``list.append``; ``totals`` folds them in.
    """
    _pending.append((name, tuple(counts)))


def _fold_pending() -> None:
    while _pending:
        name, counts = _pending.pop()
        total = _retired.setdefault(name, [0, 0, 0, 0])
        for i, value in enumerate(counts):
            total[i] += value


def totals() -> dict[str, list[int]]:
    """Per cache name: ``[hits, misses, evictions, expirations, size]`` (retired caches included)."""
    with _lock:
        _fold_pending()
        caches = list(_live)
        result = {name: [*counts, 0] for name, counts in _retired.items()}
    for cache in caches:
        stats = cache.stats()
        row = result.setdefault(cache.name, [0, 0, 0, 0, 0])
        for i in range(5):
            row[i] += stats[i]
    return result


def _observer(index: int) -> metrics.CallbackT:
    def observe(_options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(row[index], {"cache.name": name}) for name, row in totals().items()]

    return observe


def register_cache_metrics(meter_provider: metrics.MeterProvider | None = None) -> None:
    """Report every cache's counters through ``meter_provider`` (default: the global one).

    Instruments (attribute ``cache.name``): ``llm_infra.cache.hits``, ``.misses``, ``.evictions``,
    ``.expirations`` (observable counters) and ``llm_infra.cache.size`` (observable gauge). The
    global provider is registered automatically when the first cache is created; call this for
    another provider (a test's, say). Idempotent per provider.

    .. versionadded:: 0.1.0
    """
    with _lock:
        if any(p is meter_provider for p in _installed):
            return
        _installed.append(meter_provider)
    meter = metrics.get_meter(METER_NAME) if meter_provider is None else meter_provider.get_meter(METER_NAME)
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
