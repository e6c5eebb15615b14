"""PasswordHasher (Argon2id PHC strings) and derive_key parameter policy."""

from __future__ import annotations

import argon2
import pytest

from llm_infra.crypto import PasswordHasher, derive_key
from llm_infra.crypto._kdf import OWASP_MINIMUMS
from llm_infra.errors import ConfigError, CryptoError
from llm_infra.secrets import Secret

FAST = {"time_cost": 5, "memory_cost": 7168, "parallelism": 1}


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    """A hasher at OWASP's cheapest allowed row (fast enough for tests)."""
    return PasswordHasher(**FAST)


def test_hash_and_verify(hasher: PasswordHasher) -> None:
    """A password verifies against its hash; another password, empty or over-long input does not."""
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert hasher.verify(stored, "correct horse")
    assert hasher.verify(stored, b"correct horse")
    assert hasher.verify(stored, Secret("correct horse"))
    assert not hasher.verify(stored, "correct horsE")
    assert not hasher.verify(stored, "")
    assert not hasher.verify(stored, "x" * 2000)
    assert hasher.hash("correct horse") != stored  # fresh salt each time


def test_defaults_meet_rfc9106_second_recommendation() -> None:
    """The default parameters are t=3, m=64 MiB, p=4 and produce a verifiable hash."""
    default = PasswordHasher()
    stored = default.hash("pw")
    assert "$m=65536,t=3,p=4$" in stored
    assert default.verify(stored, "pw")
    assert not default.needs_rehash(stored)


def test_needs_rehash(hasher: PasswordHasher) -> None:
    """needs_rehash is true for other parameters, other Argon2 variants and garbage."""
    stored = hasher.hash("pw")
    assert not hasher.needs_rehash(stored)
    assert PasswordHasher(time_cost=6, memory_cost=7168, parallelism=1).needs_rehash(stored)
    argon2i = argon2.PasswordHasher(type=argon2.Type.I, memory_cost=8, time_cost=1, parallelism=1).hash("pw")
    assert hasher.needs_rehash(argon2i)
    assert hasher.needs_rehash("$argon2id$garbage")
    assert hasher.needs_rehash(None)  # type: ignore[arg-type]


def test_verify_refuses_foreign_or_corrupt_hashes(hasher: PasswordHasher) -> None:
    """A stored value that is not an Argon2id PHC string is a corrupt store: crypto.invalid_hash."""
    argon2i = argon2.PasswordHasher(type=argon2.Type.I, memory_cost=8, time_cost=1, parallelism=1).hash("pw")
    for bad in (argon2i, "$2b$12$bcrypthash", "plaintext", "$argon2id$v=19$m=7168", None):
        with pytest.raises(CryptoError) as info:
            hasher.verify(bad, "pw")  # type: ignore[arg-type]
        assert info.value.code == "crypto.invalid_hash"


def test_verify_damaged_hash_is_false(hasher: PasswordHasher) -> None:
    """A well-formed hash whose digest was altered simply does not verify."""
    stored = hasher.hash("pw")
    damaged = stored[:-2] + ("AA" if not stored.endswith("AA") else "BB")
    assert not hasher.verify(damaged, "pw")


def test_hash_input_limits(hasher: PasswordHasher) -> None:
    """Empty passwords, over-long ones and non-text types are refused when hashing."""
    with pytest.raises(CryptoError) as info:
        hasher.hash("")
    assert info.value.code == "crypto.invalid_input"
    with pytest.raises(CryptoError) as info:
        hasher.hash("x" * 1025)
    assert info.value.code == "crypto.password_too_long"
    assert hasher.hash("x" * 1024)
    with pytest.raises(CryptoError) as exc_info:
        hasher.hash(1234)  # type: ignore[arg-type]
    assert exc_info.value.code == "crypto.invalid_input"


@pytest.mark.parametrize(
    "options",
    [
        {"time_cost": 1, "memory_cost": 19456, "parallelism": 1},
        {"time_cost": 2, "memory_cost": 12288, "parallelism": 1},
        {"time_cost": 4, "memory_cost": 7168, "parallelism": 1},
        {"time_cost": 0},
        {"memory_cost": True},
        {"parallelism": 65},
        {"memory_cost": 5 * 1024 * 1024},
        {"time_cost": 5, "memory_cost": 7168, "parallelism": 1000},
        {"hash_len": 8},
        {"salt_len": 8},
        {"max_password_bytes": 4},
    ],
)
def test_parameter_policy(options: dict[str, object]) -> None:
    """Parameters under OWASP's minimum or out of range raise ConfigError."""
    with pytest.raises(ConfigError) as exc_info:
        PasswordHasher(**options)  # type: ignore[arg-type]
    assert exc_info.value.code in ("config.invalid", "config.weak_parameters")


@pytest.mark.parametrize(("memory_cost", "time_cost"), OWASP_MINIMUMS)
def test_every_owasp_row_is_accepted(memory_cost: int, time_cost: int) -> None:
    """Each OWASP minimum row is exactly at the floor and accepted."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
    assert f"time_cost={time_cost}, memory_cost={memory_cost}, parallelism=1" in repr(hasher)


def test_repr_shows_parameters_only(hasher: PasswordHasher) -> None:
    """The repr lists the cost parameters."""
    assert (
        repr(hasher)
        == "PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1, max_password_bytes=1024)"
    )


def test_derive_key() -> None:
    """derive_key is deterministic per (passphrase, salt), honours length, and validates its inputs."""
    key = derive_key("pw", b"s" * 16, **FAST)
    assert isinstance(key, Secret)
    assert key.reveal() == derive_key(b"pw", b"s" * 16, **FAST).reveal()
    assert len(derive_key("pw", b"s" * 16, length=64, **FAST).reveal()) == 64
    for length in (8, 65, "32"):
        with pytest.raises(ConfigError) as exc_info:
            derive_key("pw", b"s" * 16, length=length, **FAST)  # type: ignore[arg-type]
        assert exc_info.value.code == "config.invalid"


def test_raw_argon2_failure_is_a_crypto_error() -> None:
    """libargon2 refusing parameters (under 8 KiB per lane) surfaces as crypto.kdf_failed."""
    from llm_infra.crypto._kdf import argon2id_raw

    with pytest.raises(CryptoError) as info:
        argon2id_raw(b"pw", b"s" * 16, time_cost=1, memory_cost=1, parallelism=4, length=32)
    assert info.value.code == "crypto.kdf_failed"
