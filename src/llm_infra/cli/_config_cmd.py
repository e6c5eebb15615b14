"""``llm-infra config show|validate``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from llm_infra.cli._options import AsJson
from llm_infra.cli._output import kv, out, print_json
from llm_infra.cli._state import state
from llm_infra.config import Config
from llm_infra.secrets import MASK, Secret, is_secret_name

app = typer.Typer(help="Show and check the effective configuration.", no_args_is_help=True)


def _has_password(value: str) -> bool:
    if "://" not in value:
        return False
    try:
        return urlsplit(value).password is not None
    except ValueError:
        return False


def _display(key: str, value: object, *, reveal: bool) -> object:
    """``value`` for display: secrets (by type or by name) and URL passwords masked unless ``reveal``."""
    if isinstance(value, Secret):
        return value.reveal() if reveal else MASK
    if reveal:
        return value
    if is_secret_name(key) and value is not None:
        return MASK
    if isinstance(value, str) and _has_password(value):
        from llm_infra.http._errors import redact_url

        return redact_url(value)
    if isinstance(value, list | tuple):
        return [_display(key, v, reveal=reveal) for v in value]
    return value


def _flat(cfg: Config, *, reveal: bool) -> dict[str, Any]:
    return {key: _display(key, cfg.get(key), reveal=reveal) for key in cfg}


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


@app.command("show")
def show(
    ctx: typer.Context,
    *,
    keys: Annotated[
        list[str] | None, typer.Argument(help="Only these keys or sections (e.g. auth, vector.hnsw).")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Show where each value comes from (file:line, env var, default)."),
    ] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show secret values (masked by default).")] = False,
    as_json: AsJson = False,
) -> None:
    """Print the effective configuration; secrets are masked unless --reveal.

    Example: llm-infra config show --explain auth vector.hnsw
    """
    cfg = state(ctx).config()
    wanted = tuple(keys or ())

    def selected(name: str) -> bool:
        return not wanted or any(name == w or name.startswith(w + ".") for w in wanted)

    flat = {k: v for k, v in _flat(cfg, reveal=reveal).items() if selected(k)}
    if explain:
        rows = []
        for item in cfg.explain_all():
            if not selected(item.key):
                continue
            origin = str(item.origin) if item.origin is not None else "not set"
            if item.shadowed:
                origin += " (overrides " + ", ".join(str(o) for o in item.shadowed) + ")"
            rows.append({"key": item.key, "value": flat.get(item.key, item.value), "origin": origin})
        if as_json:
            print_json(rows)
            return
        console = out()
        for row in rows:
            console.print(
                f"{escape(row['key'])} = {escape(repr(row['value']))}  [dim]\\[{escape(row['origin'])}][/dim]"
            )
        return
    if as_json:
        print_json(_nest(flat))
        return
    kv(flat)


@app.command("validate")
def validate(ctx: typer.Context) -> None:
    """Load the configuration and check every value of a declared key; exit 1 listing the problems.

    Keys the service does not need (the single-store ``vector.collection``, ...) may stay unset.

    Example: llm-infra --config llm-infra.toml config validate
    """
    st = state(ctx)
    cfg = st.config()
    cfg.validate(*(key for key in cfg.declared_keys.values() if not key.required or key.name in cfg))
    files = [path for path, found in cfg.info.files if found]
    where = ", ".join(files) if files else "defaults and environment only"
    out().print(f"configuration is valid ({len(cfg.keys())} keys; {escape(where)})")


__all__ = ["app"]
