"""``llm-infra keys`` on a temp SQLite store (default ./data/keys.sqlite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_infra.auth import ApiKeyAuthenticator, SqliteKeyStore
from llm_infra.cli import _codes
from llm_infra.errors import AuthError

from .conftest import Run


def test_create_list_revoke_round_trip(run: Run, workdir: Path) -> None:
    """A created key authenticates; after ``revoke`` it is refused; ``list`` never shows the key."""
    created = run("keys", "create", "alice", "--role", "writer", "--collection", "docs", "--name", "ci")
    assert created.exit_code == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("lli_")
    assert "shown only this once" in created.stderr
    assert (workdir / "data" / "auth" / "api_keys.sqlite3").exists()

    store = SqliteKeyStore(workdir / "data" / "auth" / "api_keys.sqlite3")
    try:
        identity = ApiKeyAuthenticator(store).authenticate(key)
        assert identity.subject == "default/alice"  # the service keeps <tenant>/<subject>
        assert identity.roles == frozenset({"writer"})
        assert identity.tenant == "default"
    finally:
        store.close()

    listed = run("keys", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["subject"], r["status"], r["collections"]) for r in rows] == [("alice", "active", ["docs"])]
    assert key not in listed.stdout
    assert "alice" in run("keys", "list").stdout

    key_id = rows[0]["id"]
    assert run("keys", "revoke", key_id).exit_code == 0
    assert json.loads(run("keys", "list", "--json").stdout)[0]["status"] == "revoked"
    store = SqliteKeyStore(workdir / "data" / "auth" / "api_keys.sqlite3")
    try:
        with pytest.raises(AuthError) as info:
            ApiKeyAuthenticator(store).authenticate(key)
        assert info.value.code == "auth.key_revoked"
    finally:
        store.close()


def test_revoke_by_full_key_and_unknown_id(run: Run) -> None:
    """``revoke`` accepts the full key; an unknown id is ``not_found``."""
    key = run("keys", "create", "bob").stdout.strip()
    assert run("keys", "revoke", key).exit_code == 0
    missing = run("keys", "revoke", "ZZZZZZZZZZZZZZZZ")
    assert missing.exit_code == 1
    assert "error[not_found]" in missing.stderr


def test_store_option_json_tenant_and_expiry(run: Run, workdir: Path) -> None:
    """--store picks another file; --json carries the key once; tenant and expiry are kept."""
    result = run(
        "keys", "create", "carol", "--store", "other.sqlite", "--tenant", "t1", "--expires-in", "60", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["key"].startswith("lli_")
    assert data["tenant"] == "t1"
    assert data["expires"] is not None
    assert data["roles"] == ["reader"]
    assert (workdir / "other.sqlite").exists()
    assert not (workdir / "data").exists()
    by_subject = json.loads(
        run("keys", "list", "--store", "sqlite:///" + str(workdir / "other.sqlite"), "--json").stdout
    )
    assert [r["subject"] for r in by_subject] == ["carol"]


def test_keys_url_from_config(run: Run, workdir: Path) -> None:
    """``auth.keys_url`` (here from LLM_AUTH__KEYS_URL) names the store."""
    env = {"LLM_AUTH__KEYS_URL": str(workdir / "cfg.sqlite")}
    assert run("keys", "create", "dan", env=env).exit_code == 0
    assert (workdir / "cfg.sqlite").exists()
    assert [r["subject"] for r in json.loads(run("keys", "list", "--json", env=env).stdout)] == ["dan"]


def test_bad_store_url(run: Run) -> None:
    """A key store URL of an unknown scheme is ``cli.unsupported_url``."""
    result = run("keys", "list", "--store", "mysql://db/x")
    assert result.exit_code == 1
    assert f"error[{_codes.UNSUPPORTED_URL}]" in result.stderr


def test_invalid_subject_and_role(run: Run) -> None:
    """An empty subject, one with '/', or an unknown role is ``cli.invalid_input``."""
    for args in (
        ["keys", "create", ""],
        ["keys", "create", "a/b"],
        ["keys", "create", "a", "--role", "root"],
    ):
        result = run(*args)
        assert result.exit_code == 1, args
        assert f"error[{_codes.INVALID_INPUT}]" in result.stderr, args


def test_tenant_and_subject_filters(run: Run) -> None:
    """``list --tenant/--subject`` filter on the displayed (tenant-less) subject."""
    run("keys", "create", "a", "--tenant", "t1")
    run("keys", "create", "a", "--tenant", "t2")
    run("keys", "create", "b", "--tenant", "t1")
    rows = json.loads(run("keys", "list", "--tenant", "t1", "--subject", "a", "--json").stdout)
    assert [(r["tenant"], r["subject"]) for r in rows] == [("t1", "a")]


def test_postgres_key_store(run: Run, postgres_dsn: str) -> None:
    """A postgresql:// key store works the same (loopback PostgreSQL)."""
    import uuid

    pytest.importorskip("psycopg")
    subject = f"cli-{uuid.uuid4().hex[:8]}"
    created = run("keys", "create", subject, "--store", postgres_dsn, "--json")
    assert created.exit_code == 0, created.stderr
    key_id = json.loads(created.stdout)["id"]
    try:
        listed = json.loads(
            run("keys", "list", "--store", postgres_dsn, "--subject", subject, "--json").stdout
        )
        assert [r["id"] for r in listed] == [key_id]
    finally:
        from llm_infra.auth import PostgresKeyStore

        store = PostgresKeyStore(postgres_dsn)
        store.delete(key_id)
        store.close()
