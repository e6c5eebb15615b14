#!/usr/bin/env python
"""Server throughput: a Starlette app behind the full llm-infra middleware stack vs the bare app.

Variants, each a uvicorn server in its own process on a loopback port:

- ``uvicorn bare``: the Starlette app on stock uvicorn (h11 protocol, no middleware).
- ``ours bare``: the same app through ``start_server(..., middleware=False)`` (our guarded h11
  protocol with the head deadline, no middleware).
- ``ours full stack``: ``Starlette(middleware=starlette_middleware(config))``: request ids,
  server spans (OpenTelemetry API, no SDK installed: the no-op tracer), access log (logger not
  enabled for INFO, as in a service that has not configured logging), CORS off, problem
  rendering, header and body limits, body deadline.

The client is this process: asyncio with ``--connections`` keep-alive connections sending a
bounded number of ``GET /items/<n>`` requests per sample (raw HTTP/1.1 over asyncio streams,
so the client costs little next to the server). Rounds are interleaved (A B C A B C ...); the
table shows requests/s median with min-max and the ratio to the bare app. Target: full stack
>= 0.8x the bare app's throughput.

Usage::

    .venv/bin/python bench/http_server.py           # full run (~2 minutes)
    .venv/bin/python bench/http_server.py --quick   # smoke run, < 60 s
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ is sys.path[0]: bench/json.py must not shadow the standard library.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import platform
import statistics
import subprocess
import threading
import time
from typing import Any

VARIANTS = ("uvicorn bare", "ours bare", "ours full stack")


def make_app(full_stack: bool) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from llm_infra.http import ServerConfig
    from llm_infra.http._stack import starlette_middleware

    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"], "ok": True})

    middleware = starlette_middleware(ServerConfig(port=0)) if full_stack else []
    return Starlette(routes=[Route("/items/{item_id}", item)], middleware=middleware)


def serve(variant: str) -> None:
    """Child process: serve ``variant`` on a free port, print it, stop when stdin closes."""
    from llm_infra.http._server import ServerConfig, start_server

    if variant == "uvicorn bare":
        import socket

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            make_app(False), http="h11", log_config=None, access_log=False, lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        print(sock.getsockname()[1], flush=True)
        sys.stdin.read()
        server.should_exit = True
        thread.join(10)
        return
    handle = start_server(make_app(variant == "ours full stack"), ServerConfig(port=0), middleware=False)
    print(handle.port, flush=True)
    sys.stdin.read()
    handle.stop(10)


async def _worker(port: int, count: int, counter: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(count):
            writer.write(b"GET /items/%d HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n" % i)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected response: {head[:40]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            counter[0] += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def _load(port: int, requests: int, connections: int) -> float:
    counter = [0]
    per = requests // connections
    start = time.perf_counter()
    await asyncio.gather(*(_worker(port, per, counter) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    return counter[0] / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    rounds, requests = (3, 600) if args.quick else (9, 4_000)
    print(
        f"# bench/http_server.py  python {platform.python_version()}  {platform.machine()}  rounds={rounds}"
    )
    print(f"# {requests} requests per sample over {args.connections} keep-alive connections; requests/s")
    children: dict[str, subprocess.Popen[str]] = {}
    ports: dict[str, int] = {}
    try:
        for variant in VARIANTS:
            child = subprocess.Popen(
                [sys.executable, __file__, "--serve", variant],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            children[variant] = child
            assert child.stdout is not None
            ports[variant] = int(child.stdout.readline())
        for variant in VARIANTS:  # warm-up
            asyncio.run(_load(ports[variant], 200, args.connections))
        results: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for variant in VARIANTS:
                results[variant].append(asyncio.run(_load(ports[variant], requests, args.connections)))
    finally:
        for child in children.values():
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
    bare = statistics.median(results["uvicorn bare"])
    for variant, values in results.items():
        median = statistics.median(values)
        spread = f"({min(values):.0f}-{max(values):.0f})"
        print(f"{variant:18s} {median:8.0f} req/s  {spread}  ratio {median / bare:.2f}")
    full = statistics.median(results["ours full stack"])
    met = full >= 0.8 * bare
    print(f"target: full stack >= 0.8x bare -> {'met' if met else 'NOT met'} ({full / bare:.2f}x)")
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
