"""The service's parts on their own: settings, state stores, coalescing, JWTs, readiness, the CLI."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from llm_infra.crypto import Ed25519Signer, JwtSigner
from llm_infra.errors import ConfigError, ValidationError
from llm_infra.resilience import Capabilities, HealthStatus
from llm_infra.server import ServiceSettings, create_app, load_settings
from llm_infra.server.__main__ import main as cli_main
from llm_infra.server._collections import Collection, check_name, make_embedder, store_config
from llm_infra.server._run import settings_for
from llm_infra.server._service import RequestRate, Service
from llm_infra.server._state import PostgresStateStore, SqliteStateStore, open_state
from llm_infra.vector import SearchResult


def test_settings_from_file_env_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "llm-infra.toml").write_text(
        '[server]\nport = 9001\ndefault_tenant = "acme"\n[mq]\ntopic = "t"\n'
    )
    s = load_settings(cwd=tmp_path, environ={"LLM_SERVER__HOST": "127.0.0.2", "LLM_AUDIT__KEY": "k" * 32})
    assert (s.port, s.host, s.default_tenant, s.mq_topic) == (9001, "127.0.0.2", "acme", "t")
    assert s.audit_key is not None
    assert s.audit_key.reveal() == "k" * 32
    assert "kkkk" not in repr(s)
    s2 = s.with_overrides(host="::1", port=0, data_dir=tmp_path / "d")
    assert (s2.host, s2.port, s2.data_dir) == ("::1", 0, tmp_path / "d")
    assert s.with_overrides() is s
    with pytest.raises(ConfigError) as err:
        load_settings(cwd=tmp_path, environ={"LLM_SERVER__DEFAULT_TENANT": "bad tenant!"})
    assert err.value.code == "server.invalid_setting"
    with pytest.raises(ConfigError) as err:
        ServiceSettings(port=70_000)
    assert err.value.code == "server.invalid_setting"
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "missing.toml", environ={})
    assert err.value.code.startswith("config.")
    explicit = settings_for(config_file=tmp_path / "llm-infra.toml", port=1234)
    assert explicit.port == 1234


def _exercise_state(store: Any) -> None:
    assert store.put("k", "t1", "a", {"x": 1}, create=True) is True
    assert store.put("k", "t1", "a", {"x": 2}, create=True) is False
    assert store.get("k", "t1", "a") == {"x": 1}
    assert store.put("k", "t1", "a", {"x": 3}) is True
    store.put("k", "t2", "b", {"y": 1})
    assert [(t, n) for t, n, _ in store.list("k")] == [("t1", "a"), ("t2", "b")]
    assert [d for _, _, d in store.list("k", "t1")] == [{"x": 3}]
    assert store.delete("k", "t1", "a") is True
    assert store.delete("k", "t1", "a") is False
    assert store.get("k", "t1", "a") is None


def test_sqlite_state_store(tmp_path: Path) -> None:
    store = open_state("", tmp_path)
    assert isinstance(store, SqliteStateStore)
    _exercise_state(store)
    store.close()


@pytest.mark.integration
def test_postgres_state_store(postgres_dsn: str) -> None:
    table = f"llm_infra_state_{secrets.token_hex(4)}"
    store = PostgresStateStore(postgres_dsn, table=table)
    try:
        _exercise_state(store)
    finally:
        store._run("DROP TABLE {t}", ())
        store.close()
    with pytest.raises(ConfigError) as err:
        PostgresStateStore(postgres_dsn, table="bad;name")
    assert err.value.code == "config.invalid_value" or err.value.code.startswith("config")


def test_names_and_collection_settings() -> None:
    assert check_name("docs-1") == "docs-1"
    with pytest.raises(ValidationError) as err:
        check_name("../x")
    assert err.value.code == "server.invalid_request"
    with pytest.raises(ValidationError) as err:
        store_config({"dimensions": 0}, "t.c")
    assert err.value.code == "server.invalid_request"
    with pytest.raises(ValidationError) as err:
        store_config({"dimensions": 3, "hnsw": {"nope": 1}}, "t.c")
    assert err.value.code == "server.invalid_request"
    with pytest.raises(ValidationError) as err:
        make_embedder({"kind": "unknown"}, 3)
    assert err.value.code == "server.embedder_unavailable"
    assert make_embedder(None, 3) is None


class _BatchStore:
    """A store with search_batch, to observe coalescing."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def search_batch(self, vectors: Any, k: int, flt: Any = None, **kw: Any) -> list[list[SearchResult]]:
        self.batches.append(len(vectors))
        if k == 99:
            raise ValidationError("boom", code="server.invalid_request")
        return [[SearchResult(id=str(float(v[0])), score=1.0)] for v in vectors]


def test_concurrent_searches_are_coalesced() -> None:
    store = _BatchStore()
    coll = Collection("t", "c", {"dimensions": 1}, store, coalesce=True)  # type: ignore[arg-type]

    async def go() -> list[list[SearchResult]]:
        return list(
            await asyncio.gather(
                *(
                    coll.search([i], 3, None, min_score=None, with_vectors=False, ef_search=None)
                    for i in range(20)
                )
            )
        )

    results = asyncio.run(go())
    assert [r[0].id for r in results] == [str(float(i)) for i in range(20)]
    assert sum(store.batches) == 20
    assert len(store.batches) < 20  # at least some were answered together

    async def failing() -> None:
        await coll.search([1], 99, None, min_score=None, with_vectors=False, ef_search=None)

    with pytest.raises(ValidationError) as err:
        asyncio.run(failing())
    assert err.value.code == "server.invalid_request"


def test_request_rate_window() -> None:
    rate = RequestRate(window=10.0)
    for t in (0.0, 1.0, 2.0):
        rate.hit(t)
    assert rate.per_second(5.0) == pytest.approx(0.3)
    assert rate.per_second(11.5) == pytest.approx(0.1)
    assert rate.total == 3


def test_jwt_bearer_tokens_carry_tenant_and_roles(tmp_path: Path) -> None:
    # A JWKS is a public document: it carries the issuer's public key (symmetric keys are refused).
    issuer_key = Ed25519Signer.generate()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**issuer_key.public_jwk(), "kid": "k1", "alg": "EdDSA"}]}))
    settings = ServiceSettings(
        data_dir=tmp_path / "data", access_log=False, jwt_issuer="https://idp.test", jwt_jwks_url=str(jwks)
    )
    service = Service(settings)
    key = service.bootstrap_admin()
    signer = JwtSigner("EdDSA", issuer_key, kid="k1", issuer="https://idp.test")
    with TestClient(create_app(settings, service=service)) as client:
        h = {"Authorization": f"Bearer {key}"}
        assert (
            client.post("/v1/collections", headers=h, json={"name": "c", "dimensions": 2}).status_code == 201
        )
        reader = signer.sign({"sub": "svc", "roles": ["reader"], "tenant": "default"})
        hr = {"Authorization": f"Bearer {reader}"}
        assert client.get("/v1/collections/c", headers=hr).status_code == 200
        assert client.delete("/v1/collections/c", headers=hr).status_code == 403
        other = signer.sign({"sub": "svc", "roles": ["admin"], "tenant": "other"})
        assert (
            client.get("/v1/collections/c", headers={"Authorization": f"Bearer {other}"}).status_code == 404
        )
        forged = JwtSigner("EdDSA", Ed25519Signer.generate(), kid="k1", issuer="https://idp.test").sign(
            {"sub": "x"}
        )
        bad = client.get("/v1/collections", headers={"Authorization": f"Bearer {forged}"})
        assert bad.status_code == 401
        assert bad.json()["code"] == "auth.invalid_token"


class _DegradedStore:
    def health(self) -> HealthStatus:
        return HealthStatus.degraded("fallback store in use")

    def capabilities(self) -> Capabilities:
        return Capabilities.read_only()

    def close(self) -> None:
        pass


def test_readyz_reports_a_degraded_store(tmp_path: Path) -> None:
    service = Service(ServiceSettings(data_dir=tmp_path / "data", access_log=False))
    fake = Collection("default", "x", {"dimensions": 2}, _DegradedStore())  # type: ignore[arg-type]
    service.collections._open[("default", "x")] = fake
    with TestClient(create_app(service.settings, service=service)) as client:
        body = client.get("/readyz").json()
        assert body["state"] == "degraded"
        assert body["capabilities"]["can_write"] is False
        assert body["checks"]["collection:default/x"]["reason"] == "fallback store in use"


def test_module_entry_point_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--config", str(tmp_path / "missing.toml"), "--data-dir", str(tmp_path)]) == 2
    assert "error config." in capsys.readouterr().err


def test_embedder_vectors_are_float32() -> None:
    from llm_infra.server._collections import embed

    class Fake:
        def embed(self, texts: list[str]) -> list[list[float]]:
            return [[1.0, 2.0] for _ in texts]

    out = embed(Fake(), ["a", "b"])
    assert out.dtype == np.float32
    assert out.shape == (2, 2)
    with pytest.raises(ConfigError) as err:
        embed(object(), ["a"])
    assert err.value.code == "server.embedder_unavailable"


def test_run_and_run_worker_wire_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from llm_infra.server import _run

    served: list[Any] = []
    monkeypatch.setattr(
        _run, "serve", lambda app, *, config, middleware: served.append((app, config, middleware))
    )
    monkeypatch.chdir(tmp_path)
    _run.run(port=0, data_dir=tmp_path / "d")
    app, config, middleware = served[0]
    assert (config.port, middleware) == (0, False)
    assert app.state.service.settings.data_dir == tmp_path / "d"
    out = capsys.readouterr().out
    assert "lli_" in out
    assert "Status page: http://127.0.0.1:0/" in out
    asyncio.run(app.state.service.aclose())

    consumed: list[bool] = []

    async def consume(self: Service) -> None:
        consumed.append(True)

    monkeypatch.setattr(Service, "run_consumer", consume)
    _run.run_worker(data_dir=tmp_path / "d")
    assert consumed == [True]
