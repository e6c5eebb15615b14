"""``llm-infra serve`` and ``llm-infra worker``: thin launchers of ``llm_infra.server``."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from llm_infra.cli import _codes
from llm_infra.cli._output import die
from llm_infra.cli._state import state


def _server() -> ModuleType:
    try:
        return importlib.import_module("llm_infra.server")
    except ModuleNotFoundError as exc:
        if exc.name not in ("llm_infra.server", "llm_infra"):
            raise
        raise die(
            _codes.NOT_AVAILABLE,
            "the service (llm_infra.server) is not part of this installation",
            remediation=["pip install 'llm-infra[all]'"],
        ) from exc


def serve(
    ctx: typer.Context,
    *,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default 8080).", min=0, max=65535)
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where the embedded stores live (default ./data).")
    ] = None,
) -> None:
    """Run the retrieval service (embedded defaults; backends by URL from the configuration).

    Example: llm-infra serve --port 8080
    """
    cfg = state(ctx).config()
    _server().run(cfg, host=host, port=port, data_dir=data_dir)


def worker(ctx: typer.Context) -> None:
    """Run a queued-ingest consumer against the configured queue (mq.url) and stores.

    Example: LLM_MQ_URL=redis://127.0.0.1:6379/0 llm-infra worker
    """
    cfg = state(ctx).config()
    _server().run_worker(cfg)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``worker`` to the root app."""
    app.command("serve")(serve)
    app.command("worker")(worker)


__all__ = ["register", "serve", "worker"]
