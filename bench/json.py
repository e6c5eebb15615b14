#!/usr/bin/env python
"""llm_infra.json against raw orjson and the standard library, side by side in one process.

Documents: a ~1 KB chat-completion record, a ~100 KB record with 400 messages and an embedding
(container-heavy: over 512 brackets, so ``loads`` runs its exact depth check), and a ~100 KB
embeddings batch (few containers). Operations: ``loads`` (bytes in) and ``dumps`` (bytes out).

Rounds are interleaved (ours, orjson, json, ours, ...) so load drift on a shared machine hits
every implementation alike; each sample times a batch of calls; the table shows the per-op
median with min-max over the rounds and the ratio ours/peer of the medians.

Usage::

    .venv/bin/python bench/json.py           # full run (~1 minute)
    .venv/bin/python bench/json.py --quick   # smoke run (a few seconds)
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ != "__main__":
    # This file was imported as `json` because bench/ is first on sys.path (another bench script
    # run directly). Hand the importer the standard library's json instead of this script.
    _saved_path = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
    del sys.modules[__name__]
    try:
        import json as _stdlib_json
    finally:
        sys.path[:] = _saved_path
    sys.modules[__name__] = _stdlib_json
    globals().update({k: v for k, v in vars(_stdlib_json).items() if not k.startswith("__")})
else:
    # Run as a script: drop bench/ from the front of sys.path so `import json` (here and in every
    # library) finds the standard library.
    if sys.path and os.path.abspath(sys.path[0]) == _HERE:
        sys.path.pop(0)

import argparse  # noqa: E402 - these standard modules never import json
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "model",
    "token",
    "embedding",
    "vector",
    "search",
    "retrieval",
    "prompt",
    "answer",
    "context",
    "window",
    "latency",
    "budget",
    "cache",
    "shard",
    "replica",
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def chat_doc(rng: random.Random, messages: int, embedding: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-8f2e",
        "object": "chat.completion",
        "created": 1_764_201_600,
        "model": "gpt-x-mini",
        "messages": [
            {
                "role": rng.choice(["user", "assistant"]),
                "content": _text(rng, rng.randint(5, 40)),
                "name": None,
                "tool_calls": [],
                "score": rng.random(),
                "tokens": rng.randint(1, 500),
            }
            for _ in range(messages)
        ],
        "usage": {"prompt_tokens": 812, "completion_tokens": 96, "total_tokens": 908},
        "embedding": [rng.random() for _ in range(embedding)],
        "metadata": {"user": "u-1", "tags": ["a", "b"], "trace": None},
    }


def embeddings_doc(rng: random.Random, rows: int) -> dict[str, Any]:
    return {
        "object": "list",
        "model": "minilm",
        "data": [[round(rng.uniform(-1, 1), 6) for _ in range(384)] for _ in range(rows)],
    }


def measure(fn: Callable[[], object], seconds: float) -> float:
    """Seconds per call, timing a batch sized to roughly ``seconds``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds / 4 or n >= 1 << 22:
            break
        n *= 4
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def run_case(
    impls: list[tuple[str, Callable[[], object]]], rounds: int, seconds: float
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name, _ in impls}
    for fn in (f for _, f in impls):
        fn()  # warm up
    for _ in range(rounds):
        for name, fn in impls:
            samples[name].append(measure(fn, seconds))
    return samples


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} µs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    # Imported here, not at module level: when this file is imported as `json` by accident (see
    # the top of the file) nothing beyond the standard library may be imported.
    import json as stdjson

    import orjson

    from llm_infra import json as ours

    rounds, seconds = (3, 0.02) if args.quick else (15, 0.2)
    rng = random.Random(42)
    docs = {
        "1 KB chat record": chat_doc(rng, 3, 0),
        "100 KB chat record (container-heavy)": chat_doc(rng, 400, 384),
        "100 KB embeddings batch": embeddings_doc(rng, 28),
    }
    print(f"# llm_infra.json benchmark ({platform.python_version()}, orjson {orjson.__version__})")
    print(f"rounds={rounds}, sample~{seconds}s; per-op median (min-max); ratio = ours / peer median\n")
    print("| operation | document | size | ours | orjson | json (stdlib) | ours/orjson | ours/json |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts: list[str] = []
    for label, doc in docs.items():
        raw = orjson.dumps(doc)
        assert ours.loads(raw) == orjson.loads(raw) == stdjson.loads(raw)
        cases = {
            "loads": [
                ("ours", lambda r=raw: ours.loads(r)),
                ("orjson", lambda r=raw: orjson.loads(r)),
                ("json", lambda r=raw: stdjson.loads(r)),
            ],
            "dumps": [
                ("ours", lambda d=doc: ours.dumps(d)),
                ("orjson", lambda d=doc: orjson.dumps(d)),
                ("json", lambda d=doc: stdjson.dumps(d).encode()),
            ],
        }
        for op, impls in cases.items():
            samples = run_case(impls, rounds, seconds)
            med = {k: statistics.median(v) for k, v in samples.items()}
            cells = [
                f"{fmt(med[k])} ({fmt(min(samples[k]))}-{fmt(max(samples[k]))})"
                for k in ("ours", "orjson", "json")
            ]
            ratio_orjson = med["ours"] / med["orjson"]
            ratio_json = med["ours"] / med["json"]
            print(
                f"| {op} | {label} | {len(raw) / 1024:,.1f} KB | {cells[0]} | {cells[1]} | {cells[2]} "
                f"| {ratio_orjson:.2f}x | {ratio_json:.2f}x |"
            )
            met = "met" if ratio_orjson <= 1.25 else "NOT met"
            verdicts.append(f"- target ours <= 1.25x orjson, {op} {label}: {ratio_orjson:.2f}x -> {met}")
    print()
    print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
