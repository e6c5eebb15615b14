"""Error codes the ``llm-infra`` command itself produces (``cli.<reason>``)."""

from __future__ import annotations

from typing import Final

NOT_AVAILABLE: Final = "cli.not_available"
INVALID_INPUT: Final = "cli.invalid_input"
UNKNOWN_FORMAT: Final = "cli.unknown_format"
IMPORT_PARTIAL: Final = "cli.import_partial"
VERIFY_FAILED: Final = "cli.verify_failed"
AUDIT_CHAIN_INVALID: Final = "cli.audit_chain_invalid"
MISSING_SECRET: Final = "cli.missing_secret"  # noqa: S105 - an error code, not a secret
UNSUPPORTED_URL: Final = "cli.unsupported_url"
UNREACHABLE: Final = "cli.unreachable"
DATA_DIR: Final = "cli.data_dir"
DOCTOR_FAILED: Final = "cli.doctor_failed"
INTERRUPTED: Final = "cli.interrupted"

DESCRIPTIONS: Final[dict[str, str]] = {
    NOT_AVAILABLE: "the command's backend (server, queue, migration) is not part of this installation",
    INVALID_INPUT: "an option or argument value is malformed (a vector, a filter, a claim, a header)",
    UNKNOWN_FORMAT: "an import file's format is neither given nor recognisable from its extension",
    IMPORT_PARTIAL: "`vector import` wrote some records and refused others (each is listed with its code)",
    VERIFY_FAILED: "`vector verify` found the store inconsistent",
    AUDIT_CHAIN_INVALID: "`audit verify` found an edited, reordered, torn or truncated audit chain",
    MISSING_SECRET: "a signing or verification key was neither given by option, environment nor config",
    UNSUPPORTED_URL: "a backend URL has a scheme this command does not handle",
    UNREACHABLE: "`doctor` could not open a TCP connection to a configured backend within its timeout",
    DATA_DIR: "the data directory is missing and cannot be created, or is not writable",
    DOCTOR_FAILED: "`doctor` found at least one failed check",
    INTERRUPTED: "the command was interrupted (Ctrl-C)",
}

__all__ = [
    "AUDIT_CHAIN_INVALID",
    "DATA_DIR",
    "DESCRIPTIONS",
    "DOCTOR_FAILED",
    "IMPORT_PARTIAL",
    "INTERRUPTED",
    "INVALID_INPUT",
    "MISSING_SECRET",
    "NOT_AVAILABLE",
    "UNKNOWN_FORMAT",
    "UNREACHABLE",
    "UNSUPPORTED_URL",
    "VERIFY_FAILED",
]
