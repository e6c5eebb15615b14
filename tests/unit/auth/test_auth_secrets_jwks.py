"""Credentials never sit in a traceback's locals; JWKS refreshes never block the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pytest

from llm_infra.auth import (
    ApiKeyAuthenticator,
    JwtAuthenticator,
    MemoryKeyStore,
    extract_credentials,
    parse_api_key,
)
from llm_infra.crypto import Ed25519Signer, JwksCache, JwtSigner, JwtValidator
from llm_infra.errors import AuthError
from llm_infra.secrets import Secret
from llm_infra.testing import FakeClock

SECRET = b"traceback-secret-0123456789abcdef!"
CANARY = "CANARYc4n4ryCANARYc4n4ry"


def _frames(exc: BaseException) -> list[dict[str, Any]]:
    """The locals of every llm_infra frame of ``exc``'s traceback and of its cause/context chain."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb: TracebackType | None = current.__traceback__
        while tb is not None:
            if "llm_infra" in tb.tb_frame.f_code.co_filename.replace("\\", "/").split("/tests/")[0]:
                out.append(dict(tb.tb_frame.f_locals))
            tb = tb.tb_next
        todo += [current.__cause__, current.__context__]
    return out


def _leaks(exc: BaseException, raw: str) -> list[str]:
    return [
        f"{name}={value!r}"[:120]
        for frame in _frames(exc)
        for name, value in frame.items()
        if raw in repr(value) or raw.encode() in repr(value).encode()
    ]


def _raised(call: Callable[[], object]) -> AuthError:
    with pytest.raises(AuthError) as info:
        call()
    assert info.value.code in ("auth.invalid_credentials", "auth.invalid_token", "auth.token_expired")
    return info.value


def test_credentials_do_not_reach_traceback_locals() -> None:
    """Every authenticator failure leaves no raw credential in any frame's locals (error reporters)."""
    clock = FakeClock()
    keys = ApiKeyAuthenticator(MemoryKeyStore(), clock=clock)
    signer = JwtSigner.hs256(SECRET, clock=clock)
    jwt = JwtAuthenticator(JwtValidator.hs256(SECRET, clock=clock, leeway=0))
    expired = signer.sign({"sub": "a", "c": CANARY}, expires_in=1)
    clock.advance(5)
    forged = JwtSigner.hs256(b"x" * 32).sign({"sub": "a", "c": CANARY})
    malformed_key = f"lli_{CANARY}"
    unknown_key = f"lli_{'a' * 16}_{'b' * 32}{CANARY.lower()}"[: 4 + 16 + 1 + 56]
    cases: list[tuple[str, Callable[[], object]]] = [
        (malformed_key, lambda: keys.authenticate(malformed_key)),
        (unknown_key, lambda: keys.authenticate(unknown_key)),
        (malformed_key, lambda: parse_api_key(malformed_key)),
        (expired, lambda: jwt.authenticate(expired)),
        (forged, lambda: jwt.authenticate(forged)),
        (expired, lambda: JwtValidator.hs256(SECRET, clock=clock, leeway=0).verify(Secret(expired))),
        (CANARY, lambda: extract_credentials([(b"authorization", f"Basic {CANARY}".encode())])),
        (CANARY, lambda: extract_credentials([(b"authorization", f"Bearer {CANARY}\x00".encode())])),
        (CANARY, lambda: extract_credentials([(b"x-api-key", CANARY.encode()), (b"x-api-key", b"x")])),
    ]
    for raw, call in cases:
        err = _raised(call)
        assert err.code.startswith("auth.")
        assert _frames(err), "the traceback must reach into llm_infra (else the check is blind)"
        assert _leaks(err, raw) == [], raw


@pytest.mark.anyio
async def test_async_failures_keep_credentials_out_of_locals() -> None:
    """The async paths too (aauthenticate of both authenticators)."""
    keys = ApiKeyAuthenticator(MemoryKeyStore())
    jwt = JwtAuthenticator(JwtValidator.hs256(SECRET))
    bad_key = f"lli_{CANARY}"
    bad_token = JwtSigner.hs256(b"y" * 32).sign({"sub": CANARY})
    calls: list[tuple[str, Callable[[str], Any]]] = [
        (bad_key, keys.aauthenticate),
        (bad_token, jwt.aauthenticate),
    ]
    for raw, authenticate in calls:
        with pytest.raises(AuthError) as info:
            await authenticate(raw)
        assert info.value.code in ("auth.invalid_credentials", "auth.invalid_token")
        assert _leaks(info.value, raw) == []


# ----------------------------------------------------------------------------------------------
# JWKS in async code


def _jwks(*pairs: tuple[Ed25519Signer, str]) -> dict[str, object]:
    return {"keys": [{**signer.public_jwk(), "kid": kid} for signer, kid in pairs]}


@pytest.mark.anyio
async def test_concurrent_requests_share_one_jwks_fetch() -> None:
    """N concurrent aauthenticate calls naming a new kid cause exactly one fetch (single-flight)."""
    old, new = Ed25519Signer.generate(), Ed25519Signer.generate()
    gate = asyncio.Event()
    calls = 0

    async def afetch() -> dict[str, object]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return _jwks((old, "old"), (new, "new"))

    cache = JwksCache(_jwks((old, "old")), afetch=afetch, min_refresh_interval=0)
    jwt = JwtAuthenticator(JwtValidator(cache))
    token = JwtSigner.eddsa(new, kid="new").sign({"sub": "bob"})
    tasks = [asyncio.create_task(jwt.aauthenticate(token)) for _ in range(25)]
    for _ in range(100):
        if calls:
            break
        await asyncio.sleep(0)
    gate.set()
    identities = await asyncio.gather(*tasks)
    assert {i.subject for i in identities} == {"bob"}
    assert calls == 1
    assert cache.fetches == 1


@pytest.mark.anyio
async def test_sync_fetch_runs_off_the_loop_and_is_single_flight() -> None:
    """A blocking fetch (a JWKS server that hangs) does not stop the loop: a ticker keeps advancing.

    Regression: aauthenticate called the validator's sync path, which ran the fetch inside the
    event loop, so every other task stalled for the whole fetch.
    """
    old, new = Ed25519Signer.generate(), Ed25519Signer.generate()
    entered, release = threading.Event(), threading.Event()
    fetches = 0

    def fetch() -> dict[str, object]:
        nonlocal fetches
        fetches += 1
        if fetches > 1:  # the constructor's initial load
            entered.set()
            release.wait(timeout=30)
        return _jwks((old, "old"), (new, "new"))

    cache = JwksCache(fetch=fetch, min_refresh_interval=0)
    jwt = JwtAuthenticator(JwtValidator(cache))
    token = JwtSigner.eddsa(new, kid="brand-new").sign({"sub": "carol"})
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    tick_task = asyncio.create_task(ticker())
    cache_miss = [asyncio.create_task(jwt.aauthenticate(token)) for _ in range(10)]
    deadline = time.monotonic() + 30
    while not entered.is_set():
        assert time.monotonic() < deadline, "the fetch never started"
        await asyncio.sleep(0.001)
    start = ticks
    while ticks < start + 50:  # the loop runs while the fetch is blocked in its thread
        await asyncio.sleep(0)
    assert not any(t.done() for t in cache_miss)
    release.set()
    results = await asyncio.gather(*cache_miss, return_exceptions=True)
    tick_task.cancel()
    assert all(isinstance(r, AuthError) and r.code == "auth.invalid_token" for r in results)  # unknown kid
    assert fetches == 2  # the initial load + ONE refresh for ten concurrent misses
