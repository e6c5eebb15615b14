"""``llm-infra audit verify``: check a hash-chained audit file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llm_infra.cli import _codes
from llm_infra.cli._options import AsJson, env_secret
from llm_infra.cli._output import die, kv, print_json
from llm_infra.cli._state import state
from llm_infra.secrets import Secret

app = typer.Typer(help="Check the security audit log.", no_args_is_help=True)


@app.command("verify")
def verify(
    ctx: typer.Context,
    *,
    path: Annotated[
        Path | None,
        typer.Argument(help="The audit JSONL file (default: audit.file, else ./data/audit/audit.jsonl)."),
    ] = None,
    key_env: Annotated[
        str | None, typer.Option("--key-env", help="Environment variable holding the chain's HMAC key.")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="File holding the chain's HMAC key.")
    ] = None,
    no_head: Annotated[
        bool, typer.Option("--no-head", help="Accept a missing .head file (truncation goes undetected).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Verify every record's MAC, sequence and chain link, and the head; exit 1 at the first bad record.

    The key comes from --key-env, --key-file, the configuration (audit.key), else the key the
    service generated in its data directory (audit/chain.key).

    Example: llm-infra audit verify data/audit/audit.jsonl --key-env LLM_AUDIT_KEY
    """
    from llm_infra.audit import verify_chain

    st = state(ctx)
    path = path or st.audit_file()
    key: Secret[str] | Secret[bytes]
    if key_env is not None:
        key = env_secret(key_env)
    elif key_file is not None:
        key = Secret(key_file.read_bytes().rstrip(b"\r\n"))
    else:
        configured = st.config().get("audit.key")
        if isinstance(configured, Secret):
            configured = configured.reveal()
        generated = st.audit_key_file()
        if configured:
            key = Secret(str(configured))
        elif generated.is_file():
            key = Secret(generated.read_bytes().strip())
        else:
            raise die(_codes.MISSING_SECRET, "no audit key: pass --key-env NAME or --key-file PATH")
    report = verify_chain(path, key, require_head=not no_head)
    summary = {
        "file": str(path),
        "ok": report.ok,
        "records": report.records,
        "first_bad_index": report.first_bad_index,
        "reason": report.reason,
    }
    if as_json:
        print_json(summary)
    else:
        kv(summary)
    if not report.ok:
        where = "" if report.first_bad_index is None else f" at record {report.first_bad_index}"
        raise die(
            _codes.AUDIT_CHAIN_INVALID,
            f"the audit chain in {path} does not verify{where}: {report.reason}",
            reason=report.reason,
        )


__all__ = ["app"]
