"""HTTP client overhead on loopback: llm-infra's HttpClient/AsyncHttpClient vs raw httpx (and aiohttp).

A separate process serves a fixed keep-alive HTTP/1.1 response from a bare asyncio protocol (so the
server is not the bottleneck). Rounds alternate A B A B ...; each prints the median with min-max.

    .venv/bin/python bench/http.py           # full run (about 2 minutes)
    .venv/bin/python bench/http.py --quick   # smoke run (< 60 s)

Targets: sync overhead within 1.1x of httpx.Client; async throughput with 32 requests in flight at
least 2x httpx.AsyncClient's.
"""

# ruff: noqa: E402 - the path fix below must run before the imports that follow it

from __future__ import annotations

import os
import sys

# This file is named http.py: drop its directory from the path so that ``import http`` finds the
# standard library (the script directory comes first in sys.path).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import asyncio
import statistics
import subprocess
import textwrap
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

from llm_infra.http import AsyncHttpClient, HttpClient
from llm_infra.otel import ExporterConfig, OtelConfig, init_otel

SERVER = textwrap.dedent(
    """
    import asyncio, sys
    BODY = b'{"ok":true}'
    RESPONSE = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: "
                + str(len(BODY)).encode() + b"\\r\\n\\r\\n" + BODY)

    class Proto(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.buffer = b""

        def data_received(self, data):
            self.buffer += data
            while True:
                end = self.buffer.find(b"\\r\\n\\r\\n")
                if end < 0:
                    return
                self.buffer = self.buffer[end + 4:]
                self.transport.write(RESPONSE)

    async def main():
        server = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())
    """
)


def start_server() -> tuple[subprocess.Popen[str], str]:
    """Run the loopback server in its own process; return it and its URL."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/bench"


def fmt(values: list[float], unit: str, scale: float = 1.0) -> str:
    med = statistics.median(values) * scale
    return f"{med:9.1f} {unit} ({min(values) * scale:.1f}-{max(values) * scale:.1f})"


def bench_sync(url: str, rounds: int, n: int, traced: bool) -> dict[str, list[float]]:
    """Per-request latency (s) of sequential GETs, contenders alternating in blocks of ``n``."""
    clients: dict[str, Any] = {"httpx.Client": httpx.Client(), "HttpClient": HttpClient()}
    for client in clients.values():
        for _ in range(100):
            client.get(url)
    results: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(rounds):
        for name, client in clients.items():
            start = time.perf_counter()
            for _ in range(n):
                client.get(url).content  # noqa: B018 - read the body like a caller would
            results[name].append((time.perf_counter() - start) / n)
    if traced:
        # Informative: the cost of one CLIENT span per request with the SDK on (no exporter).
        name = "HttpClient + OTel SDK (span/request)"
        results[name] = []
        with init_otel(OtelConfig(service_name="bench", exporter=ExporterConfig.none(), prometheus=False)):
            client = clients["HttpClient"]
            for _ in range(max(3, rounds // 3)):
                start = time.perf_counter()
                for _ in range(n):
                    client.get(url).content  # noqa: B018
                results[name].append((time.perf_counter() - start) / n)
    for client in clients.values():
        client.close()
    return results


async def _throughput(call: Callable[[], Awaitable[object]], n: int, inflight: int) -> float:
    sem = asyncio.Semaphore(inflight)

    async def one() -> None:
        async with sem:
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - start)


async def bench_async(url: str, rounds: int, n: int, inflight: int) -> dict[str, list[float]]:
    """Requests per second with ``inflight`` concurrent requests."""
    raw = httpx.AsyncClient(limits=httpx.Limits(max_connections=100, max_keepalive_connections=100))
    ours = AsyncHttpClient(max_connections=100, max_keepalive_connections=100)
    ours_httpx = AsyncHttpClient(backend="httpx", max_connections=100, max_keepalive_connections=100)
    session = aiohttp.ClientSession()

    async def aio_get() -> None:
        async with session.get(url) as response:
            await response.read()

    contenders: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("httpx.AsyncClient", lambda: raw.get(url)),
        ("AsyncHttpClient (auto: aiohttp)", lambda: ours.get(url)),
        ("AsyncHttpClient (backend=httpx)", lambda: ours_httpx.get(url)),
        ("aiohttp (raw, reference)", aio_get),
    ]
    results: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for _, call in contenders:
        await _throughput(call, min(n, 200), inflight)
    for _ in range(rounds):
        for name, call in contenders:
            results[name].append(await _throughput(call, n, inflight))
    await raw.aclose()
    await ours.aclose()
    await ours_httpx.aclose()
    await session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    rounds = 4 if args.quick else 20
    n_sync = 100 if args.quick else 200
    n_async = 400 if args.quick else 1500
    proc, url = start_server()
    try:
        print(f"loopback server pid {proc.pid}; python {sys.version.split()[0]}; cpus {os.cpu_count()}")
        sync = bench_sync(url, rounds, n_sync, traced=not args.quick)
        print(f"\nsync, sequential GETs ({n_sync} per block, {rounds} rounds): per-request latency")
        for name, values in sync.items():
            print(f"  {name:34s} {fmt(values, 'us', 1e6)}")
        sync_ratio = statistics.median(sync["HttpClient"]) / statistics.median(sync["httpx.Client"])
        verdict = "met" if sync_ratio <= 1.10 else "NOT met"
        print(f"  ratio HttpClient / httpx.Client = {sync_ratio:.3f}  (target <= 1.10: {verdict})")
        # The same rounds paired (each round runs both back to back): robust to load drifting
        # between rounds on a shared machine.
        paired = statistics.median(
            ours / raw for ours, raw in zip(sync["HttpClient"], sync["httpx.Client"], strict=True)
        )
        print(f"  paired ratio (median of per-round ratios) = {paired:.3f}")

        async_rounds = max(3, rounds // 3)
        for inflight in (1, 32):
            results = asyncio.run(bench_async(url, async_rounds, n_async, inflight))
            print(f"\nasync, {inflight} in flight ({n_async} per round, {async_rounds} rounds): throughput")
            for name, values in results.items():
                print(f"  {name:34s} {fmt(values, 'req/s')}")
            ratio = statistics.median(results["AsyncHttpClient (auto: aiohttp)"]) / statistics.median(
                results["httpx.AsyncClient"]
            )
            line = f"  ratio AsyncHttpClient / httpx.AsyncClient = {ratio:.2f}"
            if inflight == 32:
                line += f"  (target >= 2.0: {'met' if ratio >= 2.0 else 'NOT met'})"
            print(line)
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
