"""The root command: help, version, the error report, --debug, and ``python -m llm_infra``."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from llm_infra import __version__
from llm_infra.cli import _codes, main
from llm_infra.cli._guide import FIXES

from .conftest import Run

ROOT = Path(__file__).resolve().parents[3]


def _python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    return subprocess.run(
        [sys.executable, "-m", "llm_infra", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_help_lists_every_command(run: Run) -> None:
    """``--help`` names every command group."""
    result = run("--help")
    assert result.exit_code == 0
    for name in ("serve", "worker", "config", "vector", "keys", "jwt", "audit", "id", "mq", "doctor"):
        assert name in result.stdout


def test_version(run: Run) -> None:
    """``--version`` prints the package version."""
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"llm-infra {__version__}"


def test_error_prints_code_message_and_fix_without_traceback(run: Run) -> None:
    """An InfraError becomes ``error[code]: message`` plus the guide's fixes, exit 1, no traceback."""
    result = run("vector", "stats", "missing-store")
    assert result.exit_code == 1
    assert "error[vector.config_required]: no vector store at missing-store" in result.stderr
    assert "fix: Create the store first" in result.stderr
    assert "docs/troubleshooting.md#vectorconfig_required" in result.stderr
    assert "error id: " in result.stderr
    assert "Traceback" not in result.stderr
    assert not Path("missing-store").exists()  # nothing was created on the way


def test_debug_prints_the_traceback(run: Run) -> None:
    """``--debug`` adds the traceback after the report."""
    result = run("--debug", "vector", "stats", "missing-store")
    assert result.exit_code == 1
    assert "error[vector.config_required]" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr


def test_debug_mode_logs_and_is_undone(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--debug`` sets llm-infra's loggers to DEBUG while the command runs, and restores them after."""
    import logging

    logger = logging.getLogger("llm_infra")
    before = logger.level
    during: list[int] = []

    def probe() -> str:
        during.append(logging.getLogger("llm_infra.ids").getEffectiveLevel())
        return "x"

    monkeypatch.setattr("llm_infra.ids.ulid", probe)
    assert run("--debug", "id", "ulid").exit_code == 0
    assert during == [logging.DEBUG]
    assert logger.level == before


def test_foreign_exception_is_converted(run: Run, workdir: Path) -> None:
    """A non-InfraError (here an OSError reading a directory) still prints a code, not a traceback."""
    Path("adir").mkdir()
    result = run("jwt", "issue", "bob", "--key-file", "adir")
    assert result.exit_code == 1
    assert result.stderr.startswith("error[io.")
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(run: Run) -> None:
    """Click's usage errors keep their status 2."""
    result = run("id", "ulid", "-n", "0")
    assert result.exit_code == 2


def test_keyboard_interrupt_exits_130(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C prints ``cli.interrupted`` and exits 130."""

    def boom() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("llm_infra.ids.ulid", boom)
    result = run("id", "ulid")
    assert result.exit_code == 130
    assert f"error[{_codes.INTERRUPTED}]" in result.stderr


def test_broken_pipe_exits_quietly(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that goes away (``| head``) ends the command with status 141 and no report."""

    def gone() -> str:
        raise BrokenPipeError

    monkeypatch.setattr("llm_infra.ids.uuid7", gone)
    result = run("id", "uuid7")
    assert result.exit_code == 141
    assert result.stderr == ""


def test_every_cli_code_is_described_and_guided() -> None:
    """Each ``cli.*`` code has a description and at least one fix in the guide."""
    codes = {v for k, v in vars(_codes).items() if k.isupper() and isinstance(v, str)}
    assert codes == set(_codes.DESCRIPTIONS)
    for code in codes:
        assert code.startswith("cli.")
        assert FIXES.get(code), code


def test_main_runs_with_argv(capsys: pytest.CaptureFixture[str]) -> None:
    """``main([...])`` is the console script's entry point."""
    with pytest.raises(SystemExit) as info:
        main(["id", "uuid7", "-n", "2"])
    assert info.value.code == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) == 2
    assert all(len(x) == 36 for x in lines)


def test_serve_and_worker_call_the_server(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve``/``worker`` hand the loaded config and the options to ``llm_infra.server``."""
    calls: list[tuple[str, object, dict[str, object]]] = []
    fake = types.ModuleType("llm_infra.server")
    fake.run = lambda cfg, **kw: calls.append(("run", cfg, kw))  # type: ignore[attr-defined]
    fake.run_worker = lambda cfg: calls.append(("worker", cfg, {}))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llm_infra.server", fake)
    assert run("serve", "--port", "9000", "--host", "127.0.0.1", "--data-dir", "d").exit_code == 0
    assert run("worker").exit_code == 0
    assert calls[0][0] == "run"
    assert calls[0][2] == {"host": "127.0.0.1", "port": 9000, "data_dir": Path("d")}
    assert calls[1][0] == "worker"
    assert calls[0][1].get("http.timeout_secs") == 30  # type: ignore[attr-defined]


def test_serve_without_the_server_module(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``llm_infra.server`` installed, ``serve`` reports ``cli.not_available``."""
    monkeypatch.setitem(sys.modules, "llm_infra.server", None)
    result = run("serve")
    assert result.exit_code == 1
    assert f"error[{_codes.NOT_AVAILABLE}]" in result.stderr


def test_python_m_generates_ids(tmp_path: Path) -> None:
    """``python -m llm_infra id ulid -n 3`` prints three distinct ULIDs and exits 0."""
    proc = _python_m("id", "ulid", "-n", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == 3
    assert len(set(ids)) == 3
    assert all(len(x) == 26 for x in ids)


def test_python_m_error_has_no_traceback_unless_debug(tmp_path: Path) -> None:
    """A real process: exit 1 and a one-screen report; ``--debug`` adds the traceback."""
    plain = _python_m("vector", "verify", "nowhere", cwd=tmp_path)
    assert plain.returncode == 1
    assert "error[vector.config_required]" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = _python_m("--debug", "vector", "verify", "nowhere", cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr


def test_console_script_is_installed() -> None:
    """The ``llm-infra`` console script exists next to the interpreter (pyproject ``[project.scripts]``)."""
    script = Path(sys.executable).parent / "llm-infra"
    if not script.exists():
        pytest.skip("llm-infra is not installed as a console script in this environment")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("llm-infra ")


def test_missing_cli_extra_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without typer the command names the extra to install instead of a traceback."""
    monkeypatch.setitem(sys.modules, "typer", None)
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 1
    stderr = capsys.readouterr().err
    assert "error[config.missing_extra]" in stderr
    assert "pip install 'llm-infra[cli]'" in stderr


def test_unknown_attribute() -> None:
    """The package's lazy ``app`` does not invent other names."""
    import llm_infra.cli

    with pytest.raises(AttributeError):
        _ = llm_infra.cli.nothing_here  # type: ignore[attr-defined]
