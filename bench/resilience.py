#!/usr/bin/env python
"""Success-path overhead of llm_infra.resilience's retry and CircuitBreaker vs tenacity, stamina, pybreaker.

Also one informative failure-path case: a call that fails once and succeeds on the retry (no
sleep), which exercises the retry state machine (``RetryState``) against tenacity's.

Each implementation decorates the same no-op function; the overhead is the decorated call's
time minus the bare call's time, measured in the same round. Sync and async retry are measured
(async: one awaited call, the coroutine driven by hand so no event loop cost is included).

Rounds are interleaved (bare, ours, peer, ..., bare, ours, ...) so load drift on a shared
machine hits every implementation alike; the table shows the per-call overhead median with
min-max over the rounds and the ratio ours/peer of the medians.

Usage::

    .venv/bin/python bench/resilience.py           # full run (~1 minute)
    .venv/bin/python bench/resilience.py --quick   # smoke run (a few seconds)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from importlib.metadata import version
from typing import Any

import pybreaker
import stamina
import tenacity

from llm_infra.resilience import CircuitBreaker, RetryPolicy, retry


def noop(x: int) -> int:
    return x


async def anoop(x: int) -> int:
    return x


class FailOnce:
    """Fails every other call with a fresh ConnectionError: one retry per decorated call."""

    def __init__(self) -> None:
        self.fail = True

    def __call__(self, x: int) -> int:
        if self.fail:
            self.fail = False
            raise ConnectionError
        self.fail = True
        return x


def bare_retry_once(fn: Callable[[int], int], x: int) -> int:
    """The hand-written loop the decorators replace (the baseline of the one-retry case)."""
    try:
        return fn(x)
    except ConnectionError:
        return fn(x)


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended")


def measure(fn: Callable[[], object], seconds: float) -> float:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= seconds / 4 or n >= 1 << 22:
            break
        n *= 4
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def build() -> dict[str, list[tuple[str, Callable[[], object]]]]:
    ours_retry = retry(RetryPolicy(max_attempts=3))(noop)
    ours_aretry = retry(RetryPolicy(max_attempts=3))(anoop)
    ten = tenacity.retry(stop=tenacity.stop_after_attempt(3), reraise=True)(noop)
    aten = tenacity.retry(stop=tenacity.stop_after_attempt(3), reraise=True)(anoop)
    sta = stamina.retry(on=Exception, attempts=3)(noop)
    asta = stamina.retry(on=Exception, attempts=3)(anoop)
    breaker = CircuitBreaker("bench", failure_threshold=5, reset_timeout=30.0)
    decorated = breaker(noop)
    pyb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
    pyb_decorated = pyb(noop)
    flaky_bare, flaky_ours, flaky_ten = FailOnce(), FailOnce(), FailOnce()
    ours_once = retry(RetryPolicy(max_attempts=3, base_delay=0.0), retry_on=ConnectionError)(flaky_ours)
    ten_once = tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_none(),
        retry=tenacity.retry_if_exception_type(ConnectionError),
        reraise=True,
    )(flaky_ten)
    return {
        "retry (sync)": [
            ("bare", lambda: noop(1)),
            ("ours", lambda: ours_retry(1)),
            ("tenacity", lambda: ten(1)),
            ("stamina", lambda: sta(1)),
        ],
        "retry (async)": [
            ("bare", lambda: drive(anoop(1))),
            ("ours", lambda: drive(ours_aretry(1))),
            ("tenacity", lambda: drive(aten(1))),
            ("stamina", lambda: drive(asta(1))),
        ],
        "retry, one failure (sync)": [
            ("bare", lambda: bare_retry_once(flaky_bare, 1)),
            ("ours", lambda: ours_once(1)),
            ("tenacity", lambda: ten_once(1)),
        ],
        "circuit breaker .call": [
            ("bare", lambda: noop(1)),
            ("ours", lambda: breaker.call(noop, 1)),
            ("pybreaker", lambda: pyb.call(noop, 1)),
        ],
        "circuit breaker decorator": [
            ("bare", lambda: noop(1)),
            ("ours", lambda: decorated(1)),
            ("pybreaker", lambda: pyb_decorated(1)),
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    rounds, seconds = (3, 0.02) if args.quick else (21, 0.1)
    stamina.set_active(True)
    print(
        f"# llm_infra.resilience success-path overhead ({platform.python_version()}, tenacity "
        f"{version('tenacity')}, stamina {version('stamina')}, pybreaker {version('pybreaker')})"
    )
    print(f"rounds={rounds}, sample~{seconds}s; overhead per call = decorated - bare (same round)\n")
    print("| case | impl | overhead per call: median (min-max) | ratio ours/impl |")
    print("|---|---|---|---|")
    verdicts: list[str] = []
    for case, impls in build().items():
        for _, fn in impls:
            fn()
        overhead: dict[str, list[float]] = {name: [] for name, _ in impls if name != "bare"}
        for _ in range(rounds):
            bare = 0.0
            for name, fn in impls:
                t = measure(fn, seconds)
                if name == "bare":
                    bare = t
                else:
                    overhead[name].append(max(0.0, t - bare))
        med = {k: statistics.median(v) for k, v in overhead.items()}
        for name, values in overhead.items():
            ratio = "" if name == "ours" else f"{med['ours'] / med[name]:.3f}x" if med[name] else "n/a"
            print(
                f"| {case} | {name} | {med[name] * 1e6:.3f} µs "
                f"({min(values) * 1e6:.3f}-{max(values) * 1e6:.3f}) | {ratio} |"
            )
        if "failure" in case:
            continue  # informative: the retry state machine's cost, no target
        limit = 2.0 if case.startswith("retry") else 1.0
        met = "met" if med["ours"] * 1e6 <= limit else "NOT met"
        verdicts.append(
            f"- target {case}: ours <= {limit:g} µs overhead: {med['ours'] * 1e6:.3f} µs -> {met}"
        )
    print()
    print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
