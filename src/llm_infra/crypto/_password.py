"""Password hashing with Argon2id (PHC strings) over argon2-cffi, with a parameter floor."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Final, final

from llm_infra._internal._lazy import require
from llm_infra.crypto import _codes
from llm_infra.crypto._kdf import (
    DEFAULT_MEMORY_COST,
    DEFAULT_PARALLELISM,
    DEFAULT_TIME_COST,
    as_secret_bytes,
    check_argon2_params,
)
from llm_infra.errors import ConfigError, CryptoError
from llm_infra.secrets import Secret

DEFAULT_MAX_PASSWORD_BYTES: Final = 1024
_PREFIX: Final = "$argon2id$"


def _argon2() -> ModuleType:
    """The ``argon2`` module, or ``ConfigError`` naming ``pip install 'llm-infra[crypto]'``."""
    return require("argon2", "crypto")


def _is_argon2id_hash(argon2: Any, value: object) -> bool:
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        return False
    try:
        argon2.extract_parameters(value)
    except argon2.exceptions.InvalidHashError:
        return False
    return True


@final
class PasswordHasher:
    """Hash and verify passwords with Argon2id; refuses parameters under OWASP's minimum.

    The defaults are RFC 9106's second recommendation (t=3, m=64 MiB, p=4). Hashes are PHC
    strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) carrying their parameters, so
    ``needs_rehash`` can tell when a stored hash is weaker than the current policy.

    Args:
        time_cost: passes over memory.
        memory_cost: memory in KiB.
        parallelism: lanes.
        hash_len: output bytes (16-64).
        salt_len: random salt bytes (16-64).
        max_password_bytes: longer passwords are refused (bounds the work an attacker can ask for).

    Raises:
        ConfigError: for parameters under OWASP's minimum or out of range; ``config.missing_extra``
            (with the ``pip install 'llm-infra[crypto]'`` line) when argon2-cffi is not installed.

    .. warning::
        Verify at login, then call ``needs_rehash`` and store a fresh hash when it says so.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_argon2", "_hasher", "max_password_bytes")

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST,
        parallelism: int = DEFAULT_PARALLELISM,
        hash_len: int = 32,
        salt_len: int = 16,
        max_password_bytes: int = DEFAULT_MAX_PASSWORD_BYTES,
    ) -> None:
        check_argon2_params(time_cost, memory_cost, parallelism)
        if not isinstance(hash_len, int) or not 16 <= hash_len <= 64:
            raise ConfigError("hash_len must be between 16 and 64", key="hash_len")
        if not isinstance(salt_len, int) or not 16 <= salt_len <= 64:
            raise ConfigError("salt_len must be between 16 and 64", key="salt_len")
        if not isinstance(max_password_bytes, int) or not 8 <= max_password_bytes <= 1 << 16:
            raise ConfigError("max_password_bytes must be between 8 and 65536", key="max_password_bytes")
        self.max_password_bytes = max_password_bytes
        argon2 = self._argon2 = _argon2()
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )

    def hash(self, password: str | bytes | Secret[str] | Secret[bytes]) -> str:
        """Hash ``password`` with a fresh random salt; return the PHC string.

        Raises:
            CryptoError: ``crypto.password_too_long`` above ``max_password_bytes``;
                ``crypto.invalid_input`` for an empty password.
        """
        raw = as_secret_bytes(password, "password")
        if not raw:
            raise CryptoError("the password is empty", code=_codes.INVALID_INPUT, operation="hash_password")
        if len(raw) > self.max_password_bytes:
            raise CryptoError(
                f"passwords are limited to {self.max_password_bytes} bytes",
                code=_codes.PASSWORD_TOO_LONG,
                operation="hash_password",
            )
        hashed: str = self._hasher.hash(raw)
        return hashed

    def verify(self, password_hash: str, password: str | bytes | Secret[str] | Secret[bytes]) -> bool:
        """Whether ``password`` matches ``password_hash`` (constant-time inside libargon2).

        Returns ``False`` for a wrong, empty or over-long password.

        Raises:
            CryptoError: ``crypto.invalid_hash`` when ``password_hash`` is not an Argon2id PHC string
                (a corrupt store, not a wrong password).
        """
        if not _is_argon2id_hash(self._argon2, password_hash):
            raise CryptoError(
                "not an Argon2id password hash", code=_codes.INVALID_HASH, operation="verify_password"
            )
        raw = as_secret_bytes(password, "password")
        if not raw or len(raw) > self.max_password_bytes:
            return False
        errors = self._argon2.exceptions
        try:
            return bool(self._hasher.verify(password_hash, raw))
        except (errors.VerifyMismatchError, errors.VerificationError):
            # A mismatch, or libargon2 refusing the (well-formed) hash: either way not this password.
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether ``password_hash`` was made with other parameters (or another Argon2 variant)."""
        if not _is_argon2id_hash(self._argon2, password_hash):
            return True
        return bool(self._hasher.check_needs_rehash(password_hash))

    def __repr__(self) -> str:
        h = self._hasher
        return (
            f"PasswordHasher(time_cost={h.time_cost}, memory_cost={h.memory_cost}, "
            f"parallelism={h.parallelism}, max_password_bytes={self.max_password_bytes})"
        )
