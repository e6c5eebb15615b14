#!/usr/bin/env python
"""llm_infra.auth hot paths against naive baselines, side by side in one process.

Cases: API-key authenticate (a valid key, and a wrong secret) with the memory and SQLite stores,
with and without a pepper, against a plain ``dict[key] -> identity`` lookup (no hashing, no
expiry, no constant-time compare: the floor) and a ``dict[sha256(key)]`` lookup (what a
hand-rolled hashed store does); RBAC ``authorize`` against an exact-match set lookup; and
``JwtAuthenticator`` against the bare ``JwtValidator.verify`` it wraps.

Rounds are interleaved (A B C A B C ...) so load drift on a shared machine hits every
implementation alike. Each sample times a batch sized to ~``target`` seconds; the table shows
the per-op median with min-max over the rounds and the ratio ours/peer of the medians.

Usage::

    .venv/bin/python bench/auth.py           # full run (~1 minute)
    .venv/bin/python bench/auth.py --quick   # smoke run, < 60 s
"""

from __future__ import annotations

import os
import sys

# Run as a script, bench/ is sys.path[0]: bench/json.py must not shadow the standard library.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import hashlib
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llm_infra.auth import (
    ApiKeyAuthenticator,
    Identity,
    JwtAuthenticator,
    MemoryKeyStore,
    RbacPolicy,
    SqliteKeyStore,
)
from llm_infra.crypto import JwtSigner, JwtValidator
from llm_infra.errors import AuthError

SECRET = b"bench-secret-0123456789abcdef0123"
PEPPER = b"bench-pepper-0123456789abcdef0123"


@dataclass
class Case:
    """One benchmark: a name and the implementations to interleave (``ours`` first)."""

    name: str
    impls: list[tuple[str, Callable[[], object]]]


def _rejects(fn: Callable[[str], object], key: str) -> Callable[[], object]:
    def call() -> object:
        try:
            return fn(key)
        except AuthError:
            return None

    return call


def build_cases(tmp: Path) -> list[Case]:
    memory = ApiKeyAuthenticator(MemoryKeyStore())
    peppered = ApiKeyAuthenticator(MemoryKeyStore(), pepper=PEPPER)
    sqlite = ApiKeyAuthenticator(SqliteKeyStore(tmp / "keys.sqlite3"))
    for auth in (memory, peppered, sqlite):  # a realistic store: many keys, not one
        for n in range(200):
            auth.create(f"user{n}", ["reader"])
    key_mem = memory.create("svc", ["reader"])
    key_pep = peppered.create("svc", ["reader"])
    key_sql = sqlite.create("svc", ["reader"])
    wrong = key_mem[:-1] + ("a" if key_mem[-1] != "a" else "b")

    identity = Identity("svc", ["reader"])
    plain = {key_mem: identity}
    hashed = {hashlib.sha256(key_mem.encode()).digest(): identity}

    def naive_dict() -> object:
        return plain[key_mem]

    def naive_sha256() -> object:
        return hashed[hashlib.sha256(key_mem.encode()).digest()]

    def naive_miss() -> object:
        return plain.get(wrong)

    policy = RbacPolicy.from_dict(
        {
            "roles": {
                "reader": [
                    "vector:read:collection/*",
                    "vector:search:collection/*",
                    "!vector:read:collection/hr",
                ],
                "writer": {
                    "inherits": ["reader"],
                    "allow": ["vector:write:collection/*", "keys:list:service"],
                },
                "ops": ["**:collection/ops-*", "system:*:service"],
            }
        }
    )
    who = Identity("bob", ["writer", "ops"])
    exact = {("writer", "vector:write:collection/docs"), ("writer", "vector:read:collection/docs")}

    def naive_rbac() -> object:
        return any((role, "vector:write:collection/docs") in exact for role in who.roles)

    signer = JwtSigner.hs256(SECRET, issuer="https://issuer.example")
    validator = JwtValidator.hs256(SECRET, issuer="https://issuer.example")
    token = signer.sign({"sub": "alice", "roles": ["reader"], "scope": "a b"}, expires_in=3600)
    jwt = JwtAuthenticator(validator)

    return [
        Case(
            "api key authenticate (valid)",
            [
                ("ours", lambda: memory.authenticate(key_mem)),
                ("ours+pepper", lambda: peppered.authenticate(key_pep)),
                ("ours sqlite", lambda: sqlite.authenticate(key_sql)),
                ("dict", naive_dict),
                ("sha256+dict", naive_sha256),
            ],
        ),
        Case(
            "api key authenticate (wrong)",
            [("ours", _rejects(memory.authenticate, wrong)), ("dict", naive_miss)],
        ),
        Case(
            "rbac authorize (wildcards, deny)",
            [
                ("ours", lambda: policy.authorize(who, "vector:write", "collection/docs")),
                ("exact set", naive_rbac),
            ],
        ),
        Case(
            "jwt authenticate (HS256)",
            [("ours", lambda: jwt.authenticate(token)), ("validator", lambda: validator.verify(token))],
        ),
    ]


def calibrate(fn: Callable[[], object], target: float) -> int:
    """The number of calls that takes about ``target`` seconds (at least 1)."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target / 4 or n >= 1 << 20:
            return max(1, int(n * target / max(dt, 1e-9)))
        n *= 4


def run_case(case: Case, rounds: int, target: float) -> dict[str, list[float]]:
    counts = {name: calibrate(fn, target) for name, fn in case.impls}
    samples: dict[str, list[float]] = {name: [] for name, _ in case.impls}
    for _ in range(rounds):
        for name, fn in case.impls:
            n = counts[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return samples


def fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} us"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run (< 60 s)")
    args = ap.parse_args(argv)
    rounds, target = (3, 0.01) if args.quick else (15, 0.05)
    print(
        f"# llm_infra.auth bench  python {platform.python_version()}  {platform.machine()}  "
        f"cpus={os.cpu_count()}  rounds={rounds}  target/sample={target}s"
    )
    print(f"{'case':<34} {'impl':<12} {'median':>11} {'min-max':>23} {'ours/impl':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in build_cases(Path(tmp)):
            samples = run_case(case, rounds, target)
            ours = statistics.median(samples["ours"])
            for name, values in samples.items():
                med = statistics.median(values)
                ratio = "" if name == "ours" else f"{ours / med:.2f}x"
                span = f"{fmt(min(values))} - {fmt(max(values))}"
                print(f"{case.name:<34} {name:<12} {fmt(med):>11} {span:>23} {ratio:>9}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
