"""Error codes of the ``crypto`` area (``crypto.<reason>``), one constant each."""

from __future__ import annotations

from typing import Final

DECRYPT_FAILED: Final = "crypto.decrypt_failed"
INPUT_TOO_LARGE: Final = "crypto.input_too_large"
INVALID_CLAIMS: Final = "crypto.invalid_claims"
INVALID_ENCODING: Final = "crypto.invalid_encoding"
INVALID_HASH: Final = "crypto.invalid_hash"
INVALID_INPUT: Final = "crypto.invalid_input"
INVALID_JWKS: Final = "crypto.invalid_jwks"
INVALID_KEY: Final = "crypto.invalid_key"
INVALID_KEY_SIZE: Final = "crypto.invalid_key_size"
INVALID_SIGNATURE: Final = "crypto.invalid_signature"
KDF_FAILED: Final = "crypto.kdf_failed"
KEY_EXHAUSTED: Final = "crypto.key_exhausted"
NO_KEY: Final = "crypto.no_key"
PASSWORD_TOO_LONG: Final = "crypto.password_too_long"  # noqa: S105 - an error code

# The JWT validator reports token failures with the auth area's codes (``auth.invalid_token``,
# ``auth.token_expired``, defined and described in ``llm_infra.auth._codes``); crypto sits below
# auth, so it names them here without describing them twice.
AUTH_INVALID_TOKEN: Final = "auth.invalid_token"  # noqa: S105 - an error code
AUTH_TOKEN_EXPIRED: Final = "auth.token_expired"  # noqa: S105 - an error code

DESCRIPTIONS: Final[dict[str, str]] = {
    DECRYPT_FAILED: "AEAD decryption failed: wrong key, wrong associated data or tampered ciphertext",
    INPUT_TOO_LARGE: "the input exceeds the size the primitive accepts",
    INVALID_CLAIMS: "the claims to sign are not a JSON object with well-typed registered claims",
    INVALID_ENCODING: "the input is not canonical base64url (or another required encoding)",
    INVALID_HASH: "the stored password hash is not an Argon2id PHC string",
    INVALID_INPUT: "an argument has the wrong type or is empty",
    INVALID_JWKS: "the JWKS document is malformed or carries a symmetric (oct) key",
    INVALID_KEY: "the key is malformed, of an unsupported type, weak, or unfit for the algorithm",
    INVALID_KEY_SIZE: "the key is shorter than the algorithm requires",
    INVALID_SIGNATURE: "the signature does not verify",
    KDF_FAILED: "the key derivation function failed",
    KEY_EXHAUSTED: "the AES-GCM key reached its safe number of encryptions; rotate it",
    NO_KEY: "no key with the id named by the ciphertext is in the keyring",
    PASSWORD_TOO_LONG: "the password exceeds max_password_bytes",
}

__all__ = [
    "AUTH_INVALID_TOKEN",
    "AUTH_TOKEN_EXPIRED",
    "DECRYPT_FAILED",
    "DESCRIPTIONS",
    "INPUT_TOO_LARGE",
    "INVALID_CLAIMS",
    "INVALID_ENCODING",
    "INVALID_HASH",
    "INVALID_INPUT",
    "INVALID_JWKS",
    "INVALID_KEY",
    "INVALID_KEY_SIZE",
    "INVALID_SIGNATURE",
    "KDF_FAILED",
    "KEY_EXHAUSTED",
    "NO_KEY",
    "PASSWORD_TOO_LONG",
]
