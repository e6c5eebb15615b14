"""OpenTelemetry metrics of the rate limiters, observed from their counters (nothing per decision).

``llm_infra.ratelimit.decisions`` is an observable counter with the attributes
``ratelimit.name`` and ``ratelimit.decision`` (``allowed`` or ``denied``). Counts of limiters
that were garbage collected are kept, so the cumulative sums never go down.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import metrics

from llm_infra.otel._observed import ObservedCounters

METER_NAME = "llm_infra.ratelimit"


def _observe(_options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
    out = []
    for name, (allowed, denied) in totals().items():
        out.append(metrics.Observation(allowed, {"ratelimit.name": name, "ratelimit.decision": "allowed"}))
        out.append(metrics.Observation(denied, {"ratelimit.name": name, "ratelimit.decision": "denied"}))
    return out


def _instrument(meter: metrics.Meter) -> None:
    meter.create_observable_counter(
        f"{METER_NAME}.decisions",
        callbacks=[_observe],
        unit="{decision}",
        description="Rate-limit decisions by outcome",
    )


# Per limiter name: ``[allowed, denied]`` (retired limiters included).
_counters = ObservedCounters(METER_NAME, 2, read="counts", instrument=_instrument)
_lock, track, retire, totals = _counters.lock, _counters.track, _counters.retire, _counters.totals


def register_metrics(meter_provider: metrics.MeterProvider | None = None) -> None:
    """Report every limiter's decisions through ``meter_provider`` (default: the global one).

    The global provider is registered automatically when the first limiter is created; call
    this for another provider. Idempotent per provider.

    .. versionadded:: 0.1.0
    """
    _counters.register(meter_provider)
