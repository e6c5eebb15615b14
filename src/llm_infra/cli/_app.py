"""The root ``llm-infra`` command: global options, sub-apps and the one error handler."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from llm_infra.cli import _codes
from llm_infra.cli._output import report_error
from llm_infra.cli._state import State, state


def _click_exception() -> type[Exception]:
    try:  # recent typer vendors click as typer._click
        module = importlib.import_module("typer._click")
    except ImportError:  # pragma: no cover - older typer runs on click itself
        module = importlib.import_module("click")
    found: type[Exception] = module.ClickException
    return found


_PASS_THROUGH = (typer.Exit, typer.Abort, _click_exception())


class _Root(TyperGroup):
    """Runs a command and turns any failure into code + message + remediation, exit status 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except BrokenPipeError:
            # The reader went away (`llm-infra keys list --json | head`): stop quietly, like a shell tool.
            # Later flushes of stdout go nowhere instead of failing again at exit.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except KeyboardInterrupt as exc:
            from llm_infra.errors import InfraError

            report_error(
                InfraError("interrupted", code=_codes.INTERRUPTED).with_traceback(exc.__traceback__),
                debug=_debug(ctx),
            )
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - every failure becomes code + message + fix
            raise typer.Exit(report_error(exc, debug=_debug(ctx))) from None


def _debug(ctx: Any) -> bool:
    obj = ctx.find_root().obj
    return bool(getattr(obj, "debug", False))


app = typer.Typer(
    name="llm-infra",
    cls=_Root,
    help="llm-infra: run the retrieval service and operate its stores, keys, tokens and queues.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from llm_infra import __version__

        typer.echo(f"llm-infra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Configuration file (TOML, JSON, YAML). Default: ./llm-infra.toml when present.",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks on errors and llm-infra's debug log on stderr.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Global options; configuration comes from the file, then LLM_* environment variables."""
    st = state(ctx)
    st.config_path = config
    st.debug = debug
    if debug:
        from llm_infra.otel import enable_debug_mode

        ctx.call_on_close(enable_debug_mode(logger="llm_infra").disable)


def _register() -> None:
    from llm_infra.cli import (
        _audit_cmd,
        _config_cmd,
        _doctor,
        _ids_cmd,
        _jwt_cmd,
        _keys_cmd,
        _mq_cmd,
        _serve_cmd,
        _vector_cmd,
    )

    _serve_cmd.register(app)
    app.add_typer(_config_cmd.app, name="config")
    app.add_typer(_vector_cmd.app, name="vector")
    app.add_typer(_keys_cmd.app, name="keys")
    app.add_typer(_jwt_cmd.app, name="jwt")
    app.add_typer(_audit_cmd.app, name="audit")
    app.add_typer(_ids_cmd.app, name="id")
    app.add_typer(_mq_cmd.app, name="mq")
    _doctor.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run ``llm-infra`` (the console script and ``python -m llm_infra``).

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).
    """
    app(args=argv, prog_name="llm-infra", obj=State())


__all__ = ["app", "main"]
