"""What several commands take alike: the ``--json`` option and a secret named by an environment variable."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from llm_infra.cli import _codes
from llm_infra.cli._output import die
from llm_infra.secrets import Secret

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
"""``--json``: print JSON for scripts instead of the human output."""


def env_secret(var: str) -> Secret[str]:
    """The secret in the environment variable ``var`` (``MISSING_SECRET`` when unset or empty)."""
    value = os.environ.get(var)
    if not value:
        raise die(_codes.MISSING_SECRET, f"environment variable {var} is not set")
    return Secret(value)
