"""Error codes of ``llm_infra.audit``."""

from __future__ import annotations

from typing import Final

WEAK_KEY: Final = "audit.weak_key"
INVALID_EVENT: Final = "audit.invalid_event"
INVALID_OPTION: Final = "audit.invalid_option"
CHAIN_CORRUPT: Final = "audit.chain_corrupt"
CHAIN_TRUNCATED: Final = "audit.chain_truncated"
HEAD_MISSING: Final = "audit.head_missing"
POSTGRES_UNAVAILABLE: Final = "audit.postgres_unavailable"
POSTGRES_ERROR: Final = "audit.postgres_error"

DESCRIPTIONS: Final[dict[str, str]] = {
    WEAK_KEY: "An audit HMAC key is shorter than 32 bytes.",
    INVALID_EVENT: "A security event has invalid fields, or a stored event does not decode.",
    INVALID_OPTION: "SecurityAuditLog or a sink was given an invalid option.",
    CHAIN_CORRUPT: "The audit chain's last record or its head does not verify; run verify_chain.",
    CHAIN_TRUNCATED: "The audit chain has fewer records than its head says: records were removed.",
    HEAD_MISSING: (
        "The audit chain file exists without its .head file; verify it, then reseal it with "
        "python -m llm_infra.audit reseal PATH."
    ),
    POSTGRES_UNAVAILABLE: "The audit database is unreachable or busy (retryable).",
    POSTGRES_ERROR: "The audit database rejected a statement (not retryable).",
}
