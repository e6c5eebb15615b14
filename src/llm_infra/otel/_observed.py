"""Counters observed from live objects at collection time (nothing on their hot path).

An area (caches, rate limiters) keeps plain integer counters on its objects. ``ObservedCounters``
holds weak references to the live objects and, when a metric reader collects, sums their counters
per name; counts of objects that were garbage collected are kept, so cumulative sums never go down.
"""

from __future__ import annotations

import operator
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import metrics


class ObservedCounters:
    """The live objects of one area, their retired counts and the providers already instrumented.

    Args:
        meter_name: the meter the instruments are created on.
        width: how many counters a row has (retired rows are padded with zeros to it).
        read: the name of the method returning an object's counters (only the first ``width``
            are used); the object's ``name`` attribute names the row it adds to.
        instrument: creates the area's instruments on a meter (called once per provider).
    """

    def __init__(
        self, meter_name: str, width: int, *, read: str, instrument: Callable[[metrics.Meter], None]
    ) -> None:
        self.meter_name = meter_name
        self.lock = threading.Lock()
        self._width = width
        self._read: Callable[[Any], Sequence[int]] = operator.methodcaller(read)
        self._instrument = instrument
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._retired: dict[str, list[int]] = {}
        self._pending: list[tuple[str, tuple[int, ...]]] = []
        self._installed: list[object] = []
        self._default_installed = False

    def track(self, obj: object) -> None:
        """Start reporting ``obj`` (instruments the global meter provider once)."""
        with self.lock:
            self._live.add(obj)
            install = not self._default_installed
            self._default_installed = True
        if install:
            self.register()

    def retire(self, name: str, counts: Iterable[int]) -> None:
        """Keep the counts of an object that is going away, so cumulative sums stay monotonic.

        Called from ``__del__``, i.e. from garbage collection, which can run while this very
        thread holds ``lock``: so no lock here, only an atomic ``list.append``; ``totals`` folds
        them in.
        """
        self._pending.append((name, tuple(counts)))

    def _fold_pending(self) -> None:
        while self._pending:
            name, counts = self._pending.pop()
            total = self._retired.setdefault(name, [0] * self._width)
            for i, value in enumerate(counts):
                total[i] += value

    def totals(self) -> dict[str, list[int]]:
        """Per name, the summed counters of live and retired objects."""
        with self.lock:
            self._fold_pending()
            live = list(self._live)
            result = {name: list(counts) for name, counts in self._retired.items()}
        for obj in live:
            values = self._read(obj)
            row = result.setdefault(obj.name, [0] * self._width)
            for i in range(self._width):
                row[i] += values[i]
        return result

    def register(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        """Create the instruments on ``meter_provider`` (default: the global one); idempotent."""
        with self.lock:
            if any(p is meter_provider for p in self._installed):
                return
            self._installed.append(meter_provider)
        name = self.meter_name
        self._instrument(
            metrics.get_meter(name) if meter_provider is None else meter_provider.get_meter(name)
        )
