#!/usr/bin/env python
"""The retrieval service under load next to Chroma's own server, both over loopback HTTP.

One run starts each server as a subprocess (``python -m llm_infra.server``, what ``llm-infra
serve`` runs, and ``chroma run`` from the chromadb package), then for each:

1. ingest: 2 client processes upsert the collection (default 50k x 384, clustered) in batches of
   1,000 points over HTTP -> points/s acknowledged;
2. recall: 200 queries (k=10) against the exact top 10 of the collection;
3. mixed: 2 client processes for ``--seconds`` (default 30): 90% searches (k=10), 10% upserts of
   100 new points -> searches/s, upserted points/s, p50/p99 latency, error count.

The same client code (httpx, orjson bodies) drives both servers. Usage::

    .venv/bin/python bench/service.py                 # 50k x 384, 30 s mixed phase
    .venv/bin/python bench/service.py --quick         # 10k x 384, 8 s
    .venv/bin/python bench/service.py --points 20000 --seconds 15 --engines serve
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/ holds scripts named like stdlib modules (http.py, json.py): keep it off the path when
# this file is run directly (make bench's launcher does the same).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402 - after the path guard
import orjson  # noqa: E402 - after the path guard

K = 10
BATCH = 1_000
MIXED_UPSERT = 100
QUERIES = 200
CLIENTS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_data(n: int, dims: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(max(10, n // 500), dims)).astype(np.float32)
    data = centers[rng.integers(0, len(centers), n)] + 0.35 * rng.normal(size=(n, dims)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[rng.choice(n, QUERIES, replace=False)] + 0.1 * rng.normal(size=(QUERIES, dims)).astype(
        np.float32
    )
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return data.astype(np.float32), queries.astype(np.float32)


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    out = []
    for start in range(0, len(queries), 50):
        scores = queries[start : start + 50] @ data.T
        idx = np.argpartition(-scores, k, axis=1)[:, :k]
        out.extend(set(map(int, row)) for row in idx)
    return out


# -- the two HTTP APIs ------------------------------------------------------------------------


class Api:
    """The calls the bench makes, for one engine."""

    def __init__(
        self, engine: str, url: str, key: str | None, collection: str, ef: int | None = None
    ) -> None:
        import httpx

        self.engine = engine
        self.ef = ef or int(os.environ.get("LLM_BENCH_EF", "0")) or None
        headers = {"content-type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.http = httpx.Client(base_url=url, headers=headers, timeout=60.0)
        self.collection = collection

    def upsert(self, ids: list[str], vectors: np.ndarray, metas: list[dict[str, Any]]) -> bool:
        if self.engine == "serve":
            body = {
                "points": [
                    {"id": i, "vector": v, "metadata": m} for i, v, m in zip(ids, vectors, metas, strict=True)
                ]
            }
            r = self.http.put(f"/v1/collections/{self.collection}/points", content=_dumps(body))
        else:
            body = {"ids": ids, "embeddings": vectors, "metadatas": metas}
            r = self.http.post(f"{_chroma_base(self.collection)}/upsert", content=_dumps(body))
        return r.status_code in (200, 201)

    def search(self, vector: np.ndarray) -> list[str] | None:
        if self.engine == "serve":
            r = self.http.post(
                f"/v1/collections/{self.collection}/search",
                content=_dumps({"vector": vector, "k": K, **({"ef_search": self.ef} if self.ef else {})}),
            )
            if r.status_code != 200:
                return None
            return [h["id"] for h in orjson.loads(r.content)["results"]]
        body = {"query_embeddings": [vector], "n_results": K, "include": ["distances", "metadatas"]}
        r = self.http.post(f"{_chroma_base(self.collection)}/query", content=_dumps(body))
        if r.status_code != 200:
            return None
        return list(orjson.loads(r.content)["ids"][0])


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def _chroma_meta() -> dict[str, Any]:
    meta: dict[str, Any] = {"hnsw:space": "cosine"}
    ef = int(os.environ.get("LLM_BENCH_EF", "0"))
    if ef:
        meta["hnsw:search_ef"] = ef
    return meta


def _chroma_base(collection_id: str) -> str:
    return f"/api/v2/tenants/default_tenant/databases/default_database/collections/{collection_id}"


# -- servers ----------------------------------------------------------------------------------


class Server:
    def __init__(self, engine: str, workdir: Path) -> None:
        self.engine = engine
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.key: str | None = None
        self.log = workdir / f"{engine}.log"
        env = dict(os.environ)
        if engine == "serve":
            env.update(
                {
                    "LLM_SERVER__ACCESS_LOG": "false",
                    "LLM_RATELIMIT__LIMIT": "1000000000",
                    "LLM_RATELIMIT__TENANT_LIMIT": "1000000000",
                }
            )
            cmd = [
                sys.executable,
                "-m",
                "llm_infra.server",
                "--data-dir",
                str(workdir / "data"),
                "--port",
                str(self.port),
            ]
        else:
            chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
            cmd = [
                chroma,
                "run",
                "--path",
                str(workdir / "chroma"),
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
            ]
        self.out = workdir / f"{engine}.out"
        with self.out.open("wb") as out, self.log.open("wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=workdir)
        self._wait()

    def _wait(self) -> None:
        import httpx

        path = "/healthz" if self.engine == "serve" else "/api/v2/heartbeat"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.engine} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"{self.engine} did not start")
        if self.engine == "serve":
            self.key = next(
                line.strip() for line in self.out.read_text().splitlines() if line.strip().startswith("lli_")
            )

    def create(self, dims: int) -> str:
        import httpx

        if self.engine == "serve":
            r = httpx.post(
                self.url + "/v1/collections",
                headers={"Authorization": f"Bearer {self.key}"},
                json={"name": "bench", "dimensions": dims, "distance": "cosine"},
                timeout=60,
            )
            r.raise_for_status()
            return "bench"
        r = httpx.post(
            self.url + "/api/v2/tenants/default_tenant/databases/default_database/collections",
            json={"name": "bench", "metadata": _chroma_meta(), "get_or_create": True},
            timeout=60,
        )
        r.raise_for_status()
        return str(r.json()["id"])

    def wait_indexed(self, timeout: float) -> float:
        """Seconds until the service's background indexing caught up (0 for Chroma: it indexes inline)."""
        if self.engine != "serve":
            return 0.0
        import httpx

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            try:  # stats() may wait behind the indexer: poll patiently
                stats = httpx.get(
                    self.url + "/v1/collections/bench/stats",
                    headers={"Authorization": f"Bearer {self.key}"},
                    timeout=timeout,
                ).json()
            except httpx.TimeoutException:
                continue
            if stats["pending"] == 0:
                break
            time.sleep(0.2)
        return time.perf_counter() - t0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


# -- client processes -------------------------------------------------------------------------


def ingest_worker(
    engine: str, url: str, key: str | None, coll: str, data_path: str, lo: int, hi: int, q: Any
) -> None:
    data = np.load(data_path, mmap_mode="r")
    api = Api(engine, url, key, coll)
    errors = 0
    t0 = time.perf_counter()
    for start in range(lo, hi, BATCH):
        end = min(hi, start + BATCH)
        ids = [str(i) for i in range(start, end)]
        metas = [{"g": i % 10} for i in range(start, end)]
        if not api.upsert(ids, np.asarray(data[start:end]), metas):
            errors += 1
    q.put((hi - lo, time.perf_counter() - t0, errors))


def mixed_worker(
    engine: str,
    url: str,
    key: str | None,
    coll: str,
    queries_path: str,
    dims: int,
    seconds: float,
    worker: int,
    q: Any,
) -> None:
    queries = np.load(queries_path)
    api = Api(engine, url, key, coll)
    rng = np.random.default_rng(100 + worker)
    search_lat: list[float] = []
    upsert_lat: list[float] = []
    errors = 0
    upserted = 0
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        n += 1
        if rng.random() < 0.1:
            vecs = rng.normal(size=(MIXED_UPSERT, dims)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            ids = [f"w{worker}-{n}-{i}" for i in range(MIXED_UPSERT)]
            t = time.perf_counter()
            ok = api.upsert(ids, vecs, [{"g": -1}] * MIXED_UPSERT)
            upsert_lat.append(time.perf_counter() - t)
            if ok:
                upserted += MIXED_UPSERT
            else:
                errors += 1
        else:
            t = time.perf_counter()
            ok = api.search(queries[rng.integers(0, len(queries))]) is not None
            search_lat.append(time.perf_counter() - t)
            errors += 0 if ok else 1
    q.put((search_lat, upsert_lat, upserted, errors))


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p) * 1000) if values else float("nan")


def bench_engine(
    engine: str,
    data_path: str,
    queries_path: str,
    data: np.ndarray,
    queries: np.ndarray,
    truth: list[set[int]],
    seconds: float,
    workdir: Path,
) -> dict[str, Any]:
    n, dims = data.shape
    server = Server(engine, workdir)
    ctx = mp.get_context("spawn")
    try:
        coll = server.create(dims)
        q = ctx.Queue()
        cut = n // CLIENTS
        bounds = [(i * cut, n if i == CLIENTS - 1 else (i + 1) * cut) for i in range(CLIENTS)]
        t0 = time.perf_counter()
        procs = [
            ctx.Process(
                target=ingest_worker, args=(engine, server.url, server.key, coll, data_path, lo, hi, q)
            )
            for lo, hi in bounds
        ]
        for p in procs:
            p.start()
        parts = [q.get(timeout=3_600) for _ in procs]
        for p in procs:
            p.join()
        ingest_s = time.perf_counter() - t0
        ingest_errors = sum(e for _, _, e in parts)
        index_wait = server.wait_indexed(600)
        api = Api(engine, server.url, server.key, coll)
        hits = 0
        lat = []
        errors = 0
        for qi, vec in enumerate(queries):
            t = time.perf_counter()
            got = api.search(vec)
            lat.append(time.perf_counter() - t)
            if got is None:
                errors += 1
                continue
            hits += len({int(x) for x in got if x.isdigit()} & truth[qi])
        recall = hits / (K * len(queries))
        procs = [
            ctx.Process(
                target=mixed_worker,
                args=(engine, server.url, server.key, coll, queries_path, dims, seconds, w, q),
            )
            for w in range(CLIENTS)
        ]
        for p in procs:
            p.start()
        results = [q.get(timeout=seconds + 600) for _ in procs]
        for p in procs:
            p.join()
        search_lat = [x for r in results for x in r[0]]
        upsert_lat = [x for r in results for x in r[1]]
        return {
            "engine": engine,
            "points": n,
            "dims": dims,
            "ingest_points_per_s": n / ingest_s,
            "ingest_errors": ingest_errors,
            "index_catch_up_s": index_wait,
            "recall_at_10": recall,
            "serial_search_p50_ms": pct(lat, 50),
            "recall_errors": errors,
            "mixed_seconds": seconds,
            "search_per_s": len(search_lat) / seconds,
            "search_p50_ms": pct(search_lat, 50),
            "search_p99_ms": pct(search_lat, 99),
            "upsert_points_per_s": sum(r[2] for r in results) / seconds,
            "upsert_p50_ms": pct(upsert_lat, 50),
            "upsert_p99_ms": pct(upsert_lat, 99),
            "mixed_errors": sum(r[3] for r in results),
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--engines", default="serve,chroma")
    parser.add_argument(
        "--ef-search", type=int, default=0, help="search beam for both engines (default theirs)"
    )
    parser.add_argument("--quick", action="store_true", help="10k points, 8 s")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.quick:
        args.points, args.seconds = 10_000, 8.0
    if args.ef_search:
        os.environ["LLM_BENCH_EF"] = str(args.ef_search)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "chroma" in engines and not (
        shutil.which("chroma") or (Path(sys.executable).parent / "chroma").exists()
    ):
        print("chroma is not installed (pip install --group bench): skipping it")
        engines.remove("chroma")
    data, queries = make_data(args.points, args.dims)
    truth = exact_topk(data, queries, K)
    rows = []
    with tempfile.TemporaryDirectory(prefix="llm-infra-bench-service-") as tmp:
        data_path = str(Path(tmp) / "data.npy")
        queries_path = str(Path(tmp) / "queries.npy")
        np.save(data_path, data)
        np.save(queries_path, queries)
        for engine in engines:
            work = Path(tmp) / engine
            work.mkdir()
            print(f"[{engine}] {args.points} x {args.dims}, mixed {args.seconds:g} s ...", flush=True)
            rows.append(
                bench_engine(engine, data_path, queries_path, data, queries, truth, args.seconds, work)
            )
            print(orjson.dumps(rows[-1], option=orjson.OPT_INDENT_2).decode(), flush=True)
    print()
    print(
        "| engine | ingest pts/s | recall@10 | search/s (mixed) | search p50 / p99 ms "
        "| upsert pts/s (mixed) | errors |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['ingest_points_per_s']:,.0f} | {r['recall_at_10']:.3f} "
            f"| {r['search_per_s']:,.0f} | "
            f"{r['search_p50_ms']:.2f} / {r['search_p99_ms']:.2f} | {r['upsert_points_per_s']:,.0f} | "
            f"{r['ingest_errors'] + r['mixed_errors'] + r['recall_errors']} |"
        )
    by = {r["engine"]: r for r in rows}
    if "serve" in by and "chroma" in by:
        ratio = by["serve"]["search_per_s"] / max(1e-9, by["chroma"]["search_per_s"])
        print(
            f"\nsearch throughput serve/chroma: {ratio:.2f}x (target >= 2x at recall >= 0.95); "
            f"ingest {by['serve']['ingest_points_per_s']:,.0f} pts/s (target >= 5,000)"
        )
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
