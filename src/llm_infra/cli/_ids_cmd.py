"""``llm-infra id uuid7|ulid|snowflake``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

app = typer.Typer(help="Generate identifiers (one per line).", no_args_is_help=True)

Count = Annotated[int, typer.Option("-n", "--count", min=1, max=1_000_000, help="How many ids.")]


def _emit(ids: list[str]) -> None:
    sys.stdout.write("\n".join(ids) + "\n")


@app.command("uuid7")
def uuid7(n: Count = 1) -> None:
    """Time-ordered UUIDv7 ids (RFC 9562), monotonic within the process.

    Example: llm-infra id uuid7 -n 3
    """
    from llm_infra.ids import uuid7 as new

    _emit([new() for _ in range(n)])


@app.command("ulid")
def ulid(n: Count = 1) -> None:
    """ULIDs (26 characters, Crockford base32, time-ordered).

    Example: llm-infra id ulid -n 3
    """
    from llm_infra.ids import ulid as new

    _emit([new() for _ in range(n)])


@app.command("snowflake")
def snowflake(
    n: Count = 1,
    worker_id: Annotated[
        int, typer.Option("--worker-id", "-w", help="Worker id 0..1023, unique per generating process.")
    ] = 0,
) -> None:
    """64-bit Snowflake ids (milliseconds, worker, sequence) as decimal integers.

    Example: llm-infra id snowflake -n 3 --worker-id 7
    """
    from llm_infra.ids import Snowflake

    gen = Snowflake(worker_id)
    _emit([str(gen.next_id()) for _ in range(n)])


__all__ = ["app"]
