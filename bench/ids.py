#!/usr/bin/env python
"""llm_infra.ids generators vs uuid.uuid4 and python-ulid, side by side in one process.

Cases: UUIDv4 string (ours vs ``str(uuid.uuid4())``), ULID string (ours vs ``str(ulid.ULID())``),
and ours only: UUIDv7, NanoID (21), Snowflake ``next_id``.

Rounds are interleaved; the table shows the per-id median with min-max over the rounds and the
ratio ours/peer of the medians.

Usage::

    .venv/bin/python bench/ids.py           # full run (~30 s)
    .venv/bin/python bench/ids.py --quick   # smoke run (a few seconds)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import ulid as python_ulid

from llm_infra import ids


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    rounds, seconds = (3, 0.02) if args.quick else (15, 0.1)
    flake = ids.Snowflake(1)
    cases: dict[str, list[tuple[str, Callable[[], object]]]] = {
        "UUIDv4 (str)": [("ours", ids.uuid4), ("uuid.uuid4", lambda: str(uuid.uuid4()))],
        "ULID (str)": [("ours", ids.ulid), ("python-ulid", lambda: str(python_ulid.ULID()))],
        "UUIDv7 (str)": [("ours", ids.uuid7)],
        "NanoID 21": [("ours", ids.nanoid)],
        "Snowflake (int)": [("ours", flake.next_id)],
    }
    print(f"# llm_infra.ids benchmark ({platform.python_version()})")
    print(f"rounds={rounds}, sample~{seconds}s; per-id median (min-max); ratio = ours / peer median\n")
    print("| id | impl | per id | ratio ours/peer |")
    print("|---|---|---|---|")
    for case, impls in cases.items():
        samples: dict[str, list[float]] = {name: [] for name, _ in impls}
        for _ in range(rounds):
            for name, fn in impls:
                samples[name].append(measure(fn, seconds))
        med = {k: statistics.median(v) for k, v in samples.items()}
        for name, values in samples.items():
            ratio = "" if name == "ours" else f"{med['ours'] / med[name]:.2f}x"
            print(
                f"| {case} | {name} | {med[name] * 1e6:.3f} µs "
                f"({min(values) * 1e6:.3f}-{max(values) * 1e6:.3f}) | {ratio} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
