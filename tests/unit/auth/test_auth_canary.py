"""Canary secrets (API key, tokens, pepper, keys) through every path: reprs, errors, logs, audit, HTTP."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llm_infra.audit import (
    ConfigChange,
    HashChainedFileSink,
    MemoryAuditSink,
    OtelLogsAuditSink,
    SecurityAuditLog,
    StreamAuditSink,
)
from llm_infra.auth import (
    ApiKeyAuthenticator,
    AuthMiddleware,
    Credentials,
    JwtAuthenticator,
    MultiAuthenticator,
    RbacPolicy,
    SqliteKeyStore,
    parse_api_key,
)
from llm_infra.crypto import JwtSigner, JwtValidator
from llm_infra.errors import InfraError
from llm_infra.secrets import Secret
from llm_infra.testing import FakeClock
from llm_infra.testing._audit import capture_audit

PEPPER = b"PEPPER-CANARY-7f3a9c-0123456789abcdef"
JWT_SECRET = b"JWT-SECRET-CANARY-5e1d-0123456789abcdef"
BAD_BEARER = "CanaryBearerToken.Zm9vYmFy.c2VjcmV0LXRva2VuLWNhbmFyeQ"
CHAIN_KEY = b"CHAIN-KEY-CANARY-0123456789abcdef01"


class FailingSink:
    name = "failing"

    def write(self, events: Any) -> None:
        raise OSError("sink down")

    async def awrite(self, events: Any) -> None:
        raise OSError("sink down")

    def close(self) -> None:
        pass


def error_texts(exc: BaseException) -> list[str]:
    out = [repr(exc), str(exc)]
    if isinstance(exc, InfraError):
        out += [repr(exc.to_dict()), repr(exc.to_problem())]
    return out


@pytest.mark.anyio
async def test_no_canary_secret_leaks_anywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every observable output of auth and audit is free of keys, tokens, peppers and HMAC keys."""
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    memory = MemoryAuditSink()
    chain_path = tmp_path / "audit" / "chain.jsonl"
    fallback = tmp_path / "audit" / "fallback.jsonl"
    log = SecurityAuditLog(
        [
            memory,
            HashChainedFileSink(chain_path, CHAIN_KEY),
            OtelLogsAuditSink(provider),
            StreamAuditSink(),
            FailingSink(),
        ],
        flush_interval=None,
        fallback_path=fallback,
        sleep=clock.sleep,
    )
    store = SqliteKeyStore(tmp_path / "data" / "keys.sqlite3")
    keys = ApiKeyAuthenticator(store, pepper=Secret(PEPPER), clock=clock, audit=log)
    signer = JwtSigner.hs256(JWT_SECRET, clock=clock)
    jwt = JwtAuthenticator(JwtValidator.hs256(JWT_SECRET, clock=clock, leeway=0))
    multi = MultiAuthenticator([keys, jwt])
    policy = RbacPolicy.from_dict({"roles": {"reader": ["vector:read:collection/*"]}})

    texts: list[str] = []
    with capture_audit() as audit:
        issued = keys.issue("svc", ["reader"], expires_in=100)
        key = issued.key.reveal()
        _, secret_part = parse_api_key(key)
        token = signer.sign({"sub": "alice", "roles": ["reader"]}, expires_in=50)
        short_token = signer.sign({"sub": "bob"}, expires_in=5)
        wrong_key = key[:-1] + ("a" if key[-1] != "a" else "b")
        texts += [repr(keys), repr(store), repr(issued), repr(issued.record), repr(Credentials.api_key(key))]
        texts += [repr(Credentials.bearer(token)), repr(multi), repr(jwt), repr(log), repr(policy)]
        identity = keys.authenticate(key)
        texts += [repr(identity), repr(multi.authenticate(token)), repr(keys.list_keys())]

        async def hello(request: Request) -> PlainTextResponse:
            return PlainTextResponse("hi " + request.state.identity.subject)

        app = Starlette(
            routes=[Route("/c/{name}", hello)],
            middleware=[
                Middleware(
                    AuthMiddleware,
                    authenticator=multi,
                    audit=log,
                    policy=policy,
                    permission_for=lambda scope: ("vector:write", "collection/x"),
                )
            ],
        )
        headers_list: list[dict[str, str]] = [
            {"X-API-Key": key},
            {"X-API-Key": wrong_key},
            {"Authorization": f"Bearer {key}"},
            {"Authorization": f"Bearer {token}"},
            {"Authorization": f"Bearer {BAD_BEARER}"},
            {"Authorization": f"Basic {BAD_BEARER}"},
            {"Authorization": f"Bearer {token}", "X-API-Key": key},
        ]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            for headers in headers_list:
                response = await client.get("/c/x", headers=headers, follow_redirects=False)
                texts += [response.text, repr(dict(response.headers))]
            clock.advance(10)
            response = await client.get("/c/x", headers={"Authorization": f"Bearer {short_token}"})
            texts += [response.text, repr(dict(response.headers))]

        for bad in (wrong_key, BAD_BEARER, key + "x", Secret(key[:-3])):
            for authenticator in (keys, jwt, multi):
                try:
                    authenticator.authenticate(bad)
                except InfraError as exc:
                    texts += error_texts(exc)
        keys.revoke(issued.key_id)
        clock.advance(200)
        for authenticator in (keys, multi):
            try:
                authenticator.authenticate(key)
            except InfraError as exc:
                texts += error_texts(exc)
        try:
            jwt.authenticate(token)
        except InfraError as exc:
            texts += error_texts(exc)
        try:
            policy.require(identity, "vector:write", "collection/x", audit=log)
        except InfraError as exc:
            texts += error_texts(exc)
        log.log(
            ConfigChange.from_values(
                "auth.pepper", "ops", Secret(PEPPER), Secret(PEPPER + b"2"), hash_key=CHAIN_KEY
            )
        )
        log.flush()
        log.close()
        store.close()
    texts.append(audit.text)
    texts += [repr(e.to_dict()) for e in memory.events]
    texts += [r.log_record.body for r in exporter.get_finished_logs()]  # type: ignore[misc]
    texts += [repr(r.log_record.attributes) for r in exporter.get_finished_logs()]
    texts.append(caplog.text)
    texts += [r.getMessage() for r in caplog.records]
    texts.append(capsys.readouterr().out)
    files = [chain_path, chain_path.with_name(chain_path.name + ".head"), fallback]
    files += sorted((tmp_path / "data").glob("keys.sqlite3*"))
    blob = "\n".join(str(t) for t in texts) + "\n".join(p.read_bytes().decode("latin-1") for p in files)

    assert memory.events
    assert fallback.exists()
    assert len(files) >= 4
    canaries = {
        "api key": key,
        "api key secret part": secret_part.reveal(),
        "wrong api key": wrong_key,
        "bearer token": token,
        "bearer signature": token.rsplit(".", 1)[1],
        "short-lived token": short_token,
        "malformed bearer": BAD_BEARER,
        "pepper": PEPPER.decode(),
        "pepper hex": PEPPER.hex(),
        "jwt secret": JWT_SECRET.decode(),
        "chain key": CHAIN_KEY.decode(),
    }
    leaks = [name for name, value in canaries.items() if value in blob]
    assert leaks == []
    # And the paths really ran: successes, failures, denials and the config change were all recorded.
    for needle in (
        '"success":true',
        '"success":false',
        '"granted":false',
        '"type":"ConfigChange"',
        '"operation":"delete"',
    ):
        assert needle in audit.text
