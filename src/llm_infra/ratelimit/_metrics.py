"""OpenTelemetry metrics of the rate limiters, observed from their counters (nothing per decision).

``llm_infra.ratelimit.decisions`` is an observable counter with the attributes
``ratelimit.name`` and ``ratelimit.decision`` (``allowed`` or ``denied``). Counts of limiters
that were garbage collected are kept, so the cumulative sums never go down.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

from opentelemetry import metrics

METER_NAME = "llm_infra.ratelimit"


class _Observed(Protocol):
    @property
    def name(self) -> str: ...

    def counts(self) -> tuple[int, int]: ...


_lock = threading.Lock()
_live: weakref.WeakSet[_Observed] = weakref.WeakSet()
_retired: dict[str, list[int]] = {}
_pending: list[tuple[str, tuple[int, int]]] = []
_installed: list[object] = []
_default_installed = False


def track(limiter: _Observed) -> None:
    """Start reporting ``limiter`` (installs the instrument on the global meter provider once)."""
    global _default_installed
    with _lock:
        _live.add(limiter)
        install = not _default_installed
        _default_installed = True
    if install:
        register_metrics()


def retire(name: str, counts: tuple[int, int]) -> None:
    """Keep the counts of a limiter that is going away.

    Called from ``__del__``, i.e. from garbage collection, which can run while this very thread
    holds ``_lock``: so no lock here, only an atomic ``list.append``; ``totals`` folds them in.
    """
    _pending.append((name, counts))


def _fold_pending() -> None:
    while _pending:
        name, (allowed, denied) = _pending.pop()
        total = _retired.setdefault(name, [0, 0])
        total[0] += allowed
        total[1] += denied


def totals() -> dict[str, list[int]]:
    """Per limiter name: ``[allowed, denied]`` (retired limiters included)."""
    with _lock:
        _fold_pending()
        limiters = list(_live)
        result = {name: list(counts) for name, counts in _retired.items()}
    for limiter in limiters:
        allowed, denied = limiter.counts()
        row = result.setdefault(limiter.name, [0, 0])
        row[0] += allowed
        row[1] += denied
    return result


def _observe(_options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
    out = []
    for name, (allowed, denied) in totals().items():
        out.append(metrics.Observation(allowed, {"ratelimit.name": name, "ratelimit.decision": "allowed"}))
        out.append(metrics.Observation(denied, {"ratelimit.name": name, "ratelimit.decision": "denied"}))
    return out


def register_metrics(meter_provider: metrics.MeterProvider | None = None) -> None:
    """Report every limiter's decisions through ``meter_provider`` (default: the global one).

    The global provider is registered automatically when the first limiter is created; call
    this for another provider. Idempotent per provider.

    .. versionadded:: 0.1.0
    """
    with _lock:
        if any(p is meter_provider for p in _installed):
            return
        _installed.append(meter_provider)
    meter = metrics.get_meter(METER_NAME) if meter_provider is None else meter_provider.get_meter(METER_NAME)
    meter.create_observable_counter(
        f"{METER_NAME}.decisions",
        callbacks=[_observe],
        unit="{decision}",
        description="Rate-limit decisions by outcome",
    )
