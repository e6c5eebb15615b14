"""Deterministic data sets and exact ground truth for the vector benchmark.

Everything generated here is cached under ``bench/.data/`` (git-ignored) keyed by the
parameters, so reruns and the peers' cached indexes see byte-identical data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / ".data"


@dataclass(frozen=True)
class Dataset:
    """Base vectors, queries, metadata and exact ground truth of one benchmark set."""

    name: str
    key: str
    vectors: np.ndarray  # (n, d) float32, unit norm
    queries: np.ndarray  # (nq, d) float32, unit norm
    sel10: np.ndarray  # (n,) int, uniform in [0, 10): 10% selectivity field
    sel100: np.ndarray  # (n,) int, uniform in [0, 100): 1% selectivity field
    gt: np.ndarray  # (nq, 10) exact top-10 ids (cosine)
    gt_f10: np.ndarray  # (nq, 10) exact top-10 among sel10 == F10_VALUE
    gt_f1: np.ndarray  # (nq, 10) exact top-10 among sel100 == F1_VALUE
    description: str

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


F10_VALUE = 3  # filter {"sel10": 3} keeps ~10% of the points
F1_VALUE = 7  # filter {"sel100": 7} keeps ~1% of the points
K = 10


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int = K, chunk: int = 256) -> np.ndarray:
    """Exact top-k by inner product (cosine on unit vectors) with numpy/BLAS."""
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for s in range(0, queries.shape[0], chunk):
        sims = queries[s : s + chunk] @ base.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        rows = np.arange(part.shape[0])[:, None]
        order = np.argsort(-sims[rows, part], axis=1, kind="stable")
        out[s : s + chunk] = part[rows, order]
    return out


def filtered_topk(base: np.ndarray, queries: np.ndarray, mask: np.ndarray, k: int = K) -> np.ndarray:
    """Exact top-k restricted to the rows where ``mask`` is true, as global ids."""
    idx = np.flatnonzero(mask)
    local = exact_topk(base[idx], queries, k)
    return idx[local]


def _meta_and_gt(
    name: str, key: str, vectors: np.ndarray, queries: np.ndarray, seed: int, description: str
) -> Dataset:
    cache = DATA_DIR / f"{key}.gt.npz"
    if cache.exists():
        z = np.load(cache)
        sel10, sel100, gt, gt_f10, gt_f1 = z["sel10"], z["sel100"], z["gt"], z["gt_f10"], z["gt_f1"]
    else:
        rng = np.random.default_rng(seed + 1)
        sel10 = rng.integers(0, 10, size=vectors.shape[0]).astype(np.int64)
        sel100 = rng.integers(0, 100, size=vectors.shape[0]).astype(np.int64)
        gt = exact_topk(vectors, queries)
        gt_f10 = filtered_topk(vectors, queries, sel10 == F10_VALUE)
        gt_f1 = filtered_topk(vectors, queries, sel100 == F1_VALUE)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, sel10=sel10, sel100=sel100, gt=gt, gt_f10=gt_f10, gt_f1=gt_f1)
        tmp.replace(cache)
    return Dataset(name, key, vectors, queries, sel10, sel100, gt, gt_f10, gt_f1, description)


def clustered(
    n: int, dim: int = 384, clusters: int = 1000, nq: int = 1000, seed: int = 42, noise: float = 1.8
) -> Dataset:
    """``n`` unit vectors drawn around ``clusters`` random unit centres (gaussian noise of norm ~``noise``).

    Queries come from the same process (fresh noise), not from the base set.
    """
    params = {"n": n, "dim": dim, "clusters": clusters, "nq": nq, "seed": seed, "noise": noise, "v": 1}
    key = "clustered-" + hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    cache = DATA_DIR / f"{key}.npz"
    if cache.exists():
        z = np.load(cache)
        vectors, queries = z["vectors"], z["queries"]
    else:
        rng = np.random.default_rng(seed)
        centres = _normalize(rng.standard_normal((clusters, dim)))
        scale = noise / np.sqrt(dim)

        def draw(m: int) -> np.ndarray:
            out = np.empty((m, dim), dtype=np.float32)
            for s in range(0, m, 20_000):
                e = min(m, s + 20_000)
                assign = rng.integers(0, clusters, size=e - s)
                out[s:e] = centres[assign] + scale * rng.standard_normal((e - s, dim)).astype(np.float32)
            return _normalize(out)

        vectors = draw(n)
        queries = draw(nq)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, vectors=vectors, queries=queries)
        tmp.replace(cache)
    desc = f"{n:,} x {dim} float32, {clusters:,} gaussian clusters (noise {noise}), unit norm, {nq:,} queries"
    return _meta_and_gt("clustered", key, vectors, queries, seed, desc)


TEXT_FILE = DATA_DIR / "text-minilm.npz"


def text_set(limit: int | None = None) -> Dataset | None:
    """The real-text set (all-MiniLM-L6-v2 embeddings) if bench/_vector/embed_text.py made it."""
    if not TEXT_FILE.exists():
        return None
    z = np.load(TEXT_FILE)
    vectors, queries = _normalize(z["vectors"]), _normalize(z["queries"])
    if limit is not None:
        vectors = vectors[:limit]
        queries = queries[: max(50, min(len(queries), limit // 25))]
    digest = hashlib.sha1(vectors[:64].tobytes()).hexdigest()[:8]
    key = f"text-minilm-{vectors.shape[0]}-{queries.shape[0]}-{digest}"
    src = str(z["source"]) if "source" in z.files else "text passages"
    desc = (
        f"{vectors.shape[0]:,} x {vectors.shape[1]} all-MiniLM-L6-v2 embeddings of {src}, "
        f"{queries.shape[0]:,} held-out queries"
    )
    return _meta_and_gt("text-minilm", key, vectors, queries, 7, desc)
