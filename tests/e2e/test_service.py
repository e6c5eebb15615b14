"""The retrieval service end to end: a real subprocess on a loopback port, driven over HTTP."""

from __future__ import annotations

import threading
import time

import httpx

from llm_infra.audit import verify_chain

from .conftest import ServiceProcess


def _create(client: httpx.Client, name: str = "docs", dims: int = 3, **extra: object) -> httpx.Response:
    return client.post("/v1/collections", json={"name": name, "dimensions": dims, **extra})


def test_readme_curl_session(service: ServiceProcess) -> None:
    assert service.admin_key is not None
    assert "Status page: http://127.0.0.1:" in service.stdout()
    with service.client(service.admin_key) as c:
        created = _create(c, indexed_fields=["lang"])
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "docs"
        up = c.put(
            "/v1/collections/docs/points",
            json={
                "points": [
                    {"id": "a", "vector": [1, 0, 0], "metadata": {"lang": "en"}},
                    {"id": "b", "vector": [0.9, 0.1, 0], "metadata": {"lang": "fr"}},
                    {"id": "c", "vector": [0, 1, 0], "metadata": {"lang": "en"}},
                ]
            },
        )
        assert up.status_code == 200, up.text
        assert up.json() == {"total": 3, "succeeded": 3, "failed": 0, "failures": []}
        found = c.post(
            "/v1/collections/docs/search", json={"vector": [1, 0.05, 0], "k": 5, "filter": {"lang": "en"}}
        )
        assert found.status_code == 200
        hits = found.json()["results"]
        assert [h["id"] for h in hits] == ["a", "c"]
        assert hits[0]["metadata"] == {"lang": "en"}
        assert hits[0]["score"] > hits[1]["score"]
        batch = c.post("/v1/collections/docs/search", json={"vectors": [[1, 0, 0], [0, 1, 0]], "k": 1})
        assert [[h["id"] for h in r] for r in batch.json()["results"]] == [["a"], ["c"]]
        scored = c.post(
            "/v1/collections/docs/search",
            json={"vector": [1, 0, 0], "k": 3, "min_score": 0.5, "with_vectors": True, "ef_search": 50},
        )
        assert [h["id"] for h in scored.json()["results"]] == ["a", "b"]
        assert scored.json()["results"][0]["vector"] == [1.0, 0.0, 0.0]
        # points: get, patch metadata, delete
        assert c.get("/v1/collections/docs/points/a").json() == {"id": "a", "metadata": {"lang": "en"}}
        assert c.patch("/v1/collections/docs/points/a", json={"metadata": {"lang": "de"}}).status_code == 200
        assert c.get("/v1/collections/docs/points/a").json()["metadata"] == {"lang": "de"}
        assert c.delete("/v1/collections/docs/points/b").json() == {"deleted": True}
        missing = c.get("/v1/collections/docs/points/b")
        assert missing.status_code == 404
        assert missing.json()["code"] == "server.point_not_found"
        assert c.get("/v1/collections/docs").json()["count"] == 2
        stats = c.get("/v1/collections/docs/stats").json()
        assert stats["count"] == 2
        assert stats["dimensions"] == 3
        listed = c.get("/v1/collections").json()["collections"]
        assert [x["name"] for x in listed] == ["docs"]
        dup = _create(c)
        assert dup.status_code == 409
        assert dup.json()["code"] == "server.collection_exists"
        # public endpoints
        assert httpx.get(service.url + "/healthz").json() == {"status": "ok"}
        ready = httpx.get(service.url + "/readyz").json()
        assert ready["state"] == "healthy"
        assert ready["capabilities"]["can_write"] is True
        assert "server_requests" in httpx.get(service.url + "/metrics").text
        assert httpx.get(service.url + "/openapi.json").json()["info"]["title"].startswith("llm-infra")
        assert c.delete("/v1/collections/docs").json() == {"deleted": True}
        assert c.get("/v1/collections/docs").status_code == 404


def test_401_and_403(service: ServiceProcess) -> None:
    anonymous = httpx.get(service.url + "/v1/collections")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["code"] == "auth.missing_credentials"
    assert anonymous.json()["error_id"]
    bad = httpx.get(service.url + "/v1/collections", headers={"Authorization": "Bearer lli_nope"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "auth.invalid_credentials"
    with service.client(service.admin_key) as admin:
        assert _create(admin).status_code == 201
        reader = admin.post("/v1/keys", json={"subject": "rita", "roles": ["reader"]})
        assert reader.status_code == 201
        body = reader.json()
        assert body["key"].startswith("lli_")
        assert body["id"] in body["key"]
        scoped = admin.post(
            "/v1/keys", json={"subject": "wes", "roles": ["writer"], "collections": ["other"]}
        ).json()
    with service.client(body["key"]) as r:
        assert r.post("/v1/collections/docs/search", json={"vector": [1, 0, 0]}).status_code == 200
        denied = r.put("/v1/collections/docs/points", json={"points": [{"id": "x", "vector": [1, 0, 0]}]})
        assert denied.status_code == 403
        assert denied.json()["code"] == "auth.insufficient_permissions"
        assert r.post("/v1/keys", json={"subject": "eve", "roles": ["admin"]}).status_code == 403
        assert r.get("/v1/keys").status_code == 403
    with service.client(scoped["key"]) as w:
        assert (
            w.put(
                "/v1/collections/docs/points", json={"points": [{"id": "x", "vector": [1, 0, 0]}]}
            ).status_code
            == 403
        )
    with service.client(service.admin_key) as admin:
        listed = admin.get("/v1/keys").json()["keys"]
        assert {k["subject"] for k in listed} == {"admin", "rita", "wes"}
        assert all("key" not in k for k in listed)
        assert admin.delete(f"/v1/keys/{body['id']}").json() == {"deleted": True}
    revoked = httpx.get(service.url + "/v1/collections", headers={"Authorization": f"Bearer {body['key']}"})
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "auth.key_revoked"


def test_tenants_are_isolated(service: ServiceProcess) -> None:
    with service.client(service.admin_key) as root:
        assert _create(root, "private").status_code == 201
        assert (
            root.put(
                "/v1/collections/private/points", json={"points": [{"id": "s", "vector": [1, 0, 0]}]}
            ).status_code
            == 200
        )
        acme = root.post("/v1/keys", json={"subject": "ann", "roles": ["admin"], "tenant": "acme"}).json()
        assert acme["tenant"] == "acme"
        root_keys = {k["id"] for k in root.get("/v1/keys").json()["keys"]}
    with service.client(acme["key"]) as a:
        assert a.get("/v1/collections").json() == {"collections": []}
        for response in (
            a.get("/v1/collections/private"),
            a.get("/v1/collections/private/stats"),
            a.get("/v1/collections/private/points/s"),
            a.post("/v1/collections/private/search", json={"vector": [1, 0, 0]}),
            a.put("/v1/collections/private/points", json={"points": [{"id": "t", "vector": [1, 0, 0]}]}),
            a.delete("/v1/collections/private/points/s"),
            a.delete("/v1/collections/private"),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "server.collection_not_found"
        # the same name in another tenant is another collection
        assert _create(a, "private").status_code == 201
        assert a.get("/v1/collections/private").json()["count"] == 0
        # tenant admins manage only their tenant's keys
        assert [k["subject"] for k in a.get("/v1/keys").json()["keys"]] == ["ann"]
        for key_id in root_keys:
            assert a.delete(f"/v1/keys/{key_id}").status_code == 404
        assert (
            a.post("/v1/keys", json={"subject": "x", "roles": ["reader"], "tenant": "default"}).status_code
            == 403
        )
        bob = a.post("/v1/keys", json={"subject": "bob", "roles": ["reader"]}).json()
        assert bob["tenant"] == "acme"
    with service.client(service.admin_key) as root:
        assert root.get("/v1/collections/private").json()["count"] == 1
        assert root.delete(f"/v1/keys/{bob['id']}").status_code == 404
    # audit events carry the tenant
    time.sleep(0)  # the chain is flushed on shutdown; checked below
    service.stop()
    audit = (service.data_dir / "audit" / "audit.jsonl").read_text()
    assert '"identity":"acme/ann"' in audit
    assert '"resource":"tenant/acme/collection/private"' in audit
    key = (service.data_dir / "audit" / "chain.key").read_text().strip()
    assert verify_chain(service.data_dir / "audit" / "audit.jsonl", key).ok


def test_rate_limit_answers_429_with_retry_after(start_service) -> None:  # type: ignore[no-untyped-def]
    service = start_service(env={"LLM_RATELIMIT__LIMIT": "5", "LLM_RATELIMIT__PERIOD": "3600"})
    statuses = []
    with service.client(service.admin_key) as c:
        for _ in range(8):
            response = c.get("/v1/collections")
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
                assert response.json()["code"] == "rate_limited"
                break
    assert statuses[:5] == [200] * 5
    assert statuses[-1] == 429
    # health stays reachable
    assert httpx.get(service.url + "/healthz").status_code == 200


def test_partial_batch_answers_207(service: ServiceProcess) -> None:
    with service.client(service.admin_key) as c:
        _create(c)
        response = c.put(
            "/v1/collections/docs/points",
            json={
                "points": [
                    {"id": "ok1", "vector": [1, 0, 0]},
                    {"id": "short", "vector": [1, 0]},
                    {"id": "ok2", "vector": [0, 1, 0]},
                ]
            },
        )
        assert response.status_code == 207, response.text
        body = response.json()
        assert body["total"] == 3
        assert body["succeeded"] == 2
        assert body["failed"] == 1
        assert body["failures"][0]["id"] == "short"
        assert body["failures"][0]["code"] == "vector.dimension_mismatch"
        assert c.get("/v1/collections/docs").json()["count"] == 2
        bad = c.post("/v1/collections/docs/search", json={"vector": [1, 0, 0], "vectors": [[1, 0, 0]]})
        assert bad.status_code == 422
        assert bad.json()["code"] == "server.invalid_request"
        malformed = c.put("/v1/collections/docs/points", json={"points": "nope"})
        assert malformed.status_code == 422
        assert malformed.headers["content-type"] == "application/problem+json"


def test_restart_keeps_data_and_keys(start_service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = start_service(tmp_path / "state")
    key = first.admin_key
    assert key is not None
    with first.client(key) as c:
        _create(c)
        c.put(
            "/v1/collections/docs/points",
            json={"points": [{"id": str(i), "vector": [1, i, 0]} for i in range(50)]},
        )
        reader = c.post("/v1/keys", json={"subject": "r", "roles": ["reader"]}).json()["key"]
    assert first.stop() in (0, -15)  # uvicorn re-raises the SIGTERM it handled, after a graceful shutdown
    assert "Application shutdown complete" in first.stderr()
    second = start_service(tmp_path / "state")
    assert second.admin_key is None  # shown once, on the first start only
    with second.client(reader) as c:
        assert c.get("/v1/collections/docs").json()["count"] == 50
        hits = c.post("/v1/collections/docs/search", json={"vector": [1, 7, 0], "k": 1}).json()["results"]
        assert hits[0]["id"] == "7"


def test_kill_9_mid_ingest_loses_no_acknowledged_point(start_service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = start_service(tmp_path / "crash")
    key = first.admin_key
    with first.client(key) as c:
        _create(c, dims=8)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
            batch = 0
            while not stop.is_set():
                ids = [f"b{batch}-{i}" for i in range(100)]
                points = [
                    {"id": pid, "vector": [float(batch), float(i), 1, 0, 0, 0, 0, 1]}
                    for i, pid in enumerate(ids)
                ]
                try:
                    r = c.put("/v1/collections/docs/points", json={"points": points})
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    acknowledged.extend(ids)
                batch += 1

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 1_000 and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)
    first.kill()
    stop.set()
    thread.join(30)
    assert len(acknowledged) >= 1_000
    second = start_service(tmp_path / "crash")
    with second.client(key) as c:
        count = c.get("/v1/collections/docs").json()["count"]
        assert count >= len(acknowledged)
        for pid in acknowledged[:: max(1, len(acknowledged) // 50)] + acknowledged[-100:]:
            assert c.get(f"/v1/collections/docs/points/{pid}").status_code == 200, pid
