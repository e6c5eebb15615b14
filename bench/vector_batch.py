#!/usr/bin/env python
"""search_batch bench: one batch of 64 queries vs a loop of 64 single raw faiss calls.

Usage::

    .venv/bin/python bench/vector_batch.py            # 20k x 384 clustered, 64-query batches, 15 rounds
    .venv/bin/python bench/vector_batch.py --quick    # 5k vectors, 5 rounds (a smoke run)

One thread everywhere (set before numpy/faiss load); ``--threads N`` gives faiss N OpenMP
threads for every way (a batch spreads its queries over them, a single query cannot). The
store is built once (``flush()``: everything in the graph); then each round times, in rotated
order, on the same 64 queries and the same ef:

- ``search_batch``: ``store.search_batch(queries, k=10)`` (ids, scores and metadata included);
- ``raw faiss loop``: 64 calls of ``index.search(q[None], 10, params)`` on the store's own
  faiss HNSW index (ids only: the floor a per-query API cannot beat);
- ``search loop``: 64 calls of ``store.search(q, k=10)`` (for reference).

Reported: per-batch wall time, per-batch CPU time of the bench thread (``time.thread_time``,
less disturbed by other jobs on a shared machine; with ``--threads`` above 1 it misses the
other faiss threads, so compare wall time then) and queries/s, as median (min-max) over
rounds, and the ratios of the medians. Target: ``search_batch`` beats the raw faiss loop.
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

from pathlib import Path  # noqa: E402

_HERE = Path(__file__).resolve().parent
# Sibling bench scripts (bench/json.py, bench/http.py) must not shadow the standard library.
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)
if str(_HERE) not in sys.path:
    sys.path.append(str(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from _vector.data import DATA_DIR, clustered  # noqa: E402

from llm_infra.vector import VectorStoreConfig, open_store  # noqa: E402


def _stats(samples: list[float], per: int) -> dict[str, float]:
    return {
        "ms_median": 1000 * statistics.median(samples),
        "ms_min": 1000 * min(samples),
        "ms_max": 1000 * max(samples),
        "qps_median": per / statistics.median(samples),
        "qps_min": per / max(samples),
        "qps_max": per / min(samples),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="5k vectors, 5 rounds")
    ap.add_argument("--n", type=int, default=None, help="vectors (default 20000; quick 5000)")
    ap.add_argument("--batch", type=int, default=64, help="queries per batch")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 15; quick 5)")
    ap.add_argument("--repeat", type=int, default=5, help="batches per timed sample")
    ap.add_argument("--ef", type=int, default=100)
    ap.add_argument(
        "--threads", type=int, default=1, help="faiss OpenMP threads for every way (a single query uses one)"
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    faiss.omp_set_num_threads(args.threads)
    n = args.n or (5_000 if args.quick else 20_000)
    rounds = args.rounds or (5 if args.quick else 15)
    ds = clustered(n, dim=384, nq=max(args.batch, 256))
    queries = np.ascontiguousarray(ds.queries[: args.batch], dtype=np.float32)
    cfg = VectorStoreConfig(collection="bench", dimensions=ds.dim, background_indexing=False)
    store = open_store(":memory:", cfg)
    t0 = time.perf_counter()
    # No metadata: the raw faiss loop returns ids only, so the batch builds results of ids and scores.
    store.insert_batch(ids=[str(i) for i in range(n)], vectors=ds.vectors)
    store.flush()
    build = time.perf_counter() - t0
    index: Any = store._ann._index  # type: ignore[union-attr]  # the store's own faiss graph
    params = faiss.SearchParametersHNSW()
    params.efSearch = args.ef
    k = 10

    def batch() -> None:
        store.search_batch(queries, k=k, ef_search=args.ef)

    def raw_loop() -> None:
        for i in range(queries.shape[0]):
            index.search(queries[i : i + 1], k, params=params)

    def search_loop() -> None:
        for q in queries:
            store.search(q, k=k, ef_search=args.ef)

    # Same answers: the batch equals the per-query search, and raw faiss finds the same ids.
    got = store.search_batch(queries, k=k, ef_search=args.ef)
    single = [store.search(q, k=k, ef_search=args.ef) for q in queries]
    assert [[h.id for h in r] for r in got] == [[h.id for h in r] for r in single]
    _, raw_ids = index.search(queries, k, params=params)
    same = np.mean([[int(h.id) for h in r] == raw_ids[i].tolist() for i, r in enumerate(got)])
    recall = float(
        np.mean([len({int(h.id) for h in r} & set(ds.gt[i].tolist())) / k for i, r in enumerate(got)])
    )

    runners: dict[str, Callable[[], None]] = {
        "search_batch": batch,
        "raw faiss loop": raw_loop,
        "search loop": search_loop,
    }
    samples: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    for fn in runners.values():
        fn()  # warm up
    names = list(runners)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t, c = time.perf_counter(), time.thread_time()
            for _ in range(args.repeat):
                runners[name]()
            cpu[name].append((time.thread_time() - c) / args.repeat)
            samples[name].append((time.perf_counter() - t) / args.repeat)
    stats = {name: _stats(s, queries.shape[0]) for name, s in samples.items()}
    cpu_stats = {name: _stats(s, queries.shape[0]) for name, s in cpu.items()}
    ratio = stats["raw faiss loop"]["ms_median"] / stats["search_batch"]["ms_median"]
    cpu_ratio = cpu_stats["raw faiss loop"]["ms_median"] / cpu_stats["search_batch"]["ms_median"]
    lines = [
        f"data: {ds.description}; build {build:.1f} s; batch {queries.shape[0]}; ef {args.ef}; k {k}; "
        f"{rounds} interleaved rounds x {args.repeat} batches; faiss threads {args.threads}",
        f"recall@10 {recall:.3f}; identical top-10 ids to raw faiss for {same:.0%} of the queries",
        "",
        "| way | wall ms per batch, median (min-max) | thread CPU ms per batch, median (min-max) "
        "| queries/s (wall), median (min-max) |",
        "|---|---|---|---|",
    ]
    for name, st in stats.items():
        ct = cpu_stats[name]
        lines.append(
            f"| {name} | {st['ms_median']:.2f} ({st['ms_min']:.2f}-{st['ms_max']:.2f}) | "
            f"{ct['ms_median']:.2f} ({ct['ms_min']:.2f}-{ct['ms_max']:.2f}) | "
            f"{st['qps_median']:,.0f} ({st['qps_min']:,.0f}-{st['qps_max']:,.0f}) |"
        )
    lines += [
        "",
        f"search_batch vs raw faiss loop: {ratio:.2f}x wall, {cpu_ratio:.2f}x thread CPU "
        f"({'beats' if ratio > 1 else 'does NOT beat'} it on wall time)",
    ]
    print("\n".join(lines))
    dest = args.json or DATA_DIR / f"results-vector-batch{'-quick' if args.quick else ''}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(
        json.dumps(
            {
                "n": n,
                "wall": stats,
                "cpu": cpu_stats,
                "ratio": ratio,
                "cpu_ratio": cpu_ratio,
                "recall": recall,
            },
            indent=1,
        )
    )
    store.close()
    return 0 if ratio > 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
