"""Hashes, HMAC, base64url, signers/verifiers and PEM/JWK key handling."""

from __future__ import annotations

import datetime
import hashlib
import io
import pickle
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID

from llm_infra.crypto import (
    EcdsaP256Signer,
    EcdsaP256Verifier,
    Ed25519Signer,
    Ed25519Verifier,
    Hasher,
    b64url_decode,
    b64url_encode,
    blake2b,
    blake3,
    constant_time_eq,
    hash_file,
    hash_stream,
    hmac_sha256,
    jwk_thumbprint,
    load_private_key,
    load_public_key,
    private_key_to_jwk,
    private_key_to_pem,
    public_key_to_jwk,
    public_key_to_pem,
    sha256,
    sha512,
)
from llm_infra.errors import ConfigError, CryptoError, IoError
from llm_infra.secrets import Secret

# ----------------------------------------------------------------------------------------------
# hashes


def test_hash_functions_accept_text_and_buffers() -> None:
    """sha256/sha512/blake2b/blake3 agree on str (UTF-8), bytes, bytearray and memoryview."""
    for fn in (sha256, sha512, blake2b, blake3):
        assert fn("héllo") == fn("héllo".encode()) == fn(bytearray("héllo".encode()))
        assert fn(memoryview(b"abc")) == fn(b"abc")


def test_known_digests() -> None:
    """Published digests of 'abc' and '' for SHA-256, BLAKE2b-512 and BLAKE3."""
    assert sha256(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (
        blake2b(b"abc").hex().startswith("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1")
    )
    assert blake3(b"").hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert blake3(b"abc").hex() == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    assert len(blake3(b"x", length=64)) == 64
    assert blake3(b"x", length=64)[:32] == blake3(b"x")


def test_blake2b_options() -> None:
    """blake2b takes a digest size and an optional key (plain or Secret)."""
    assert len(blake2b(b"x", digest_size=16)) == 16
    assert blake2b(b"x", key=b"k") == blake2b(b"x", key=Secret(b"k")) != blake2b(b"x")
    assert blake2b(b"x") == hashlib.blake2b(b"x").digest()


def test_blake3_missing_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the blake3 package, blake3() raises ConfigError with the pip line."""
    from llm_infra.crypto import _hash

    monkeypatch.setitem(sys.modules, "blake3", None)
    monkeypatch.setattr(_hash, "_BLAKE3", None)
    with pytest.raises(ConfigError) as info:
        blake3(b"x")
    assert info.value.code == "config.missing_extra"
    assert "pip install" in info.value.message


def test_hmac_and_constant_time_eq() -> None:
    """hmac_sha256 accepts a Secret key; constant_time_eq compares bytes and text."""
    mac = hmac_sha256(Secret(b"key"), "msg")
    assert mac == hmac_sha256(b"key", b"msg")
    assert constant_time_eq(mac, hmac_sha256(b"key", b"msg"))
    assert not constant_time_eq(mac, hmac_sha256(b"key", b"msh"))
    assert not constant_time_eq(b"a", b"ab")
    assert constant_time_eq("é", "é".encode())


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "blake2b", "blake3"])
def test_hasher_streaming_matches_one_shot(algorithm: str) -> None:
    """Feeding chunks to a Hasher equals hashing the whole; copy() forks the state."""
    data = bytes(range(256)) * 40
    hasher = Hasher(algorithm)  # type: ignore[arg-type]
    for i in range(0, len(data), 333):
        hasher.update(data[i : i + 333])
    fork = hasher.copy()
    fork.update(b"more")
    whole = Hasher(algorithm).update(data).digest()  # type: ignore[arg-type]
    assert hasher.digest() == whole
    assert hasher.hexdigest() == whole.hex()
    assert fork.digest() != whole
    assert repr(hasher) == f"Hasher({algorithm!r})"


def test_hasher_rejects_unknown_algorithm() -> None:
    """Unknown algorithm names (including md5) raise ConfigError."""
    for name in ("md5", "sha1", "SHA256"):
        with pytest.raises(ConfigError) as exc_info:
            Hasher(name)  # type: ignore[arg-type]
        assert exc_info.value.code == "config.invalid"


def test_hash_file_and_stream(tmp_path: Path) -> None:
    """hash_file/hash_stream hash in chunks and equal the one-shot digest."""
    data = b"0123456789" * 100_003
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert hash_file(path) == sha256(data)
    assert hash_file(str(path), "blake3", chunk_size=4096) == blake3(data)
    assert hash_stream(io.BytesIO(data), "sha512", chunk_size=7) == sha512(data)


def test_hash_file_errors(tmp_path: Path) -> None:
    """A missing file raises IoError with path and errno; bad options raise ConfigError."""
    missing = tmp_path / "nope"
    with pytest.raises(IoError) as info:
        hash_file(missing)
    assert info.value.code == "io.error"
    assert info.value.path == str(missing)
    assert info.value.errno == 2
    with pytest.raises(ConfigError) as exc_info:
        hash_stream(io.BytesIO(b""), chunk_size=0)
    assert exc_info.value.code == "config.invalid"
    with pytest.raises(ConfigError) as exc_info:
        hash_file(missing, "md5")  # type: ignore[arg-type]
    assert exc_info.value.code == "config.invalid"


# ----------------------------------------------------------------------------------------------
# base64url


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(256))])
def test_b64url_round_trip(data: bytes) -> None:
    """b64url_decode(b64url_encode(x)) == x with no padding or '+/' in the text."""
    text = b64url_encode(data)
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert b64url_decode(text) == data
    assert b64url_decode(text.encode()) == data


@pytest.mark.parametrize("text", ["QQ==", "QQ=", "Q", "QR", "Q Q", "+/8", "QQ\n", "é", "A===", "QUJD="])
def test_b64url_decode_refuses_non_canonical(text: str) -> None:
    """Padding, impossible lengths, non-zero spare bits, whitespace and the standard alphabet are refused."""
    with pytest.raises(CryptoError) as info:
        b64url_decode(text)
    assert info.value.code == "crypto.invalid_encoding"


# ----------------------------------------------------------------------------------------------
# Ed25519


def test_ed25519_sign_verify() -> None:
    """Ed25519 signatures verify; a tampered message or signature fails opaquely."""
    signer = Ed25519Signer.generate()
    verifier = signer.verifier()
    sig = signer.sign("message")
    verifier.verify(sig, b"message")
    verifier.verify(bytearray(sig), "message")
    assert verifier.is_valid(sig, "message")
    assert not verifier.is_valid(sig, "messagE")
    assert not verifier.is_valid(sig[:-1], "message")
    assert not verifier.is_valid(bytes(64), "message")
    assert not verifier.is_valid("not bytes", "message")  # type: ignore[arg-type]
    with pytest.raises(CryptoError) as info:
        verifier.verify(bytes(64), b"message")
    assert info.value.code == "crypto.invalid_signature"
    with pytest.raises(TypeError):
        signer.sign(123)  # type: ignore[arg-type]


def test_ed25519_key_formats() -> None:
    """Ed25519 keys round-trip through PEM (optionally encrypted), JWK and raw bytes."""
    signer = Ed25519Signer.generate()
    sig = signer.sign(b"m")
    for verifier in (
        Ed25519Verifier(signer.public_pem()),
        Ed25519Verifier(signer.public_jwk()),
        Ed25519Verifier(signer.verifier()),
        Ed25519Verifier(signer),
        Ed25519Verifier.from_public_bytes(signer.verifier().public_bytes()),
    ):
        assert verifier.is_valid(sig, b"m")
    assert signer.verifier().public_jwk() == signer.public_jwk()
    assert signer.verifier().public_pem() == signer.public_pem()
    for copy in (
        Ed25519Signer(signer.private_pem()),
        Ed25519Signer(signer.private_pem(password=b"pw"), password=Secret(b"pw")),
        Ed25519Signer(signer.private_jwk().reveal()),
    ):
        assert copy.sign(b"m") == sig
    with pytest.raises(CryptoError) as exc_info:
        Ed25519Signer(signer.private_pem(password=b"pw"), password=b"wrong")
    assert exc_info.value.code == "crypto.invalid_key"


def test_ed25519_wrong_inputs() -> None:
    """Wrong key types and raw key lengths raise CryptoError."""
    with pytest.raises(CryptoError) as info:
        Ed25519Signer(ec.generate_private_key(ec.SECP256R1()))
    assert info.value.code == "crypto.invalid_key"
    with pytest.raises(CryptoError) as exc_info:
        Ed25519Verifier(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert exc_info.value.code == "crypto.invalid_key"
    with pytest.raises(CryptoError) as exc_info:
        Ed25519Signer(Ed25519Signer.generate().public_pem())
    assert exc_info.value.code == "crypto.invalid_key"
    for bad in (
        lambda: Ed25519Signer.from_private_bytes(b"x" * 31),
        lambda: Ed25519Verifier.from_public_bytes(b""),
    ):
        with pytest.raises(CryptoError) as info:
            bad()
        assert info.value.code == "crypto.invalid_key_size"
    assert Ed25519Signer.from_private_bytes(Secret(b"x" * 32)).sign(b"m")


# ----------------------------------------------------------------------------------------------
# ECDSA P-256


def test_ecdsa_raw_and_der() -> None:
    """ECDSA P-256 signs and verifies in raw (64 bytes) and DER; encodings are not interchangeable."""
    signer = EcdsaP256Signer.generate()
    verifier = signer.verifier()
    raw = signer.sign(b"m")
    der = signer.sign("m", encoding="der")
    assert len(raw) == 64
    verifier.verify(raw, b"m")
    verifier.verify(der, b"m", encoding="der")
    assert not verifier.is_valid(der, b"m")
    assert not verifier.is_valid(raw, b"m", encoding="der")
    assert not verifier.is_valid(raw, b"x")
    assert not verifier.is_valid(raw[:-1], b"m")
    assert not verifier.is_valid(None, b"m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        signer.sign(b"m", encoding="hex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        verifier.verify(raw, b"m", encoding="pem")  # type: ignore[arg-type]


def test_ecdsa_key_formats() -> None:
    """P-256 keys round-trip through PEM (SEC1 and PKCS#8) and JWK; other curves are refused."""
    signer = EcdsaP256Signer.generate()
    sig = signer.sign(b"m")
    for verifier in (
        EcdsaP256Verifier(signer.public_pem()),
        EcdsaP256Verifier(signer.public_jwk()),
        EcdsaP256Verifier(signer),
        EcdsaP256Verifier(signer.verifier()),
    ):
        assert verifier.is_valid(sig, b"m")
    assert signer.verifier().public_jwk() == signer.public_jwk()
    assert signer.verifier().public_pem() == signer.public_pem()
    sec1 = signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    for copy in (
        EcdsaP256Signer(sec1),
        EcdsaP256Signer(signer.private_pem(password=b"pw"), password=b"pw"),
        EcdsaP256Signer(signer.private_jwk().reveal()),
    ):
        assert signer.verifier().is_valid(copy.sign(b"m"), b"m")
    with pytest.raises(CryptoError) as exc_info:
        EcdsaP256Signer(ec.generate_private_key(ec.SECP384R1()))
    assert exc_info.value.code == "crypto.invalid_key"
    with pytest.raises(CryptoError) as exc_info:
        EcdsaP256Signer(Ed25519Signer.generate().private_key)
    assert exc_info.value.code == "crypto.invalid_key"
    with pytest.raises(CryptoError) as exc_info:
        EcdsaP256Verifier(Ed25519Signer.generate().verifier().public_key)
    assert exc_info.value.code == "crypto.invalid_key"


def test_signers_refuse_pickling_and_hide_keys() -> None:
    """Signers cannot be pickled; reprs show a public thumbprint only."""
    for signer in (Ed25519Signer.generate(), EcdsaP256Signer.generate()):
        with pytest.raises(TypeError):
            pickle.dumps(signer)
        thumb = jwk_thumbprint(signer.public_jwk())
        assert thumb in repr(signer)
        assert thumb in repr(signer.verifier())


# ----------------------------------------------------------------------------------------------
# keys


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_load_public_key_forms() -> None:
    """A public key loads from a certificate, a private PEM, a public PEM (bytes, str, Secret) and a JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    expected = public_key_to_jwk(key)
    pem = public_key_to_pem(key)
    private = private_key_to_pem(key).reveal()
    for form in (_self_signed(key), private, pem, pem.decode(), Secret(pem), expected, key, key.public_key()):
        assert public_key_to_jwk(load_public_key(form)) == expected


@pytest.mark.parametrize(
    "bad",
    [
        b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
        b"garbage",
        x25519.X25519PrivateKey.generate().public_key(),
        "not a pem",
        12,
    ],
)
def test_load_public_key_refuses_garbage(bad: object) -> None:
    """Malformed PEM and unsupported key types raise crypto.invalid_key."""
    with pytest.raises(CryptoError) as info:
        load_public_key(bad)  # type: ignore[arg-type]
    assert info.value.code == "crypto.invalid_key"


def test_load_private_key_refusals() -> None:
    """A public PEM, a public JWK, garbage or a DSA key is not a usable private key."""
    key = ed25519.Ed25519PrivateKey.generate()
    for bad in (
        public_key_to_pem(key),
        public_key_to_jwk(key),
        b"junk",
        key.public_key(),
        dsa.generate_private_key(key_size=1024),
    ):
        with pytest.raises(CryptoError) as exc_info:
            load_private_key(bad)  # type: ignore[arg-type]
        assert exc_info.value.code == "crypto.invalid_key"


def test_rsa_jwk_round_trip() -> None:
    """An RSA private key round-trips through its private JWK; short RSA keys are refused."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = private_key_to_jwk(key).reveal()
    assert set(jwk) == {"kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"}
    restored = load_private_key(jwk)
    assert public_key_to_jwk(restored) == public_key_to_jwk(key)
    with pytest.raises(CryptoError) as exc_info:
        load_public_key(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())
    assert exc_info.value.code == "crypto.invalid_key"


def _ec_jwk() -> dict[str, str]:
    return public_key_to_jwk(ec.generate_private_key(ec.SECP256R1()))


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {**_ec_jwk(), "use": "enc"},
        {**_ec_jwk(), "crv": "P-384"},
        {**_ec_jwk(), "x": b64url_encode(b"\x00" * 32)},
        {**_ec_jwk(), "x": 5},
        {**_ec_jwk(), "x": _ec_jwk()["x"] + "="},
        {"kty": "EC", "crv": "P-256"},
        {"kty": "OKP", "crv": "X25519", "x": b64url_encode(b"\x01" * 32)},
        {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(b"\x01" * 31)},
        {"kty": "RSA", "n": b64url_encode(b"\x00\x01" * 128), "e": "AQAB"},
        {"kty": "RSA", "n": b64url_encode(b"\xc1" * 64), "e": "AQAB"},
        {"kty": "RSA", "n": b64url_encode(b"\xc1" * 256), "e": ""},
        {"kty": "RSA", "n": b64url_encode(b"\xc2" * 256), "e": "Ag"},
        {"kty": "oct", "k": "AAAA"},
        {"kty": "DSA"},
        "not a dict",
    ],
)
def test_public_jwk_validation(jwk: object) -> None:
    """Malformed, off-curve, non-minimal, short or unsupported public JWKs raise crypto.invalid_key."""
    with pytest.raises(CryptoError) as info:
        load_public_key(jwk)  # type: ignore[arg-type]
    assert info.value.code == "crypto.invalid_key"


def test_private_jwk_consistency() -> None:
    """A private JWK whose private part does not match its public part is refused."""
    a = Ed25519Signer.generate().private_jwk().reveal()
    b = Ed25519Signer.generate().private_jwk().reveal()
    with pytest.raises(CryptoError, match="do not match") as exc_info:
        load_private_key({**a, "d": b["d"]})
    assert exc_info.value.code == "crypto.invalid_key"
    ec_a = EcdsaP256Signer.generate().private_jwk().reveal()
    with pytest.raises(CryptoError) as exc_info:
        load_private_key({**ec_a, "d": b64url_encode(b"\xff" * 32)})
    assert exc_info.value.code == "crypto.invalid_key"
    rsa_jwk = private_key_to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)).reveal()
    with pytest.raises(CryptoError) as exc_info:
        load_private_key({**rsa_jwk, "p": rsa_jwk["q"]})
    assert exc_info.value.code == "crypto.invalid_key"


def test_private_key_to_pem_with_secret_password() -> None:
    """private_key_to_pem encrypts with a Secret password and returns a Secret."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = private_key_to_pem(key, password=Secret(b"pw"))
    assert isinstance(pem, Secret)
    assert b"ENCRYPTED" in pem.reveal()
    assert public_key_to_jwk(load_private_key(pem, password=b"pw")) == public_key_to_jwk(key)
