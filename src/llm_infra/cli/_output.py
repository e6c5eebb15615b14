"""Output for people (rich) and scripts (JSON), error reports and progress bars."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from llm_infra.cli import _codes
from llm_infra.cli._guide import GUIDE_URL, anchor, fixes_for
from llm_infra.errors import ConfigError, InfraError, to_infra_error

ProgressFn = Callable[[int, int | None], None]
"""``update(done, total)``: what ``progress`` yields (also accepted where a store wants ``(done, total)``)."""


def out() -> Console:
    """A console on the current ``sys.stdout`` (looked up at each call, so test runners capture it)."""
    return Console(file=sys.stdout, soft_wrap=True, highlight=False)


def err() -> Console:
    """A console on the current ``sys.stderr``."""
    return Console(file=sys.stderr, soft_wrap=True, highlight=False)


def print_json(data: object) -> None:
    """Write ``data`` as one indented JSON document on stdout (for ``--json``)."""
    from llm_infra.json import dumps

    sys.stdout.write(dumps(data, indent=True).decode("utf-8"))
    sys.stdout.write("\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a rich table on stdout."""
    grid = Table(title=title, show_lines=False)
    for index, name in enumerate(columns):
        grid.add_column(name, overflow="fold", no_wrap=index == 0)
    for row in rows:
        grid.add_row(*(escape(_cell(v)) for v in row))
    out().print(grid)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple | frozenset | set):
        return ", ".join(sorted(str(v) for v in value)) or "-"
    return str(value)


def kv(pairs: Mapping[str, object]) -> None:
    """Print ``key: value`` lines, keys aligned."""
    width = max((len(k) for k in pairs), default=0)
    console = out()
    for key, value in pairs.items():
        console.print(f"[bold]{escape(key.ljust(width))}[/bold]  {escape(_cell(value))}")


def cli_error(code: str, message: str, *, remediation: Sequence[str] = (), **context: object) -> InfraError:
    """An error raised by the command itself (``code`` is one of ``llm_infra.cli._codes``)."""
    if code in (
        _codes.INVALID_INPUT,
        _codes.UNKNOWN_FORMAT,
        _codes.MISSING_SECRET,
        _codes.UNSUPPORTED_URL,
        _codes.NOT_AVAILABLE,
    ):
        return ConfigError(message, code=code, remediation=remediation, context=context)
    return InfraError(message, code=code, remediation=remediation, context=context)


def remediation_for(error: InfraError) -> list[str]:
    """The error's own remediation, then the guide's fixes for its code (without repeats)."""
    lines: list[str] = []
    for line in [*error.context.remediation, *fixes_for(error.code)]:
        if line not in lines:
            lines.append(line)
    return lines


def report_error(exc: BaseException, *, debug: bool) -> int:
    """Print code, message and remediation of ``exc`` on stderr; return the exit status (1).

    With ``debug`` the full traceback follows. Anything that is not an ``InfraError`` is
    converted by ``to_infra_error`` first, so every failure has a code.
    """
    error = to_infra_error(exc) if not isinstance(exc, InfraError) else exc
    console = err()
    console.print(Text.assemble(("error", "bold red"), f"[{error.code}]: {error.message}"))
    for line in remediation_for(error):
        console.print(Text.assemble("  ", ("fix:", "bold"), f" {line}"))
    if fixes_for(error.code):
        console.print(f"  see: {GUIDE_URL}#{anchor(error.code)}", markup=False)
    console.print(f"  error id: {error.error_id}", style="dim", markup=False)
    if debug:
        sys.stderr.write("".join(traceback.format_exception(exc)))
    else:
        console.print("  (run with --debug for the traceback)", style="dim")
    return 1


@contextmanager
def progress(description: str, total: int | None = None, *, unit: str = "") -> Iterator[ProgressFn]:
    """A rich progress bar on stderr; yields ``update(done, total)``.

    On a terminal it redraws in place; otherwise (a pipe, a log) it prints its final state once.
    """
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err(), transient=False) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            bar.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update


@contextmanager
def lazy_progress(description: str, *, unit: str = "") -> Iterator[ProgressFn]:
    """Like ``progress``, but the bar appears only if ``update`` is called (work that is often skipped)."""
    with ExitStack() as stack:
        bar: list[ProgressFn] = []

        def update(done: int, total: int | None = None) -> None:
            if not bar:
                bar.append(stack.enter_context(progress(description, total, unit=unit)))
            bar[0](done, total)

        yield update


def die(code: str, message: str, *, remediation: Sequence[str] = (), **context: Any) -> InfraError:
    """Shorthand used as ``raise die(...)``."""
    return cli_error(code, message, remediation=remediation, **context)


__all__ = [
    "ProgressFn",
    "cli_error",
    "die",
    "err",
    "kv",
    "lazy_progress",
    "out",
    "print_json",
    "progress",
    "remediation_for",
    "report_error",
    "table",
]
