"""The ``llm-infra`` command line (typer + rich).

``llm-infra serve`` runs the retrieval service; the other commands operate what it is built from:
``config show|validate``, ``vector create|import|search|stats|verify|rebuild|snapshot|migrate``,
``keys create|list|revoke``, ``jwt issue|verify|jwks``, ``audit verify``, ``id uuid7|ulid|snowflake``,
``mq publish|consume`` and ``doctor``. Configuration comes from ``./llm-infra.toml`` (or
``--config``) and ``LLM_*`` environment variables. Every error prints its code, message and
remediation and exits with status 1 (2 for usage errors); ``--debug`` adds the traceback.
``python -m llm_infra`` is the same command. See docs/cli.md.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Typer

    app: Typer


def main(argv: list[str] | None = None) -> None:
    """Run ``llm-infra`` (the console script and ``python -m llm_infra``).

    Without the ``cli`` extra (typer, rich) it says how to install it and exits with status 1.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).
    """
    from llm_infra._internal._lazy import require
    from llm_infra.errors import ConfigError

    try:
        require("typer", "cli")
        require("rich", "cli")
    except ConfigError as exc:
        sys.stderr.write(f"error[{exc.code}]: {exc.message}\n")
        raise SystemExit(1) from None
    from llm_infra.cli._app import main as run

    run(argv)


def __getattr__(name: str) -> Any:
    # ``app`` imports typer: only when asked for, so ``main`` can report a missing extra.
    if name == "app":
        from llm_infra.cli._app import app as typer_app

        return typer_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]
