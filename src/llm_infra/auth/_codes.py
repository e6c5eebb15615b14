"""Error codes of the ``auth`` area (``auth.<reason>``), one constant each."""

# ruff: noqa: S105 - these are error codes, not passwords

from __future__ import annotations

from typing import Final

MISSING_CREDENTIALS: Final = "auth.missing_credentials"
INVALID_CREDENTIALS: Final = "auth.invalid_credentials"
INVALID_TOKEN: Final = "auth.invalid_token"
TOKEN_EXPIRED: Final = "auth.token_expired"
KEY_EXPIRED: Final = "auth.key_expired"
KEY_REVOKED: Final = "auth.key_revoked"
INSUFFICIENT_PERMISSIONS: Final = "auth.insufficient_permissions"
UNMAPPED_ROUTE: Final = "auth.unmapped_route"
TOO_MANY_FAILURES: Final = "auth.too_many_failures"
INVALID_IDENTITY: Final = "auth.invalid_identity"
INVALID_OPTION: Final = "auth.invalid_option"
WEAK_PEPPER: Final = "auth.weak_pepper"
KEYSTORE_IO: Final = "auth.keystore_io"
POSTGRES_UNAVAILABLE: Final = "auth.postgres_unavailable"
POSTGRES_ERROR: Final = "auth.postgres_error"
POLICY_INVALID: Final = "auth.policy_invalid"
POLICY_UNKNOWN_ROLE: Final = "auth.policy_unknown_role"
POLICY_CYCLE: Final = "auth.policy_cycle"
POLICY_SYNTAX: Final = "auth.policy_syntax"
POLICY_IO: Final = "auth.policy_io"
POLICY_MISSING: Final = "auth.policy_missing"
"""The ``area`` given to the shared postgres error converter (codes ``auth.postgres_*``)."""

DESCRIPTIONS: Final[dict[str, str]] = {
    MISSING_CREDENTIALS: "no credentials on a path that needs them (401)",
    INVALID_CREDENTIALS: "malformed, conflicting or unknown credentials (401)",
    INVALID_TOKEN: "the JWT failed a signature, header or claim check, or a claim has the wrong type (401)",
    TOKEN_EXPIRED: "an authentic JWT past exp or max_age (401)",
    KEY_EXPIRED: "the API key matched but has expired (401)",
    KEY_REVOKED: "the API key matched but was revoked (401)",
    INSUFFICIENT_PERMISSIONS: "the identity lacks the permission the route needs (403)",
    UNMAPPED_ROUTE: "the route names no permission and is not public: denied by default (403)",
    TOO_MANY_FAILURES: "too many failed authentication attempts from this client network (429)",
    INVALID_IDENTITY: "an Identity field has the wrong shape",
    INVALID_OPTION: "an authentication option is invalid",
    WEAK_PEPPER: "the API-key pepper is shorter than 32 bytes",
    KEYSTORE_IO: "the SQLite key store file cannot be opened",
    POSTGRES_UNAVAILABLE: "PostgreSQL could not be reached (retryable)",
    POSTGRES_ERROR: "PostgreSQL rejected a key-store statement",
    POLICY_INVALID: "an RBAC policy entry is malformed",
    POLICY_UNKNOWN_ROLE: "an RBAC role inherits a role that does not exist",
    POLICY_CYCLE: "RBAC role inheritance forms a cycle",
    POLICY_SYNTAX: "the RBAC policy file is not valid TOML/YAML/JSON or not UTF-8",
    POLICY_IO: "the RBAC policy file cannot be read",
    POLICY_MISSING: "no RBAC policy at the configured key",
}

__all__ = [
    "DESCRIPTIONS",
    "INSUFFICIENT_PERMISSIONS",
    "INVALID_CREDENTIALS",
    "INVALID_IDENTITY",
    "INVALID_OPTION",
    "INVALID_TOKEN",
    "KEYSTORE_IO",
    "KEY_EXPIRED",
    "KEY_REVOKED",
    "MISSING_CREDENTIALS",
    "POLICY_CYCLE",
    "POLICY_INVALID",
    "POLICY_IO",
    "POLICY_MISSING",
    "POLICY_SYNTAX",
    "POLICY_UNKNOWN_ROLE",
    "POSTGRES_ERROR",
    "POSTGRES_UNAVAILABLE",
    "TOKEN_EXPIRED",
    "TOO_MANY_FAILURES",
    "UNMAPPED_ROUTE",
    "WEAK_PEPPER",
]
