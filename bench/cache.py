#!/usr/bin/env python
"""llm_infra.cache.TtlCache against cachetools' TTLCache and LRUCache, side by side in one process.

Cases (1,000 entries, a long TTL so nothing expires mid-run):

- ``get hit``: ``cache.get(key)`` of a present key (the hot path; goal <= 0.5 us).
- ``get miss``: ``cache.get(key)`` of an absent key.
- ``set replace``: ``cache.set(key, value)`` of a present key.
- ``set evict``: ``cache.set(new_key, value)`` into a full cache (drops the LRU entry).

TtlCache is thread-safe (one lock per operation); cachetools caches are not, so the table also
shows cachetools TTLCache behind a ``threading.Lock``, the fair comparison for shared use.

Rounds are interleaved (A B C A B C ...) so load drift on a shared machine hits every
implementation alike. Each sample times a loop of calls (``timeit``); the table shows the per-op
median with min-max over the rounds and the ratio ours/peer of the medians.

Usage::

    .venv/bin/python bench/cache.py           # full run (~1 minute)
    .venv/bin/python bench/cache.py --quick   # smoke run, a few seconds
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ is sys.path[0]: bench/json.py must not shadow the standard library.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import itertools
import platform
import statistics
import threading
import timeit
from collections.abc import Callable
from typing import Any

import cachetools

from llm_infra.cache import TtlCache

SIZE = 1_000
TTL = 1e9


class LockedTTLCache:
    """cachetools.TTLCache behind a lock (what shared use of it needs)."""

    def __init__(self) -> None:
        self.cache: cachetools.TTLCache[Any, Any] = cachetools.TTLCache(SIZE, TTL)
        self.lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self.lock:
            return self.cache.get(key, default)

    def set(self, key: Any, value: Any) -> None:
        with self.lock:
            self.cache[key] = value


def implementations() -> dict[str, Callable[[], Any]]:
    return {
        "ours TtlCache": lambda: TtlCache(SIZE, TTL),
        "cachetools TTLCache": lambda: cachetools.TTLCache(SIZE, TTL),
        "cachetools LRUCache": lambda: cachetools.LRUCache(SIZE),
        "cachetools TTLCache+Lock": LockedTTLCache,
    }


def setter(cache: Any) -> Callable[[Any, Any], None]:
    if hasattr(cache, "set"):
        return cache.set  # type: ignore[no-any-return]
    return cache.__setitem__  # type: ignore[no-any-return]


def fill(cache: Any) -> None:
    put = setter(cache)
    for i in range(SIZE):
        put(i, i)


def sample(case: str, make: Callable[[], Any], number: int) -> float:
    """Seconds per operation for one timed loop of ``number`` calls."""
    cache = make()
    fill(cache)
    get = cache.get
    put = setter(cache)
    if case == "get hit":
        timer = timeit.Timer("get(500)", globals={"get": get})
    elif case == "get miss":
        timer = timeit.Timer("get(-1)", globals={"get": get})
    elif case == "set replace":
        timer = timeit.Timer("put(500, 1)", globals={"put": put})
    else:  # set evict: every key is new, so every set drops the least recently used entry
        fresh = itertools.count(SIZE)
        timer = timeit.Timer("put(next(fresh), 1)", globals={"put": put, "fresh": fresh})
    return timer.timeit(number) / number


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    rounds, number = (3, 20_000) if args.quick else (15, 200_000)
    impls = implementations()
    cases = ["get hit", "get miss", "set replace", "set evict"]
    print(f"# bench/cache.py  python {platform.python_version()}  {platform.machine()}  rounds={rounds}")
    print(f"# {number} ops per sample, {SIZE} entries; per-op ns: median (min-max); ratio = ours/peer")
    results: dict[str, dict[str, list[float]]] = {c: {name: [] for name in impls} for c in cases}
    for case in cases:
        for _ in range(rounds):
            for name, make in impls.items():
                results[case][name].append(sample(case, make, number) * 1e9)
    ok = True
    for case in cases:
        print(f"\n## {case}")
        ours = statistics.median(results[case]["ours TtlCache"])
        for name, values in results[case].items():
            median = statistics.median(values)
            ratio = "" if name.startswith("ours") else f"  ratio {ours / median:.2f}"
            print(f"{name:28s} {median:8.0f} ns  ({min(values):.0f}-{max(values):.0f}){ratio}")
        if case == "get hit":
            met = ours <= 500
            ok = ok and met
            print(f"target: hit <= 500 ns -> {'met' if met else 'NOT met'} ({ours:.0f} ns)")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
