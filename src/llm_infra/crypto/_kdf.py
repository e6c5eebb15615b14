"""Argon2id (RFC 9106) through argon2-cffi, with a floor at OWASP's minimum parameters."""

from __future__ import annotations

from typing import Final

from llm_infra._internal._lazy import require
from llm_infra.crypto import _codes
from llm_infra.errors import ConfigError, CryptoError
from llm_infra.secrets import Secret

OWASP_MINIMUMS: Final = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
"""OWASP Password Storage Cheat Sheet floor for Argon2id as (memory KiB, iterations), parallelism 1.

Any pair at or above one of these rows is accepted; more memory or more passes is always fine.
"""

DEFAULT_TIME_COST: Final = 3
DEFAULT_MEMORY_COST: Final = 65536
DEFAULT_PARALLELISM: Final = 4
MIN_SALT_BYTES: Final = 16


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer", key=name)
    return value


def check_argon2_params(time_cost: object, memory_cost: object, parallelism: object) -> None:
    """Raise ``ConfigError`` unless the parameters meet one OWASP row and are sane integers."""
    time_cost = _positive_int(time_cost, "time_cost")
    memory_cost = _positive_int(memory_cost, "memory_cost")
    parallelism = _positive_int(parallelism, "parallelism")
    if parallelism > 64:
        raise ConfigError("parallelism must be at most 64", key="parallelism")
    if memory_cost > 4 * 1024 * 1024:
        raise ConfigError("memory_cost above 4 GiB is refused", key="memory_cost")
    if not any(memory_cost >= m and time_cost >= t for m, t in OWASP_MINIMUMS):
        raise ConfigError(
            "Argon2id parameters are below OWASP's minimum (e.g. memory_cost=19456 with time_cost=2)",
            key="memory_cost",
            code="config.weak_parameters",
            remediation=["use the defaults (time_cost=3, memory_cost=65536, parallelism=4)"],
        )


def argon2id_raw(
    password: bytes, salt: bytes, *, time_cost: int, memory_cost: int, parallelism: int, length: int
) -> bytes:
    """Raw Argon2id v1.3 output, without any parameter policy (known-answer tests use tiny costs).

    Raises:
        ConfigError: ``config.missing_extra`` when argon2-cffi is not installed.
    """
    low_level = require("argon2.low_level", "crypto")
    try:
        raw: bytes = low_level.hash_secret_raw(
            password, salt, time_cost, memory_cost, parallelism, length, low_level.Type.ID, version=19
        )
    except require("argon2.exceptions", "crypto").HashingError:
        raise CryptoError("Argon2id failed", code=_codes.KDF_FAILED, operation="derive_key") from None
    return raw


def as_secret_bytes(value: object, name: str) -> bytes:
    """The bytes of a ``str``/``bytes``/``Secret`` input (``str`` is UTF-8 encoded)."""
    raw = value.reveal() if isinstance(value, Secret) else value
    if isinstance(raw, str):
        return raw.encode("utf-8")
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    raise CryptoError(f"{name} must be str, bytes or a Secret of them", code=_codes.INVALID_INPUT)


def derive_key(
    passphrase: str | bytes | Secret[str] | Secret[bytes],
    salt: bytes,
    *,
    length: int = 32,
    time_cost: int = DEFAULT_TIME_COST,
    memory_cost: int = DEFAULT_MEMORY_COST,
    parallelism: int = DEFAULT_PARALLELISM,
) -> Secret[bytes]:
    """Derive a key from a passphrase with Argon2id (RFC 9106).

    Args:
        passphrase: the passphrase (``str`` is UTF-8 encoded); must not be empty.
        salt: at least 16 random bytes, stored beside the ciphertext (not secret, but unique).
        length: key length in bytes (16-64).
        time_cost: passes over memory.
        memory_cost: memory in KiB.
        parallelism: lanes.

    Returns:
        The key, in a ``Secret``.

    Raises:
        ConfigError: for parameters under OWASP's minimum or out of range.
        CryptoError: ``crypto.invalid_input`` for an empty passphrase or a salt under 16 bytes.

    .. warning::
        Reusing one salt for many passphrases lets an attacker attack them all at once: draw a
        fresh salt with ``os.urandom(16)`` per derived key.

    .. versionadded:: 0.1.0
    """
    check_argon2_params(time_cost, memory_cost, parallelism)
    if not isinstance(length, int) or not 16 <= length <= 64:
        raise ConfigError("length must be between 16 and 64 bytes", key="length")
    secret = as_secret_bytes(passphrase, "passphrase")
    if not secret:
        raise CryptoError("the passphrase is empty", code=_codes.INVALID_INPUT, operation="derive_key")
    if not isinstance(salt, bytes | bytearray) or len(salt) < MIN_SALT_BYTES:
        raise CryptoError(
            f"the salt must be at least {MIN_SALT_BYTES} bytes",
            code=_codes.INVALID_INPUT,
            operation="derive_key",
            remediation=["use os.urandom(16) and store it with the ciphertext"],
        )
    return Secret(
        argon2id_raw(
            secret,
            bytes(salt),
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            length=length,
        )
    )
