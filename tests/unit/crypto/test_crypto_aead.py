"""Aes256GcmCipher and Keyring: wire format, tamper sweep, opaque errors, usage limit, rotation."""

from __future__ import annotations

import os
import pickle

import pytest

from llm_infra.crypto import Aes256GcmCipher, Keyring
from llm_infra.crypto._aead import MAX_ENCRYPTIONS
from llm_infra.errors import ConfigError, CryptoError
from llm_infra.secrets import Secret

KEY = bytes(range(32))
FAST_KDF = {"time_cost": 5, "memory_cost": 7168, "parallelism": 1}  # OWASP's cheapest allowed row


def _fails(fn: object, *args: object) -> CryptoError:
    with pytest.raises(CryptoError) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.code == "crypto.decrypt_failed"
    err = info.value
    assert err.code == "crypto.decrypt_failed"
    assert err.message == "decryption failed"
    assert err.__cause__ is None
    return err


def test_round_trip_and_wire_format() -> None:
    """decrypt(encrypt(p, aad), aad) == p and the output is nonce(12) || ct(len p) || tag(16)."""
    cipher = Aes256GcmCipher(KEY)
    for plaintext in (b"", b"x", b"hello world" * 100):
        wire = cipher.encrypt(plaintext, b"ctx")
        assert len(wire) == 12 + len(plaintext) + 16
        assert cipher.decrypt(wire, b"ctx") == plaintext


def test_large_messages_round_trip_and_detect_tampering() -> None:
    """Messages above the zero-copy threshold decrypt, and a flipped last byte is still caught."""
    cipher = Aes256GcmCipher(KEY)
    data = os.urandom(100_000)
    wire = cipher.encrypt(data, b"big")
    assert cipher.decrypt(wire, b"big") == data
    assert cipher.decrypt(memoryview(wire), b"big") == data
    _fails(cipher.decrypt, wire[:-1] + bytes([wire[-1] ^ 1]), b"big")


def test_nonces_are_fresh() -> None:
    """Two encryptions of the same message differ (random 96-bit nonces)."""
    cipher = Aes256GcmCipher.generate()
    nonces = {cipher.encrypt(b"same")[:12] for _ in range(200)}
    assert len(nonces) == 200


def test_buffer_inputs() -> None:
    """bytearray and memoryview inputs work for plaintext, ciphertext and AAD."""
    cipher = Aes256GcmCipher(KEY)
    wire = cipher.encrypt(bytearray(b"data"), memoryview(b"aad"))
    assert cipher.decrypt(memoryview(wire), b"aad") == b"data"
    assert cipher.decrypt(bytearray(wire), bytearray(b"aad")) == b"data"


def test_tamper_sweep_every_bit() -> None:
    """Flipping any single bit of nonce, ciphertext, tag or AAD makes decryption fail, opaquely."""
    cipher = Aes256GcmCipher(KEY)
    aad = b"header-v1"
    wire = cipher.encrypt(b"attack at dawn!!", aad)
    flips = 0
    for i in range(len(wire) * 8):
        tampered = bytearray(wire)
        tampered[i // 8] ^= 1 << (i % 8)
        _fails(cipher.decrypt, bytes(tampered), aad)
        flips += 1
    for i in range(len(aad) * 8):
        bad_aad = bytearray(aad)
        bad_aad[i // 8] ^= 1 << (i % 8)
        _fails(cipher.decrypt, wire, bytes(bad_aad))
        flips += 1
    assert flips == (12 + 16 + 16 + len(aad)) * 8


def test_truncation_extension_and_garbage() -> None:
    """Every truncation, an extension, a wrong key or AAD, and non-bytes input fail with the same error."""
    cipher = Aes256GcmCipher(KEY)
    wire = cipher.encrypt(b"payload", b"a")
    for n in range(len(wire)):
        _fails(cipher.decrypt, wire[:n], b"a")
    _fails(cipher.decrypt, wire + b"\x00", b"a")
    _fails(cipher.decrypt, wire, b"b")
    _fails(cipher.decrypt, wire)
    _fails(Aes256GcmCipher.generate().decrypt, wire, b"a")
    _fails(cipher.decrypt, "text" * 10)
    _fails(cipher.decrypt, None)
    _fails(cipher.decrypt, wire, "a")


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_key_size_is_checked(size: int) -> None:
    """Keys that are not 32 bytes raise crypto.invalid_key_size with remediation (never echoing the key)."""
    with pytest.raises(CryptoError) as info:
        Aes256GcmCipher(b"k" * size)
    assert info.value.code == "crypto.invalid_key_size"
    assert info.value.context.remediation
    assert f"got {size} bytes" in info.value.message


def test_key_type_is_checked() -> None:
    """A non-bytes key raises crypto.invalid_key; a Secret of bytes is accepted."""
    with pytest.raises(CryptoError) as info:
        Aes256GcmCipher("k" * 32)  # type: ignore[arg-type]
    assert info.value.code == "crypto.invalid_key"
    assert Aes256GcmCipher(Secret(KEY)).key.reveal() == KEY


def test_usage_limit() -> None:
    """After max_encryptions encryptions the key refuses to encrypt; decryption keeps working."""
    cipher = Aes256GcmCipher(KEY, max_encryptions=3)
    outs = [cipher.encrypt(b"m") for _ in range(3)]
    for _ in range(2):
        with pytest.raises(CryptoError) as info:
            cipher.encrypt(b"m")
        assert info.value.code == "crypto.key_exhausted"
    assert all(cipher.decrypt(o) == b"m" for o in outs)
    assert MAX_ENCRYPTIONS == 2**32
    assert Aes256GcmCipher(KEY)._limit == 2**32


@pytest.mark.parametrize("limit", [0, -1, 2**32 + 1, True, 1.5])
def test_usage_limit_validation(limit: object) -> None:
    """max_encryptions must be an int in 1..2**32."""
    with pytest.raises(ConfigError) as exc_info:
        Aes256GcmCipher(KEY, max_encryptions=limit)  # type: ignore[arg-type]
    assert exc_info.value.code == "config.invalid"


def test_oversized_message_is_a_crypto_error() -> None:
    """A message too large for one AES-GCM call becomes crypto.input_too_large (no OverflowError)."""

    class Huge:
        def encrypt(self, *_: object) -> bytes:
            raise OverflowError("Data or associated data too long. Max 2**31 - 1 bytes")

    cipher = Aes256GcmCipher(KEY)
    cipher._aead = Huge()  # type: ignore[assignment]
    with pytest.raises(CryptoError) as info:
        cipher.encrypt(b"x")
    assert info.value.code == "crypto.input_too_large"


def test_repr_and_pickling_hide_the_key() -> None:
    """The repr masks the key and pickling is refused."""
    cipher = Aes256GcmCipher(KEY)
    assert repr(cipher) == "Aes256GcmCipher(key=Secret('**********'))"
    with pytest.raises(TypeError):
        pickle.dumps(cipher)


def test_from_passphrase() -> None:
    """The same passphrase and salt give the same key; another salt or passphrase gives another."""
    salt = b"s" * 16
    a = Aes256GcmCipher.from_passphrase("correct horse", salt, **FAST_KDF)
    b = Aes256GcmCipher.from_passphrase(Secret(b"correct horse"), salt, **FAST_KDF)
    assert a.key == b.key
    assert b.decrypt(a.encrypt(b"m")) == b"m"
    assert a.key != Aes256GcmCipher.from_passphrase("correct horse", b"t" * 16, **FAST_KDF).key
    assert a.key != Aes256GcmCipher.from_passphrase("battery staple", salt, **FAST_KDF).key


@pytest.mark.parametrize(
    ("passphrase", "salt"), [("", b"s" * 16), ("pw", b"s" * 15), ("pw", "s" * 16), (123, b"s" * 16)]
)
def test_from_passphrase_input_validation(passphrase: object, salt: object) -> None:
    """An empty or non-text passphrase and a short or non-bytes salt raise crypto.invalid_input."""
    with pytest.raises(CryptoError) as info:
        Aes256GcmCipher.from_passphrase(passphrase, salt, **FAST_KDF)  # type: ignore[arg-type]
    assert info.value.code == "crypto.invalid_input"


def test_from_passphrase_refuses_weak_parameters() -> None:
    """Argon2id parameters under OWASP's minimum raise ConfigError."""
    with pytest.raises(ConfigError) as info:
        Aes256GcmCipher.from_passphrase("pw", b"s" * 16, time_cost=1, memory_cost=19456, parallelism=1)
    assert info.value.code == "config.weak_parameters"


# ----------------------------------------------------------------------------------------------
# Keyring


def test_keyring_rotation() -> None:
    """Encrypt with the newest key, decrypt with any; the envelope names its key."""
    ring = Keyring.generate("k1")
    old = ring.encrypt(b"secret", b"row-1")
    assert ring.key_id(old) == "k1"
    assert ring.rotate("k2") == "k2"
    new = ring.encrypt(b"secret", b"row-1")
    assert ring.key_id(new) == "k2"
    assert ring.primary_kid == "k2"
    assert ring.kids == ("k1", "k2")
    assert ring.decrypt(old, b"row-1") == ring.decrypt(new, b"row-1") == b"secret"
    moved = ring.reencrypt(old, b"row-1")
    assert ring.key_id(moved) == "k2"
    ring.retire("k1")
    _fails(ring.decrypt, old, b"row-1")
    assert ring.decrypt(moved, b"row-1") == b"secret"


def test_keyring_generated_ids_and_export() -> None:
    """rotate() without an id makes a ULID; export() returns every key in a Secret, and restores a ring."""
    ring = Keyring()
    kid = ring.rotate()
    assert len(kid) == 26
    envelope = ring.encrypt(b"m")
    exported = ring.export()
    assert isinstance(exported, Secret)
    restored = Keyring(exported.reveal())
    assert restored.primary_kid == kid
    assert restored.decrypt(envelope) == b"m"


def test_keyring_explicit_primary() -> None:
    """Keyring(keys, primary=...) encrypts with the named key."""
    ring = Keyring({"a": os.urandom(32), "b": os.urandom(32)}, primary="a")
    assert ring.key_id(ring.encrypt(b"m")) == "a"
    ring.add("c", os.urandom(32), primary=False)
    assert ring.primary_kid == "a"
    ring.set_primary("c")
    assert ring.key_id(ring.encrypt(b"m")) == "c"


def test_keyring_configuration_errors() -> None:
    """Bad ids, duplicates, unknown ids and retiring the primary raise ConfigError."""
    ring = Keyring.generate("k1")
    for bad in [
        lambda: ring.add("k1", os.urandom(32)),
        lambda: ring.add("bad id!", os.urandom(32)),
        lambda: ring.add("", os.urandom(32)),
        lambda: ring.set_primary("nope"),
        lambda: ring.retire("k1"),
        lambda: ring.retire("nope"),
        lambda: Keyring({"a": os.urandom(32)}, primary="b"),
    ]:
        with pytest.raises(ConfigError) as exc_info:
            bad()
        assert exc_info.value.code == "config.invalid"


def test_empty_keyring_cannot_encrypt() -> None:
    """An empty keyring raises crypto.no_key."""
    with pytest.raises(CryptoError) as info:
        Keyring().encrypt(b"m")
    assert info.value.code == "crypto.no_key"


def test_keyring_envelope_tampering() -> None:
    """Changing the version, the key id (even to another held key), the AAD, or truncating fails opaquely."""
    key = os.urandom(32)
    ring = Keyring({"aa": key, "bb": key})  # same key under two ids: only the authenticated header differs
    envelope = ring.encrypt(b"m", b"ctx")
    assert ring.key_id(envelope) == "bb"
    swapped = envelope.replace(b"bb", b"aa", 1)
    _fails(ring.decrypt, swapped, b"ctx")
    _fails(ring.decrypt, b"\x02" + envelope[1:], b"ctx")
    _fails(ring.decrypt, envelope, b"other")
    _fails(ring.decrypt, envelope[:2], b"ctx")
    _fails(ring.decrypt, b"\x01\xff" + b"z" * 10, b"ctx")
    _fails(ring.decrypt, b"\x01\x02\xff\xfe" + envelope[4:], b"ctx")
    _fails(ring.decrypt, "text-envelope", b"ctx")
    _fails(ring.key_id, b"\x01\x02\xff\xfe")
    _fails(ring.key_id, 12345)
    _fails(ring.decrypt, None)
    for n in range(len(envelope)):
        _fails(ring.decrypt, envelope[:n], b"ctx")


def test_keyring_usage_limit_and_rotation() -> None:
    """When the primary key is exhausted, rotating restores encryption."""
    ring = Keyring.generate("k1", max_encryptions=1)
    ring.encrypt(b"m")
    with pytest.raises(CryptoError) as info:
        ring.encrypt(b"m")
    assert info.value.code == "crypto.key_exhausted"
    ring.rotate("k2")
    assert ring.key_id(ring.encrypt(b"m")) == "k2"


def test_keyring_repr_and_pickling() -> None:
    """The repr shows key ids only and pickling is refused."""
    ring = Keyring.generate("k1")
    assert repr(ring) == "Keyring(kids=['k1'], primary='k1')"
    with pytest.raises(TypeError):
        pickle.dumps(ring)
