"""Fixtures of the CLI tests: a runner in a temp working directory with no LLM_* variables."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llm_infra.cli import app
from llm_infra.cli._state import State

Run = Callable[..., Result]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp cwd; every ``LLM_*`` variable of the outer environment removed."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LLM_"):
            monkeypatch.delenv(name)
    return tmp_path


@pytest.fixture
def run(workdir: Path) -> Run:
    """``run("id", "ulid", env={...})``: invoke ``llm-infra`` in-process; stdout and stderr apart."""

    def invoke(*args: str, env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(app, list(args), env=dict(env or {}), input=input, obj=State())

    return invoke
