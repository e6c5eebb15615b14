"""The service in-process (Starlette's TestClient): routes, auth, tenants, jobs and error shapes."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llm_infra.server import ServiceSettings, create_app
from llm_infra.server._run import announce
from llm_infra.server._service import Service

from .fakemq import FakeBroker


class Env:
    def __init__(self, client: TestClient, service: Service, key: str, broker: FakeBroker) -> None:
        self.client = client
        self.service = service
        self.key = key
        self.broker = broker

    def h(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def req(self, method: str, url: str, key: str | None = None, **kw: Any) -> Any:
        return self.client.request(method, url, headers=self.h(key), **kw)


def _settings(tmp_path: Path, **kw: Any) -> ServiceSettings:
    return ServiceSettings(data_dir=tmp_path / "data", access_log=False, **kw)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    broker = FakeBroker()

    async def factory(url: str, ack_wait: float) -> FakeBroker:
        return broker

    service = Service(_settings(tmp_path), broker_factory=factory)
    out = io.StringIO()
    key = announce(service, out)
    assert key is not None
    assert "Status page: http://127.0.0.1:8080/" in out.getvalue()
    assert announce(service, io.StringIO()) is None  # once only
    app = create_app(service.settings, service=service)
    with TestClient(app) as client:
        yield Env(client, service, key, broker)


def _wait_job(env: Env, job_id: str, status: str = "succeeded") -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = env.req("GET", f"/v1/jobs/{job_id}").json()
        if job["status"] == status:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not reach {status}: {job}")


def test_collections_points_and_search(env: Env) -> None:
    r = env.req(
        "POST",
        "/v1/collections",
        json={"name": "c1", "dimensions": 4, "distance": "l2", "hnsw": {"m": 8}, "indexed_fields": ["tag"]},
    )
    assert r.status_code == 201, r.text
    points = [{"id": f"p{i}", "vector": [i, 0, 0, 1], "metadata": {"tag": i % 2}} for i in range(10)]
    assert env.req("PUT", "/v1/collections/c1/points", json={"points": points}).status_code == 200
    hits = env.req(
        "POST", "/v1/collections/c1/search", json={"vector": [3, 0, 0, 1], "k": 2, "filter": {"tag": 1}}
    ).json()["results"]
    assert [h["id"] for h in hits] == ["p3", "p1"] or hits[0]["id"] == "p3"
    got = env.req("GET", "/v1/collections/c1/points/p3?with_vector=true").json()
    assert got["vector"] == [3.0, 0.0, 0.0, 1.0]
    assert env.req("GET", "/v1/collections/c1/points/" + "x" * 300).status_code == 404
    assert env.req("DELETE", "/v1/collections/c1/points/nope").status_code == 404
    patched = env.req("PATCH", "/v1/collections/c1/points/nope", json={"metadata": {"a": 1}})
    assert patched.status_code == 404
    assert patched.json()["code"] == "server.point_not_found"
    all_bad = env.req("PUT", "/v1/collections/c1/points", json={"points": [{"id": "x", "vector": [1]}]})
    assert all_bad.status_code == 207
    assert all_bad.json()["succeeded"] == 0
    none = env.req("POST", "/v1/collections/c1/search", json={"k": 2})
    assert none.status_code == 422
    assert none.json()["code"] == "server.invalid_request"
    text = env.req("POST", "/v1/collections/c1/search", json={"text": "hello"})
    assert text.status_code == 422
    assert text.json()["code"] == "server.no_embedder"
    docs = env.req("POST", "/v1/collections/c1/documents", json={"texts": ["a"]})
    assert docs.json()["code"] == "server.no_embedder"
    assert env.req("POST", "/v1/collections", json={"name": "bad name", "dimensions": 3}).status_code == 422
    assert env.req("GET", "/v1/collections/c1/stats").json()["count"] == 10


def test_status_page_and_public_routes(env: Env) -> None:
    page = env.client.get("/")
    assert page.status_code == 200
    assert "Admin API key" in page.text
    assert "sessionStorage" in env.client.get("/static/app.js").text
    assert env.client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert env.client.get("/static/nope.js").status_code == 401  # not public
    assert env.req("GET", "/static/nope.js").status_code == 404
    env.req("POST", "/v1/collections", json={"name": "c1", "dimensions": 2})
    env.service.security.audit.flush()
    status = env.req("GET", "/v1/status").json()
    assert status["tenant"] == "default"
    assert [c["name"] for c in status["collections"]] == ["c1"]
    assert status["health"]["state"] == "healthy"
    assert status["requests"]["total"] >= 2
    assert any(e["type"] == "AuthorizationCheck" for e in status["audit"])
    assert env.client.get("/readyz").json()["backend"] == "embedded"
    assert env.client.get("/metrics").status_code == 200
    assert env.client.get("/openapi.json").json()["paths"]["/v1/collections/{name}/search"]
    unknown = env.req("GET", "/v1/nope")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    wrong_method = env.req("PATCH", "/v1/collections")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "http.status_405"


def test_queued_ingest_and_jobs(env: Env) -> None:
    env.req("POST", "/v1/collections", json={"name": "q", "dimensions": 2})
    points = [{"id": f"p{i}", "vector": [1, i]} for i in range(600)] + [{"id": "bad", "vector": [1]}]
    accepted = env.req("PUT", "/v1/collections/q/points?wait=false", json={"points": points})
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["kind"] == "ingest"
    assert job["chunks"] == 3
    done = _wait_job(env, job["id"])
    assert done["processed"] == 600
    assert done["failed"] == 1
    assert done["errors"][0]["id"] == "bad"
    assert done["progress"] == 1.0
    assert env.req("GET", "/v1/collections/q").json()["count"] == 600
    # at-least-once: a redelivered chunk is applied again without changing the outcome
    env.broker.queue("llm-infra.jobs").put_nowait(env.broker.published[0])
    deadline = time.monotonic() + 10
    while len(env.broker.acked) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _wait_job(env, job["id"])["processed"] == 600
    assert env.req("GET", "/v1/collections/q").json()["count"] == 600
    for kind in ("verify", "snapshot", "rebuild"):
        started = env.req("POST", "/v1/collections/q/jobs", json={"kind": kind})
        assert started.status_code == 202
        finished = _wait_job(env, started.json()["id"])
        assert "result" in finished
    migrate = env.req("POST", "/v1/collections/q/jobs", json={"kind": "migrate"})
    failed = _wait_job(env, migrate.json()["id"], "failed")
    assert failed["error"]["code"] == "server.invalid_request"
    listed = env.req("GET", "/v1/jobs").json()["jobs"]
    assert len(listed) == 5
    assert env.req("GET", "/v1/jobs/nope").json()["code"] == "server.job_not_found"
    assert env.req("GET", "/v1/jobs/../x").status_code == 404


def test_tenant_keys_roles_and_quota(tmp_path: Path) -> None:
    service = Service(_settings(tmp_path, quota_collections=1, quota_points=3))
    key = service.bootstrap_admin()
    with TestClient(create_app(service.settings, service=service)) as client:
        h = {"Authorization": f"Bearer {key}"}
        assert (
            client.post("/v1/collections", headers=h, json={"name": "a", "dimensions": 2}).status_code == 201
        )
        over = client.post("/v1/collections", headers=h, json={"name": "b", "dimensions": 2})
        assert over.status_code == 403
        assert over.json()["code"] == "server.quota_exceeded"
        pts = {"points": [{"id": str(i), "vector": [1, i]} for i in range(4)]}
        too_many = client.put("/v1/collections/a/points", headers=h, json=pts)
        assert too_many.json()["code"] == "server.quota_exceeded"
        scoped = client.post(
            "/v1/keys", headers=h, json={"subject": "s", "roles": ["reader"], "collections": ["a"]}
        ).json()
        hs = {"Authorization": f"Bearer {scoped['key']}"}
        assert [c["name"] for c in client.get("/v1/collections", headers=hs).json()["collections"]] == ["a"]
        assert client.get("/v1/keys/x", headers=h).status_code == 405
        assert client.delete("/v1/keys/nope", headers=h).json()["code"] == "server.key_not_found"
        assert client.delete("/v1/collections/zzz", headers=h).status_code == 404


def test_request_deadline_answers_504(tmp_path: Path) -> None:
    service = Service(_settings(tmp_path, request_timeout=0.01))
    key = service.bootstrap_admin()
    app = create_app(service.settings, service=service)

    @app.get("/v1/slow")
    async def slow() -> dict[str, str]:
        import anyio

        await anyio.sleep(5)
        return {}

    with TestClient(app) as client:
        r = client.get("/v1/slow", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 504
        assert r.json()["code"] == "server.request_timeout"


def test_documents_and_text_search_with_an_embedder(env: Env) -> None:
    from llm_infra.server._collections import vector_api

    if vector_api("HashingEmbedder") is None:
        pytest.skip("llm_infra.vector has no HashingEmbedder in this tree yet")
    made = env.req(
        "POST", "/v1/collections", json={"name": "t", "dimensions": 64, "embedder": {"kind": "hashing"}}
    )
    assert made.status_code == 201, made.text
    texts = ["the cat sat on the mat", "stock markets fell sharply", "a kitten naps on a rug"]
    added = env.req(
        "POST",
        "/v1/collections/t/documents",
        json={"texts": texts, "ids": ["a", "b", "c"], "metadatas": [{"n": 1}, None, {"n": 3}]},
    )
    assert added.status_code == 200, added.text
    assert added.json()["ids"] == ["a", "b", "c"]
    hits = env.req("POST", "/v1/collections/t/search", json={"text": "the cat sat on a mat", "k": 1}).json()
    assert hits["results"][0]["id"] == "a"
    assert hits["results"][0]["metadata"] == {"n": 1, "text": texts[0]}
    mismatch = env.req("POST", "/v1/collections/t/documents", json={"texts": ["x"], "ids": ["1", "2"]})
    assert mismatch.json()["code"] == "server.invalid_request"
    generated = env.req("POST", "/v1/collections/t/documents", json={"texts": ["no ids given"]}).json()
    assert len(generated["ids"]) == 1
