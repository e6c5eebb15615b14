"""JOSE parsing shared by the JWT validator, signer, keys and JWKS: strict JSON and claim types.

Nothing here verifies a signature. It turns bytes into duplicate-free JSON objects, names the
supported algorithms, and decides whether a registered claim has its one allowed type.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

import orjson

from llm_infra.crypto import _codes
from llm_infra.errors import AuthError, ConfigError

ALGORITHMS: Final = ("HS256", "HS384", "HS512", "ES256", "EdDSA", "Ed25519", "RS256")
"""Every JWS algorithm this package signs and verifies; ``none`` is never one of them.

``Ed25519`` is RFC 9864's fully-specified name for EdDSA over Ed25519 (``EdDSA`` stays the default
for interoperability); a key pinned to one name does not accept tokens carrying the other.
"""

MAX_TOKEN_BYTES: Final = 8192
"""Tokens longer than this are rejected before any decoding."""

HMAC_HASH: Final = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
HMAC_MIN: Final = {"HS256": 32, "HS384": 48, "HS512": 64}
# Header members that would make us fetch, trust or interpret something we do not support:
# jku/x5u (fetch a key), jwk/x5c (trust an embedded key), crit (extensions we don't know: none
# are supported), b64 (RFC 7797 unencoded payload), cty (nested JWT), zip/enc (JWE).
FORBIDDEN_HEADER: Final = frozenset({"crit", "jku", "jwk", "x5u", "x5c", "b64", "cty", "zip", "enc"})
ALLOWED_TYP: Final = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})
MAX_KID: Final = 256

NUMERIC_DATES: Final = ("exp", "nbf", "iat")
STRING_CLAIMS: Final = ("iss", "sub", "jti")
MAX_NUMERIC_DATE: Final = 253_402_300_799
"""The largest NumericDate accepted (9999-12-31T23:59:59Z); larger values are not dates."""


class Reject(Exception):
    """Internal signal: the token is invalid (converted to one opaque ``AuthError``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invalid_token(reason: str) -> AuthError:
    """The one error of every invalid token; ``reason`` is for server logs only."""
    # Context attributes never reach a client's problem+json body; the message is the same for
    # every failure so it tells an attacker nothing.
    return AuthError(
        "invalid token", kind="invalid_token", code=_codes.AUTH_INVALID_TOKEN, context={"reason": reason}
    )


def expired(reason: str) -> AuthError:
    """The error of an authentic token past ``exp`` or ``max_age``."""
    return AuthError(
        "token expired", kind="token_expired", code=_codes.AUTH_TOKEN_EXPIRED, context={"reason": reason}
    )


# ---------------------------------------------------------------------------------------------
# Strict JSON: no duplicate members, no NaN/Infinity, no lone surrogates, objects only.


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs_hook, parse_constant=_no_constant, parse_float=_finite_float
)


def json_object(raw: bytes) -> dict[str, Any]:
    """Parse a JOSE header or claims set; raise ``ValueError``/``RecursionError`` on anything odd."""
    text = raw.decode("utf-8")
    obj = _DECODER.decode(text)
    if type(obj) is not dict:
        raise ValueError("not a JSON object")
    if "\\u" in text:
        # The stdlib accepts lone surrogate escapes; orjson refuses them. Only pay for it when an
        # escape is present at all (rare in tokens).
        orjson.loads(raw)
    return obj


# ---------------------------------------------------------------------------------------------
# Registered claim types (RFC 7519 §4.1): each has exactly one type; null is never one.


def numeric_date(value: object) -> bool:
    """Whether ``value`` is a NumericDate: a finite int/float (not bool) in ``[0, 9999-12-31]``."""
    kind = type(value)
    if kind is int:
        return 0 <= value <= MAX_NUMERIC_DATE  # type: ignore[operator]
    if kind is float:
        return math.isfinite(value) and 0.0 <= value <= MAX_NUMERIC_DATE  # type: ignore[arg-type,operator]
    return False


def audience_value(value: object) -> bool:
    """Whether ``value`` is an ``aud``: a non-empty string or a non-empty list of them."""
    if type(value) is str:
        return bool(value)
    return type(value) is list and bool(value) and all(type(a) is str and a for a in value)


_ABSENT: Final = object()


def registered_claim_error(claims: dict[str, Any]) -> str | None:
    """The name of the first registered claim with the wrong type (``None`` when all are fine)."""
    # Inlined (this runs on every verification): NaN and infinities fail the range comparisons.
    get = claims.get
    for name in NUMERIC_DATES:
        value = get(name, _ABSENT)
        if value is _ABSENT:
            continue
        kind = type(value)
        if (kind is int or kind is float) and 0 <= value <= MAX_NUMERIC_DATE:
            continue
        return name
    for name in STRING_CLAIMS:
        value = get(name, _ABSENT)
        if value is not _ABSENT and type(value) is not str:
            return name
    aud = get("aud", _ABSENT)
    if aud is not _ABSENT and not (type(aud) is str and aud) and not audience_value(aud):
        return "aud"
    return None


# ---------------------------------------------------------------------------------------------
# Options


def check_algorithm(algorithm: object) -> str:
    """``algorithm`` when it is supported, else ``ConfigError``."""
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ConfigError(
            f"unsupported JWT algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}",
            key="algorithm",
            code="config.invalid_value",
        )
    return algorithm


def check_kid(kid: object) -> str | None:
    """``kid`` when it is ``None`` or a short non-empty string, else ``ConfigError``."""
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID):
        raise ConfigError(f"a key id must be a non-empty string of at most {MAX_KID} characters", key="kid")
    return kid


__all__ = [
    "ALGORITHMS",
    "ALLOWED_TYP",
    "FORBIDDEN_HEADER",
    "HMAC_HASH",
    "HMAC_MIN",
    "MAX_KID",
    "MAX_NUMERIC_DATE",
    "MAX_TOKEN_BYTES",
    "Reject",
    "audience_value",
    "check_algorithm",
    "check_kid",
    "expired",
    "invalid_token",
    "json_object",
    "numeric_date",
    "registered_claim_error",
]
