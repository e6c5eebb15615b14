#!/usr/bin/env python
"""Passages per second of each local embedder, with and without the embedding cache.

Usage::

    .venv/bin/python bench/embeddings.py             # 2,000 passages
    .venv/bin/python bench/embeddings.py --quick     # 200 passages

"cold" embeds every passage once through ``TextVectorStore.embed`` (empty cache); "warm" embeds
the same passages again (every one a cache hit); "no cache" is the embedder alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds scripts named like stdlib modules (http.py, json.py): keep it off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from llm_infra.vector import VectorStoreConfig, open_store  # noqa: E402
from llm_infra.vector._embed import HashingEmbedder, SentenceTransformerEmbedder, bundled_minilm_path  # noqa: E402
from llm_infra.vector._embed_store import TextVectorStore  # noqa: E402

WORDS = [
    "vector",
    "store",
    "search",
    "embedding",
    "model",
    "query",
    "cache",
    "latency",
    "throughput",
    "index",
    "graph",
    "filter",
    "metadata",
    "postgres",
    "qdrant",
    "recall",
    "batch",
    "token",
    "budget",
    "passage",
    "document",
    "retrieval",
    "ranking",
    "similarity",
    "cosine",
]


def passages(n: int) -> list[str]:
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(12 + i % 20)]
        out.append(f"passage {i}: " + " ".join(words))
    return out


def rate(n: int, secs: float) -> str:
    return f"{n / secs:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    texts = passages(n)
    embedders = [HashingEmbedder(384)]
    if bundled_minilm_path() is not None:
        embedders.append(SentenceTransformerEmbedder())
    else:
        print("sentence-transformers model not installed: only the hashing embedder runs")
    print(f"{n} passages of 14-34 words")
    print("| embedder | no cache passages/s | cold cache passages/s | warm cache passages/s |")
    print("|---|---|---|---|")
    for e in embedders:
        e.embed(texts[:8])  # warm-up (model load, first forward pass)
        start = time.perf_counter()
        e.embed(texts)
        bare = time.perf_counter() - start
        store = TextVectorStore(
            open_store(":memory:", VectorStoreConfig(collection="b", dimensions=e.dimensions)), e
        )
        start = time.perf_counter()
        store.embed(texts)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        store.embed(texts)
        warm = time.perf_counter() - start
        store.close()
        print(f"| {e.model_id} | {rate(n, bare)} | {rate(n, cold)} | {rate(n, warm)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
