"""Regression tests for the JWT hardening: claim types, weak keys, key confusion, ECDSA low-S."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import textwrap

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_infra.crypto import (
    EcdsaP256Signer,
    Ed25519Verifier,
    JwksCache,
    JwtKey,
    JwtSigner,
    JwtValidator,
    PasswordHasher,
    b64url_decode,
    b64url_encode,
    public_key_to_jwk,
)
from llm_infra.errors import AuthError, ConfigError, CryptoError
from llm_infra.testing import FakeClock

NOW = 1_800_000_000
SECRET = b"hardening-secret-0123456789abcdef"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(claims: object, key: bytes = SECRET) -> str:
    """An HS256 token over ``claims`` serialized as-is (no type checks on the signing side)."""
    import hashlib
    import hmac

    head = _b64(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode()
    return f"{head}.{body}.{_b64(hmac.new(key, signing_input, hashlib.sha256).digest())}"


def _validator(**options: object) -> JwtValidator:
    return JwtValidator.hs256(SECRET, clock=FakeClock(epoch=NOW), **options)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Registered claims have one type each


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": None, "iat": None},
        {"exp": NOW + 60, "iat": None},
        {"exp": None},
        {"exp": 10**309},
        {"exp": -(10**309)},
        {"exp": 1e308},
        {"exp": True},
        {"exp": "1900000000"},
        {"exp": [NOW + 60]},
        {"exp": NOW + 60, "nbf": None},
        {"exp": NOW + 60, "nbf": False},
        {"exp": NOW + 60, "iat": 10**400},
        {"exp": NOW + 60, "iss": None},
        {"exp": NOW + 60, "sub": 7},
        {"exp": NOW + 60, "jti": {"a": 1}},
        {"exp": NOW + 60, "aud": None},
        {"exp": NOW + 60, "aud": []},
        {"exp": NOW + 60, "aud": ["api", 1]},
        {"exp": NOW + 60, "aud": ""},
    ],
)
def test_wrong_claim_types_are_invalid_token(claims: dict[str, object]) -> None:
    """A null or wrongly typed registered claim is auth.invalid_token (never Overflow/TypeError)."""
    with pytest.raises(AuthError) as info:
        _validator(max_age=300).verify(_token(claims))
    assert info.value.code == "auth.invalid_token"


def test_null_exp_and_iat_do_not_satisfy_required_claims_or_max_age() -> None:
    """{"exp": null, "iat": null} signed by the issuer fails required_claims and max_age."""
    for options in ({}, {"max_age": 300}, {"required_claims": ("exp", "iat")}):
        with pytest.raises(AuthError) as info:
            _validator(**options).verify(_token({"exp": None, "iat": None}))
        assert info.value.code == "auth.invalid_token"
    with pytest.raises(AuthError) as custom:
        _validator(required_claims=("exp", "tenant")).verify(_token({"exp": NOW + 60, "tenant": None}))
    assert custom.value.code == "auth.invalid_token"


def test_huge_exp_is_invalid_token_not_overflow() -> None:
    """exp = 10**309 used to raise a raw OverflowError (int + float leeway)."""
    with pytest.raises(AuthError) as info:
        _validator().verify(_token({"exp": 10**309}))
    assert info.value.code == "auth.invalid_token"


def test_well_typed_claims_are_accepted() -> None:
    """The control: the same validator accepts every allowed type."""
    claims = {"exp": NOW + 60.5, "nbf": NOW - 1, "iat": NOW, "iss": "i", "sub": "s", "jti": "j", "aud": ["a"]}
    assert _validator(audience="a", max_age=300).verify(_token(claims))["jti"] == "j"
    assert _validator(audience="a").verify(_token({"exp": NOW + 60, "aud": "a"}))["aud"] == "a"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


def _allowed(name: str, value: object) -> bool:
    if name in ("exp", "nbf", "iat"):
        return type(value) in (int, float) and 0 <= value <= 253_402_300_799  # type: ignore[operator]
    if name in ("iss", "sub", "jti"):
        return type(value) is str
    if type(value) is str:
        return bool(value)
    return type(value) is list and bool(value) and all(type(a) is str and a for a in value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["exp", "nbf", "iat", "iss", "sub", "jti", "aud"]),
    value=_JSON | st.integers(min_value=-(10**400), max_value=10**400),
)
def test_any_registered_claim_value_is_accepted_or_invalid_token(name: str, value: object) -> None:
    """Whatever JSON value a registered claim holds, the outcome is claims or auth.invalid_token/expired."""
    claims = {"exp": NOW + 600, name: value}
    validator = JwtValidator.hs256(
        SECRET, clock=FakeClock(epoch=NOW), leeway=0, audience=None if name != "aud" else "x"
    )
    if not _allowed(name, value):
        with pytest.raises(AuthError) as info:
            validator.verify(_token(claims))
        assert info.value.code == "auth.invalid_token"
        return
    try:
        validator.verify(_token(claims))
    except AuthError as err:  # a well-typed value may still be out of time or the wrong audience
        code = err.code
    else:
        code = "ok"
    assert code in ("ok", "auth.invalid_token", "auth.token_expired")


def test_signer_refuses_badly_typed_registered_claims() -> None:
    """The signer applies the same one-type rule (crypto.invalid_claims)."""
    signer = JwtSigner.hs256(SECRET)
    for claims in ({"exp": 10**309}, {"exp": None}, {"iat": True}, {"sub": 1}, {"aud": []}):
        with pytest.raises(CryptoError) as info:
            signer.sign(claims)
        assert info.value.code == "crypto.invalid_claims"


# ----------------------------------------------------------------------------------------------
# Small-order Ed25519 public keys

_SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity (order 1)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4, other sign
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    # non-canonical encodings of small-order points (y >= p)
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
]


@pytest.mark.parametrize("hex_key", _SMALL_ORDER)
def test_small_order_ed25519_keys_are_refused_everywhere(hex_key: str) -> None:
    """Raw bytes, a JWK, a key object and a JWKS entry: each small-order key is crypto.invalid_key."""
    raw = bytes.fromhex(hex_key)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}
    attempts = [
        lambda: Ed25519Verifier.from_public_bytes(raw),
        lambda: JwtKey.from_jwk(jwk),
        lambda: JwtValidator.eddsa(jwk),
    ]
    try:
        key_object = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        key_object = None  # the backend already refuses this encoding
    if key_object is not None:
        attempts.append(lambda: JwtKey("EdDSA", key_object))
    for attempt in attempts:
        with pytest.raises(CryptoError) as info:
            attempt()
        assert info.value.code == "crypto.invalid_key"
    cache = JwksCache({"keys": [{**jwk, "kid": "weak"}]})
    assert cache.kids == ()
    assert cache.skipped == 1


def test_ordinary_ed25519_keys_are_accepted() -> None:
    """The control: fresh keys load."""
    for _ in range(20):
        raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert Ed25519Verifier.from_public_bytes(raw).public_bytes() == raw


# ----------------------------------------------------------------------------------------------
# JWKS documents carry no symmetric keys


def test_jwks_with_an_oct_key_is_refused() -> None:
    """kty oct in a JWKS (static or fetched) is crypto.invalid_jwks; a refresh keeps the old keys."""
    oct_key = {"kty": "oct", "k": _b64(secrets.token_bytes(32)), "kid": "hs"}
    with pytest.raises(CryptoError) as info:
        JwksCache({"keys": [oct_key]})
    assert info.value.code == "crypto.invalid_jwks"
    good = {**EcdsaP256Signer.generate().public_jwk(), "kid": "ec"}
    documents = [{"keys": [good]}, {"keys": [good, oct_key]}]
    cache = JwksCache(fetch=lambda: documents.pop(0), min_refresh_interval=0)
    assert cache.refresh() is False
    assert isinstance(cache.last_error, CryptoError)
    assert cache.last_error.code == "crypto.invalid_jwks"
    assert cache.kids == ("ec",)
    # An oct JWK given directly (the operator's own configuration) still works.
    assert JwtKey.from_jwk(oct_key).algorithm == "HS256"


# ----------------------------------------------------------------------------------------------
# A public key is never an HMAC secret, whatever its encoding


def _key_encodings() -> dict[str, bytes]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pub = rsa_key.public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    ec_der = ec_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = b"".join(pem.strip().splitlines()[1:-1])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(__import__("datetime").datetime(2020, 1, 1))
        .not_valid_after(__import__("datetime").datetime(2030, 1, 1))
        .sign(ec_key, hashes.SHA256())
    )
    ssh = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return {
        "pem": pem,
        "pem_bom": b"\xef\xbb\xbf" + pem,
        "pem_leading_whitespace": b"\n\t  " + pem,
        "pem_leading_bytes": b"\x00\x01garbage" + pem,
        "pem_utf16": b"\xff\xfe" + pem.decode().encode("utf-16-le"),
        "der_spki": der,
        "der_pkcs1": pkcs1,
        "der_ec": ec_der,
        "der_leading_bytes": b"\x07\x07\x07" + der,
        "der_certificate": cert.public_bytes(serialization.Encoding.DER),
        "jwk_json": json.dumps(public_key_to_jwk(pub)).encode(),
        "jwk_json_spaced": b"  " + json.dumps(public_key_to_jwk(ec_key.public_key()), indent=2).encode(),
        "base64_body": body,
        "base64_body_wrapped": b"\n".join(body[i : i + 64] for i in range(0, len(body), 64)),
        "base64url_der": base64.urlsafe_b64encode(ec_der).rstrip(b"="),
        "openssh": ssh,
    }


@pytest.mark.parametrize("encoding", sorted(_key_encodings()))
def test_public_key_in_any_encoding_is_refused_as_hmac_secret(encoding: str) -> None:
    """Each encoding of an asymmetric key is crypto.invalid_key for HS256 (signer and validator)."""
    material = _key_encodings()[encoding]
    for make in (JwtKey, lambda alg, key: JwtSigner(alg, key)):
        for value in (material, material.decode("latin-1")):
            with pytest.raises(CryptoError) as info:
                make("HS256", value)
            assert info.value.code == "crypto.invalid_key"


def test_random_secrets_are_still_accepted() -> None:
    """The control: random bytes, URL-safe text and hex secrets are ordinary HMAC secrets."""
    for _ in range(50):
        for secret in (secrets.token_bytes(32), secrets.token_urlsafe(48), secrets.token_hex(32)):
            assert JwtKey("HS256", secret).algorithm == "HS256"


# ----------------------------------------------------------------------------------------------
# ECDSA: signatures are low-S; high-S is refused


def test_es256_signatures_are_low_s_and_high_s_twins_are_refused() -> None:
    """Our signers always emit s <= n/2; the validator refuses (r, n - s) of a valid token."""
    ec_signer = EcdsaP256Signer.generate()
    clock = FakeClock(epoch=NOW)
    signer = JwtSigner.es256(ec_signer, clock=clock)
    validator = JwtValidator.es256(ec_signer.verifier().public_jwk(), clock=clock)
    for i in range(40):
        token = signer.sign({"n": i})
        head, body, sig64 = token.split(".")
        sig = b64url_decode(sig64)
        s = int.from_bytes(sig[32:], "big")
        assert s <= P256_N // 2
        assert validator.verify(token)["n"] == i
        twin = f"{head}.{body}.{b64url_encode(sig[:32] + (P256_N - s).to_bytes(32, 'big'))}"
        with pytest.raises(AuthError) as info:
            validator.verify(twin)
        assert info.value.code == "auth.invalid_token"
        raw = ec_signer.sign(b"m%d" % i)
        _, der_s = decode_dss_signature(ec_signer.sign(b"m%d" % i, encoding="der"))
        assert int.from_bytes(raw[32:], "big") <= P256_N // 2
        assert der_s <= P256_N // 2


# ----------------------------------------------------------------------------------------------
# argon2-cffi is optional


def test_password_hasher_without_argon2_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """With argon2 missing, PasswordHasher raises ConfigError with the pip line."""
    for name in [m for m in sys.modules if m == "argon2" or m.startswith("argon2.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "argon2", None)
    with pytest.raises(ConfigError) as info:
        PasswordHasher()
    assert info.value.code == "config.missing_extra"
    assert "pip install 'llm-infra[crypto]'" in info.value.message


def test_crypto_and_auth_import_without_argon2() -> None:
    """`import llm_infra.crypto` and `llm_infra.auth` work in a process where argon2 cannot be imported."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["argon2"] = None
        import llm_infra.crypto, llm_infra.auth
        from llm_infra.crypto import JwtSigner, JwtValidator
        token = JwtSigner.hs256(b"k" * 32).sign({"sub": "a"})
        assert JwtValidator.hs256(b"k" * 32).verify(token)["sub"] == "a"
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
