"""The troubleshooting guide's fixes, by error code.

docs/troubleshooting.md quotes every line of ``FIXES`` verbatim under its code (a test checks
it), so what the command prints after an error and what the guide says are the same words.
A key ``*.redis_unavailable`` matches that reason in any area (``ratelimit.redis_unavailable``).
"""

from __future__ import annotations

from typing import Final

from llm_infra.cli import _codes

GUIDE_URL: Final = "docs/troubleshooting.md"
"""Where the full guide lives in the repository."""

FIXES: Final[dict[str, tuple[str, ...]]] = {
    # -- configuration -------------------------------------------------------------------------
    "config.parse_error": (
        "Fix the file at the line and column shown (the caret marks the spot).",
        "Re-check it with `llm-infra config validate`.",
    ),
    "config.file_not_found": (
        "Check the path given to --config.",
        "Without --config, llm-infra reads ./llm-infra.toml only when it exists.",
    ),
    "config.wrong_type": (
        "Give the key a value of the expected type.",
        "`llm-infra config show --explain` names the file, line or variable that set it.",
    ),
    "config.missing_key": (
        "Set the key in llm-infra.toml or in the environment, e.g. LLM_VECTOR_DIMENSIONS=384.",
    ),
    "config.ambiguous_env": ("Use the `__` spelling the message lists, e.g. LLM_VECTOR__HNSW__M.",),
    "config.secret_unresolved": (
        "Export the variable, or create the file, that ${env:...}/${file:...} names.",
    ),
    "config.missing_extra": (
        "Install the extra the message names, e.g. pip install 'llm-infra[postgres]'.",
        "pip install 'llm-infra[all]' installs every backend.",
    ),
    # -- vector store --------------------------------------------------------------------------
    "vector.dimension_mismatch": (
        "Every vector of a collection has the collection's dimensions.",
        "`llm-infra vector stats STORE` shows them; use the embedding model the collection was created for.",
    ),
    "vector.locked": (
        "Another process has the store open (often `llm-infra serve`).",
        "Stop it, or go through the service's HTTP API; a store has one writer process at a time.",
    ),
    "vector.storage_corrupt": (
        "Run `llm-infra vector verify STORE` to see what is damaged.",
        "The index is derived: `llm-infra vector rebuild STORE` rebuilds it from the database.",
        "If the database itself is damaged, restore a snapshot (`llm-infra vector snapshot`).",
    ),
    "vector.snapshot_exists": ("Give `vector snapshot` a new or empty destination directory.",),
    "vector.config_required": ("Create the store first: `llm-infra vector create STORE --dimensions N`.",),
    # -- authentication ------------------------------------------------------------------------
    "auth.missing_credentials": ("Send the key as `Authorization: Bearer lli_...` or `X-API-Key: lli_...`.",),
    "auth.invalid_credentials": (
        "The key is unknown, mistyped or from another deployment; list keys with `llm-infra keys list`.",
        "Create a new one with `llm-infra keys create SUBJECT --role reader`.",
    ),
    "auth.key_revoked": ("The key was revoked; create a new one with `llm-infra keys create`.",),
    "auth.key_expired": ("The key expired; create a new one (`--expires-in` sets its lifetime).",),
    "auth.invalid_token": (
        "Check the token's key, algorithm, issuer and audience: `llm-infra jwt verify TOKEN` shows why.",
    ),
    "auth.token_expired": ("Issue a new token; keep client and server clocks in sync (NTP).",),
    "auth.insufficient_permissions": (
        "The identity lacks the role this needs; use a key with that role (admin, writer or reader).",
    ),
    "auth.keystore_io": (
        "The key store cannot be opened: check the data directory's permissions (`llm-infra doctor`).",
    ),
    "crypto.invalid_key_size": (
        "HS256 needs a secret of at least 32 bytes: generate one with `openssl rand -hex 32`.",
    ),
    # -- limits, timeouts, dependencies --------------------------------------------------------
    "rate_limited": (
        "Wait the Retry-After seconds before the next call, or raise the limit in the configuration.",
    ),
    "http.timeout": (
        "The server did not answer in time: check that it is up and reachable (`llm-infra doctor`).",
        "Raise http.timeout_secs for slow endpoints.",
    ),
    "http.deadline_exceeded": (
        "The whole call, retries included, ran past its deadline; raise the deadline or retry later.",
    ),
    "http.request_timeout": (
        "The service gave up on a slow request; send smaller batches or raise the request deadline.",
    ),
    "circuit.open": (
        "A dependency failed repeatedly; the breaker refuses calls for retry_after seconds.",
        "Check the dependency's health (`llm-infra doctor`) and wait for the breaker to admit a probe.",
    ),
    "*.redis_unavailable": (
        "Redis did not answer: start it or fix the URL (redis://host:6379/0).",
        "`llm-infra doctor` checks every configured backend.",
    ),
    "*.postgres_unavailable": (
        "PostgreSQL did not answer: start it or fix the URL (postgresql://user@host:5432/db).",
        "`llm-infra doctor` checks every configured backend.",
    ),
    # -- audit, files --------------------------------------------------------------------------
    "audit.chain_corrupt": (
        "The audit file was edited or damaged; `llm-infra audit verify FILE` names the first bad record.",
        "Keep the damaged file as evidence and start a new chain in a new file.",
    ),
    "audit.chain_truncated": (
        "Records were removed from the end of the audit file; restore it from a backup.",
    ),
    "io.permission_denied": (
        "Give the service's user write access to the path (`llm-infra doctor` checks the data directory).",
    ),
    "io.disk_full": ("Free disk space, then retry; nothing acknowledged was lost.",),
    # -- the command itself --------------------------------------------------------------------
    _codes.NOT_AVAILABLE: ("Install the full package: pip install 'llm-infra[all]'.",),
    _codes.INVALID_INPUT: ("Check the value against the command's --help.",),
    _codes.UNKNOWN_FORMAT: ("Name the format with --format jsonl|csv|npy|parquet.",),
    _codes.IMPORT_PARTIAL: (
        "The records listed were refused (each with its code); fix them and import the file again.",
    ),
    _codes.VERIFY_FAILED: ("Rebuild the index with `llm-infra vector rebuild STORE`, then verify again.",),
    _codes.AUDIT_CHAIN_INVALID: (
        "The record named was edited, removed or reordered; keep the file as evidence.",
        "Check that the key is the one the service writes with (audit.key).",
    ),
    _codes.MISSING_SECRET: (
        "Name the key's environment variable (--secret-env/--key-env NAME) or file (--key-file PATH).",
        "Keys are never taken on the command line, where other users could read them.",
    ),
    _codes.UNSUPPORTED_URL: (
        "Use a path, or a postgresql://, qdrant://, redis://, amqp://, nats:// or memory:// URL.",
    ),
    _codes.UNREACHABLE: ("Start the service or fix its host and port in the configuration.",),
    _codes.DATA_DIR: ("Create the data directory and make it writable by the service's user.",),
    _codes.INTERRUPTED: (
        "Run the command again: `vector import` upserts, so a rerun is safe.",
        "`vector migrate --checkpoint FILE` resumes where it stopped.",
    ),
    _codes.DOCTOR_FAILED: ("Fix the checks marked FAIL, then run `llm-infra doctor` again.",),
}


def entry_for(code: str) -> str | None:
    """The guide's entry for ``code``: the code itself, else ``*.<reason>``, else None."""
    if code in FIXES:
        return code
    _, _, reason = code.partition(".")
    wildcard = f"*.{reason}"
    return wildcard if reason and wildcard in FIXES else None


def fixes_for(code: str) -> tuple[str, ...]:
    """The guide's fixes for ``code`` (exact code first, then ``*.<reason>``), or ``()``."""
    entry = entry_for(code)
    return FIXES[entry] if entry is not None else ()


def heading(entry: str) -> str:
    """The guide's heading text of an entry (``*.x`` is written ``<area>.x``)."""
    return entry.replace("*", "<area>", 1) if entry.startswith("*.") else entry


def slug(text: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return "".join(ch for ch in text.lower() if ch.isalnum() or ch in "-_ ").replace(" ", "-")


def anchor(code: str) -> str:
    """The guide's anchor for ``code`` (of its entry's heading), or "" when it has no entry."""
    entry = entry_for(code)
    return slug(heading(entry)) if entry is not None else ""


__all__ = ["FIXES", "GUIDE_URL", "anchor", "entry_for", "fixes_for", "heading", "slug"]
