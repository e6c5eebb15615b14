"""``llm-infra audit verify`` on a chain written by ``llm_infra.audit``."""

from __future__ import annotations

import json
from pathlib import Path

from llm_infra.audit import ConfigChange, HashChainedFileSink, hash_config_value
from llm_infra.cli import _codes

from .conftest import Run

KEY = "k" * 40
ENV = {"AUDIT_KEY": KEY}


def _chain(path: Path, n: int = 3) -> None:
    with HashChainedFileSink(path, KEY) as sink:
        sink.write([ConfigChange(f"app.k{i}", "tester", None, hash_config_value(i, KEY)) for i in range(n)])


def test_intact_chain_verifies(run: Run, workdir: Path) -> None:
    """Every record verifies: exit 0 and the count."""
    _chain(workdir / "audit.jsonl")
    result = run("audit", "verify", "audit.jsonl", "--key-env", "AUDIT_KEY", "--json", env=ENV)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["records"] == 3
    assert "records" in run("audit", "verify", "audit.jsonl", "--key-env", "AUDIT_KEY", env=ENV).stdout


def test_edited_record_is_found(run: Run, workdir: Path) -> None:
    """An edited record fails with ``cli.audit_chain_invalid`` naming its index and reason."""
    path = workdir / "audit.jsonl"
    _chain(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace("app.k1", "app.kX")
    path.write_text("".join(lines), encoding="utf-8")
    result = run("audit", "verify", "audit.jsonl", "--key-env", "AUDIT_KEY", env=ENV)
    assert result.exit_code == 1
    assert f"error[{_codes.AUDIT_CHAIN_INVALID}]" in result.stderr
    assert "at record 1: mac_mismatch" in result.stderr


def test_key_from_file_config_and_missing(run: Run, workdir: Path) -> None:
    """The key comes from --key-file or audit.key; without one: ``cli.missing_secret``."""
    _chain(workdir / "audit.jsonl")
    (workdir / "key.txt").write_text(KEY + "\n", encoding="utf-8")
    assert run("audit", "verify", "audit.jsonl", "--key-file", "key.txt").exit_code == 0
    env = {"LLM_AUDIT__KEY": "${env:AUDIT_KEY}", **ENV}
    assert run("audit", "verify", "audit.jsonl", env=env).exit_code == 0
    missing = run("audit", "verify", "audit.jsonl")
    assert missing.exit_code == 1
    assert f"error[{_codes.MISSING_SECRET}]" in missing.stderr
    unset = run("audit", "verify", "audit.jsonl", "--key-env", "NOPE")
    assert f"error[{_codes.MISSING_SECRET}]" in unset.stderr


def test_missing_head_and_file(run: Run, workdir: Path) -> None:
    """A missing .head fails unless --no-head; a missing file fails."""
    _chain(workdir / "audit.jsonl")
    (workdir / "audit.jsonl.head").unlink()
    assert run("audit", "verify", "audit.jsonl", "--key-env", "AUDIT_KEY", env=ENV).exit_code == 1
    assert (
        run("audit", "verify", "audit.jsonl", "--key-env", "AUDIT_KEY", "--no-head", env=ENV).exit_code == 0
    )
    gone = run("audit", "verify", "nope.jsonl", "--key-env", "AUDIT_KEY", env=ENV)
    assert gone.exit_code == 1
    assert "missing_file" in gone.stderr


def test_service_defaults(run: Run, workdir: Path) -> None:
    """Without arguments: the service's ./data/audit/audit.jsonl and the key it generated beside it."""
    audit_dir = workdir / "data" / "audit"
    audit_dir.mkdir(parents=True)
    (audit_dir / "chain.key").write_text(KEY + "\n", encoding="utf-8")
    _chain(audit_dir / "audit.jsonl", 2)
    result = run("audit", "verify", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["records"] == 2
