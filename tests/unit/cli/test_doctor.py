"""``llm-infra doctor``: config, data directory and backends, with the guide's fixes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from llm_infra.cli import _codes
from llm_infra.cli._doctor import check_backend

from .conftest import Run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_embedded_defaults_pass(run: Run) -> None:
    """With no configuration every check passes (nothing external is configured)."""
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)
    assert all(c["ok"] for c in checks)
    assert [c["check"] for c in checks] == ["config", "data dir", "vector", "auth", "ratelimit", "mq", "otel"]
    assert "ok" in run("doctor").stdout


def test_unreachable_backends_fail_with_codes_and_fixes(run: Run) -> None:
    """A closed port: redis is ``ratelimit.redis_unavailable``, others ``cli.unreachable``; exit 1."""
    port = _free_port()
    env = {
        "LLM_RATELIMIT__URL": f"redis://127.0.0.1:{port}/0",
        "LLM_MQ__URL": f"nats://127.0.0.1:{port}",
        "LLM_OTEL__EXPORTER__OTLP__ENDPOINT": f"http://127.0.0.1:{port}",
    }
    result = run("doctor", "--timeout", "1", "--json", env=env)
    assert result.exit_code == 1
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["ratelimit"]["code"] == "ratelimit.redis_unavailable"
    assert checks["mq"]["code"] == _codes.UNREACHABLE
    assert checks["otel"]["code"] == _codes.UNREACHABLE
    assert (
        "Redis did not answer: start it or fix the URL (redis://host:6379/0)." in checks["ratelimit"]["fixes"]
    )
    assert f"error[{_codes.DOCTOR_FAILED}]: 3 of" in result.stderr
    text = run("doctor", "--timeout", "1", env=env)
    assert "FAIL" in text.stdout
    assert "fix: Redis did not answer" in text.stdout


def test_postgres_unreachable(run: Run) -> None:
    """An unreachable PostgreSQL key store is ``auth.postgres_unavailable``."""
    pytest.importorskip("psycopg")
    port = _free_port()
    result = run(
        "doctor",
        "--timeout",
        "1",
        "--json",
        env={"LLM_AUTH__KEYS_URL": f"postgresql://u:pw@127.0.0.1:{port}/x"},
    )
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["auth"]["code"] == "auth.postgres_unavailable"
    assert "pw" not in checks["auth"]["detail"]


def test_reachable_loopback_services(run: Run, redis_url: str, postgres_dsn: str) -> None:
    """The loopback Redis and PostgreSQL pass their checks."""
    env = {"LLM_RATELIMIT__URL": redis_url, "LLM_AUTH__KEYS_URL": postgres_dsn}
    result = run("doctor", "--timeout", "3", "--json", env=env)
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["ratelimit"]["ok"], checks["ratelimit"]
    assert checks["auth"]["ok"], checks["auth"]


def test_data_dir_that_is_a_file(run: Run, workdir: Path) -> None:
    """A data directory path that is a file fails with ``cli.data_dir``."""
    (workdir / "blocker").write_text("x", encoding="utf-8")
    result = run("doctor", "--json", env={"LLM_SERVER__DATA_DIR": "blocker/data"})
    assert result.exit_code == 1
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["data dir"]["code"] == _codes.DATA_DIR
    assert checks["data dir"]["fixes"]


def test_broken_config_stops_early(run: Run, workdir: Path) -> None:
    """A configuration that does not load is the only (failed) check, with its code."""
    (workdir / "llm-infra.toml").write_text("[x\n", encoding="utf-8")
    result = run("doctor", "--json")
    assert result.exit_code == 1
    checks = json.loads(result.stdout)
    assert [(c["check"], c["code"]) for c in checks] == [("config", "config.parse_error")]


@pytest.mark.parametrize(
    ("url", "ok", "code"),
    [
        ("memory://", True, None),
        ("./somewhere/keys.sqlite", True, None),
        ("sqlite:///tmp/keys.sqlite", True, None),
        ("gopher://x", False, _codes.UNSUPPORTED_URL),
    ],
)
def test_check_backend_kinds(url: str, ok: bool, code: str | None, workdir: Path) -> None:
    """Local paths and memory:// pass without a connection; unknown schemes are named."""
    check = check_backend("x.url", url, "x", 0.5)
    assert check.ok is ok
    assert (check.error.code if check.error else None) == code
