#!/usr/bin/env python
"""llm_infra.ratelimit against the ``limits`` package, in memory and on Redis, side by side.

One decision = one call that checks and records a request: ``RateLimiter.check(key)`` (ours,
GCRA, token bucket and sliding window) and ``limiter.hit(item, key)`` (``limits``: fixed window,
moving window, sliding window counter). Two workloads:

- ``allowed``: a generous limit, keys rotating over 1,000 users (every request passes).
- ``denied``: a 1-per-hour limit on one key (every request but the first is refused).

Memory: each sample times a loop of decisions (``timeit``). Redis (the loopback server,
``LLM_TEST_REDIS_URL`` or ``redis://127.0.0.1:6379/15``): a loop of round trips, ours through
``RedisBackend`` (one EVALSHA per decision, server TIME), ``limits`` through ``RedisStorage``.
Every key used is deleted at the end.

Rounds are interleaved (A B C A B C ...); the table shows the per-decision median with min-max
over the rounds and the ratio ours/peer of the medians. Goals: <= 2 us per decision in memory,
<= 0.8x of ``limits`` on Redis.

Usage::

    .venv/bin/python bench/ratelimit.py           # full run (a few minutes)
    .venv/bin/python bench/ratelimit.py --quick   # smoke run, < 60 s
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ is sys.path[0]: bench/json.py must not shadow the standard library.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import itertools
import os
import platform
import statistics
import time
import timeit
import uuid
from collections.abc import Callable
from typing import Any

import redis
from limits import RateLimitItemPerHour, storage, strategies

from llm_infra.ratelimit import RateLimiter, RedisBackend

REDIS_URL = os.environ.get("LLM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
KEYS = [f"user:{i}" for i in range(1_000)]
OURS = ["gcra", "token_bucket", "sliding_window"]
PEERS = {
    "limits fixed": strategies.FixedWindowRateLimiter,
    "limits moving": strategies.MovingWindowRateLimiter,
    "limits sliding": strategies.SlidingWindowCounterRateLimiter,
}


def deciders(workload: str, backend: str, prefix: str) -> dict[str, Callable[[str], Any]]:
    """name -> a function deciding one request for a key."""
    generous = workload == "allowed"
    limit = 1_000_000_000 if generous else 1
    out: dict[str, Callable[[str], Any]] = {}
    for algorithm in OURS:
        rl_backend = RedisBackend(REDIS_URL, prefix=prefix + "ours:") if backend == "redis" else None
        limiter = RateLimiter(
            limit, 3600.0, algorithm=algorithm, backend=rl_backend, name=f"{workload}-{algorithm}"
        )  # type: ignore[arg-type]
        out[f"ours {algorithm}"] = limiter.check
    item = RateLimitItemPerHour(limit)
    for name, strategy in PEERS.items():
        if backend == "redis":
            # One prefix per strategy: their state types differ under the same key name.
            store: Any = storage.RedisStorage(REDIS_URL, key_prefix=f"{prefix}limits-{name.split()[1]}")
        else:
            store = storage.MemoryStorage()
        peer = strategy(store)
        out[name] = lambda key, p=peer, i=item: p.hit(i, key)
    return out


def sample(decide: Callable[[str], Any], workload: str, number: int) -> float:
    """Seconds per decision for one timed loop."""
    if workload == "allowed":
        keys = itertools.cycle(KEYS)
        timer = timeit.Timer("decide(next(keys))", globals={"decide": decide, "keys": keys})
    else:
        decide("hot")
        timer = timeit.Timer("decide('hot')", globals={"decide": decide})
    return timer.timeit(number) / number


def cleanup(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1_000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])
    client.close()


def report(title: str, results: dict[str, list[float]], target: str) -> bool:
    print(f"\n## {title}")
    medians = {name: statistics.median(v) for name, v in results.items()}
    peers = {n: m for n, m in medians.items() if not n.startswith("ours")}
    for name, values in results.items():
        m = medians[name]
        ratio = ""
        if name.startswith("ours"):
            ratio = "  ratio vs " + ", ".join(f"{p.split()[1]} {m / pm:.2f}" for p, pm in peers.items())
        print(f"{name:22s} {m:9.2f} us  ({min(values):.2f}-{max(values):.2f}){ratio}")
    gcra = medians["ours gcra"]
    if target == "memory":
        met = gcra <= 2.0
        print(f"target: <= 2 us per decision in memory -> {'met' if met else 'NOT met'} ({gcra:.2f} us)")
    else:
        fastest_peer = min(peers.values())
        met = gcra <= 0.8 * fastest_peer
        print(
            f"target: <= 0.8x limits on Redis -> {'met' if met else 'NOT met'} "
            f"(gcra {gcra:.1f} us = {gcra / fastest_peer:.2f}x the fastest limits strategy)"
        )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    rounds = 3 if args.quick else 11
    mem_number = 5_000 if args.quick else 100_000
    redis_number = 200 if args.quick else 2_000
    prefix = f"bench:rl:{uuid.uuid4().hex}:"
    print(f"# bench/ratelimit.py  python {platform.python_version()}  {platform.machine()}  rounds={rounds}")
    print(f"# memory: {mem_number} decisions per sample; redis: {redis_number} round trips per sample")
    ok = True
    try:
        for backend in ("memory", "redis"):
            number = mem_number if backend == "memory" else redis_number
            for workload in ("allowed", "denied"):
                impls = deciders(workload, backend, prefix)
                results: dict[str, list[float]] = {name: [] for name in impls}
                for _ in range(rounds):
                    for name, decide in impls.items():
                        results[name].append(sample(decide, workload, number) * 1e6)
                ok = report(f"{backend}, {workload}", results, backend) and ok
                time.sleep(0)
    finally:
        cleanup(prefix)
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
