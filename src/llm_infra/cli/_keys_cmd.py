"""``llm-infra keys create|list|revoke``: the service's API key store, directly."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Final

import typer

from llm_infra.cli import _codes
from llm_infra.cli._options import AsJson
from llm_infra.cli._output import die, err, print_json, table
from llm_infra.cli._state import State, state

if TYPE_CHECKING:
    from llm_infra.auth import ApiKeyAuthenticator, ApiKeyRecord, KeyStore

app = typer.Typer(
    help="Manage the service's API keys (auth.keys_url; default ./data/auth/api_keys.sqlite3).",
    no_args_is_help=True,
)

ROLES: Final = ("admin", "writer", "reader")
"""The service's roles."""

SEP: Final = "/"
"""The service stores a key's subject as ``<tenant>/<subject>``."""

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Key store: a SQLite path or postgresql:// URL (default: auth.keys_url)."),
]


def open_key_store(url: str) -> KeyStore:
    """A ``KeyStore`` for ``url``: ``postgresql://``/``postgres://`` or a SQLite file path."""
    from llm_infra.auth import PostgresKeyStore, SqliteKeyStore

    if url.startswith(("postgresql://", "postgres://")):
        return PostgresKeyStore(url)
    if url.startswith("sqlite://"):
        return SqliteKeyStore(url.removeprefix("sqlite://"))
    if "://" in url:
        raise die(
            _codes.UNSUPPORTED_URL,
            "auth.keys_url must be a SQLite path or a postgresql:// URL, "
            f"got scheme {url.split('://', maxsplit=1)[0]!r}",
        )
    return SqliteKeyStore(url)


@contextmanager
def _authenticator(st: State, store_url: str | None) -> Iterator[ApiKeyAuthenticator]:
    from llm_infra.auth import ApiKeyAuthenticator

    store = open_key_store(store_url or st.keys_url())
    try:
        yield ApiKeyAuthenticator(store)
    finally:
        store.close()


def _when(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(record: ApiKeyRecord) -> dict[str, object]:
    status = "revoked" if record.revoked else "active"
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC).timestamp():
        status = "expired"
    return {
        "id": record.key_id,
        "subject": record.subject.split(SEP, 1)[-1],
        "tenant": record.tenant,
        "roles": sorted(record.roles),
        "collections": list(record.attributes.get("collections", []) or []),  # type: ignore[call-overload]
        "name": record.name,
        "status": status,
        "created": _when(record.created_at),
        "expires": _when(record.expires_at),
        "last_used": _when(record.last_used_at),
    }


@app.command("create")
def create(
    ctx: typer.Context,
    *,
    subject: Annotated[str, typer.Argument(help="Who the key authenticates as.")],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", "-r", help="Role: admin, writer or reader (default reader); repeatable."),
    ] = None,
    collection: Annotated[
        list[str] | None, typer.Option("--collection", help="Limit the key to a collection; repeatable.")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant (default: server.default_tenant, else 'default').")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for humans.")] = None,
    expires_in: Annotated[
        float | None,
        typer.Option("--expires-in", min=1, help="Lifetime in seconds (default: never expires)."),
    ] = None,
    store: StoreOpt = None,
    as_json: AsJson = False,
) -> None:
    """Create a key; the full key is printed once (only its hash is stored).

    Example: llm-infra keys create alice --role writer --collection docs
    """
    st = state(ctx)
    roles = role or ["reader"]
    bad = sorted(set(roles) - set(ROLES))
    if bad:
        raise die(_codes.INVALID_INPUT, f"unknown role(s) {', '.join(bad)}; roles are {', '.join(ROLES)}")
    if not subject or SEP in subject:
        raise die(_codes.INVALID_INPUT, f"a subject is a non-empty name without {SEP!r}")
    owner = tenant or st.default_tenant()
    attributes: dict[str, object] = {"collections": list(collection)} if collection else {}
    with _authenticator(st, store) as auth:
        issued = auth.issue(
            f"{owner}{SEP}{subject}",
            roles,
            tenant=owner,
            attributes=attributes,
            expires_in=expires_in,
            name=name,
            actor="cli",
        )
    if as_json:
        print_json({"key": issued.key.reveal(), **_row(issued.record)})
        return
    sys.stdout.write(issued.key.reveal() + "\n")
    err().print(f"created key {issued.key_id} for {subject}; it is shown only this once", style="dim")


@app.command("list")
def list_keys(
    ctx: typer.Context,
    *,
    subject: Annotated[str | None, typer.Option(help="Only this subject's keys.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    store: StoreOpt = None,
    as_json: AsJson = False,
) -> None:
    """List keys (ids, subjects, roles, status; never the keys themselves).

    Example: llm-infra keys list --subject alice
    """
    with _authenticator(state(ctx), store) as auth:
        rows = [_row(r) for r in auth.list_keys()]
    rows = [
        r
        for r in rows
        if (subject is None or r["subject"] == subject) and (tenant is None or r["tenant"] == tenant)
    ]
    if as_json:
        print_json(rows)
        return
    columns = ["id", "subject", "tenant", "roles", "status", "expires", "last_used"]
    times = {"expires", "last_used"}

    def cell(row: dict[str, object], name: str) -> object:
        value = row[name]
        return (
            str(value)[:10] if name in times and value is not None else value
        )  # the date; --json has it all

    table(f"{len(rows)} API keys", columns, [[cell(r, c) for c in columns] for r in rows])


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    *,
    key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`) or the full key.")],
    store: StoreOpt = None,
) -> None:
    """Revoke a key by id (idempotent); it is refused from now on.

    Example: llm-infra keys revoke 3J5Q0Z8K2M4N6P8R
    """
    with _authenticator(state(ctx), store) as auth:
        ident = auth.key_id_of(key_id) if key_id.startswith("lli_") else key_id
        auth.revoke(ident, actor="cli")
    err().print(f"revoked key {ident}")


__all__ = ["app", "open_key_store"]
