"""Property tests (round trips, any 1-byte mutation rejected) and fuzz targets (only documented errors)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_infra.crypto import (
    Aes256GcmCipher,
    EcdsaP256Signer,
    Ed25519Signer,
    JwksCache,
    JwtKey,
    JwtSigner,
    JwtValidator,
    Keyring,
    b64url_decode,
    b64url_encode,
    load_private_key,
    load_public_key,
)
from llm_infra.errors import AuthError, ConfigError, CryptoError
from llm_infra.testing import FakeClock

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_800_000_000.0
SECRET = b"property-secret-0123456789abcdef"
CIPHER = Aes256GcmCipher(bytes(range(32)))
RING = Keyring({"a": bytes(32), "b": bytes(range(32))})
ED = Ed25519Signer.generate()
EC = EcdsaP256Signer.generate()
CLOCK = FakeClock(epoch=NOW)
SIGNER = JwtSigner.hs256(SECRET, clock=CLOCK)
VALIDATOR = JwtValidator.hs256(SECRET, clock=CLOCK)
ED_VALIDATOR = JwtValidator.eddsa(ED, clock=CLOCK)
ED_SIGNER = JwtSigner.eddsa(ED, clock=CLOCK)

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
claims_st = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in {"exp", "nbf", "iat", "iss", "aud", "sub", "jti"}),
    json_values,
    max_size=6,
)


@SETTINGS
@given(data=st.binary(max_size=4096), aad=st.binary(max_size=64))
def test_aead_round_trip(data: bytes, aad: bytes) -> None:
    """decrypt(encrypt(m, aad), aad) == m for any message and AAD."""
    assert CIPHER.decrypt(CIPHER.encrypt(data, aad), aad) == data


@SETTINGS
@given(data=st.binary(max_size=256), index=st.integers(min_value=0), delta=st.integers(1, 255))
def test_aead_any_one_byte_mutation_is_rejected(data: bytes, index: int, delta: int) -> None:
    """Changing any one byte of nonce||ct||tag makes decryption fail with crypto.decrypt_failed."""
    wire = bytearray(CIPHER.encrypt(data))
    wire[index % len(wire)] ^= delta
    with pytest.raises(CryptoError) as info:
        CIPHER.decrypt(bytes(wire))
    assert info.value.code == "crypto.decrypt_failed"


@SETTINGS
@given(
    data=st.binary(max_size=512),
    aad=st.binary(max_size=32),
    index=st.integers(min_value=0),
    delta=st.integers(1, 255),
)
def test_keyring_round_trip_and_mutation(data: bytes, aad: bytes, index: int, delta: int) -> None:
    """Keyring envelopes round-trip, and any one-byte mutation is rejected."""
    envelope = RING.encrypt(data, aad)
    assert RING.decrypt(envelope, aad) == data
    mutated = bytearray(envelope)
    mutated[index % len(mutated)] ^= delta
    with pytest.raises(CryptoError) as info:
        RING.decrypt(bytes(mutated), aad)
    assert info.value.code == "crypto.decrypt_failed"


@SETTINGS
@given(message=st.binary(max_size=512), index=st.integers(min_value=0), delta=st.integers(1, 255))
def test_signatures_round_trip_and_reject_mutations(message: bytes, index: int, delta: int) -> None:
    """Ed25519 and ECDSA signatures verify, and any one-byte change to signature or message fails."""
    for signer in (ED, EC):
        verifier = signer.verifier()
        sig = signer.sign(message)
        assert verifier.is_valid(sig, message)
        bad_sig = bytearray(sig)
        bad_sig[index % len(bad_sig)] ^= delta
        assert not verifier.is_valid(bytes(bad_sig), message)
        if message:
            bad_msg = bytearray(message)
            bad_msg[index % len(bad_msg)] ^= delta
            assert not verifier.is_valid(sig, bytes(bad_msg))


@SETTINGS
@given(claims=claims_st)
def test_jwt_round_trip(claims: dict[str, object]) -> None:
    """Any JSON claims set survives sign/verify for HS256 and EdDSA."""
    for signer, validator in ((SIGNER, VALIDATOR), (ED_SIGNER, ED_VALIDATOR)):
        out = validator.verify(signer.sign(claims))
        assert {k: v for k, v in out.items() if k not in ("iat", "exp")} == claims


@SETTINGS
@given(claims=claims_st, index=st.integers(min_value=0), char=st.characters(codec="ascii"))
def test_jwt_any_one_character_change_is_rejected(claims: dict[str, object], index: int, char: str) -> None:
    """Replacing any one character of a signed token makes verification fail."""
    token = SIGNER.sign(claims)
    i = index % len(token)
    if token[i] == char:
        return
    with pytest.raises(AuthError) as info:
        VALIDATOR.verify(token[:i] + char + token[i + 1 :])
    assert info.value.code == "auth.invalid_token"
    assert info.value.auth_kind == "invalid_token"


@SETTINGS
@given(data=st.binary(max_size=300))
def test_b64url_round_trip_property(data: bytes) -> None:
    """b64url_decode inverts b64url_encode."""
    assert b64url_decode(b64url_encode(data)) == data


# ---------------------------------------------------------------------------------------------
# Fuzz targets: arbitrary input yields the value or the documented error, nothing else.


@SETTINGS
@given(data=st.binary(max_size=200), aad=st.binary(max_size=16))
def test_fuzz_decrypt(data: bytes, aad: bytes) -> None:
    """Decrypting arbitrary bytes raises only crypto.decrypt_failed (cipher and keyring)."""
    for decrypt in (CIPHER.decrypt, RING.decrypt):
        with pytest.raises(CryptoError) as info:
            decrypt(data, aad)
        assert info.value.code == "crypto.decrypt_failed"


b64_segment = st.binary(max_size=80).map(b64url_encode)
json_segment = json_values.map(lambda v: b64url_encode(json.dumps(v).encode()))
token_st = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    st.lists(st.one_of(b64_segment, json_segment, st.text(max_size=20)), max_size=6).map(".".join),
    st.tuples(json_segment, json_segment, b64_segment).map(".".join),
    st.tuples(
        st.fixed_dictionaries(
            {"alg": st.sampled_from(["HS256", "none", "EdDSA", "ES256"])},
            optional={"kid": st.text(max_size=5), "crit": json_values, "typ": json_values},
        ).map(lambda h: b64url_encode(json.dumps(h).encode())),
        json_segment,
        b64_segment,
    ).map(".".join),
)


@SETTINGS
@given(token=token_st)
def test_fuzz_jwt_verify(token: str | bytes) -> None:
    """Verifying arbitrary text or bytes raises only AuthError(invalid_token), for HS and EdDSA."""
    for validator in (VALIDATOR, ED_VALIDATOR):
        with pytest.raises(AuthError) as info:
            validator.verify(token)
        assert info.value.code == "auth.invalid_token"
        assert info.value.auth_kind == "invalid_token"


jwk_st = st.dictionaries(
    st.sampled_from(["kty", "crv", "x", "y", "d", "n", "e", "k", "alg", "use", "kid", "p", "q"]),
    st.one_of(
        st.sampled_from(["EC", "OKP", "RSA", "oct", "P-256", "Ed25519", "HS256", "ES256", "sig"]),
        b64_segment,
        json_scalars,
    ),
    max_size=8,
)


@SETTINGS
@given(jwk=jwk_st)
def test_fuzz_jwk_parsing(jwk: dict[str, object]) -> None:
    """Arbitrary JWK dicts produce a key or a CryptoError/ConfigError, never another exception."""
    for load in (JwtKey.from_jwk, load_public_key, load_private_key):
        with contextlib.suppress(CryptoError, ConfigError):
            load(jwk)  # type: ignore[operator]


@SETTINGS
@given(
    document=st.one_of(
        json_values, st.lists(jwk_st, max_size=3).map(lambda ks: {"keys": ks}), st.text(max_size=50)
    )
)
def test_fuzz_jwks_document(document: object) -> None:
    """Arbitrary JWKS documents load or raise crypto.invalid_jwks (None: ConfigError, nothing to load)."""
    error: Exception | None = None
    try:
        JwksCache(document)  # type: ignore[arg-type]
    except (CryptoError, ConfigError) as err:
        error = err
    if isinstance(error, ConfigError):
        assert document is None
    elif error is not None:
        assert error.code == "crypto.invalid_jwks"


@SETTINGS
@given(text=st.one_of(st.text(max_size=60), st.binary(max_size=60)))
def test_fuzz_b64url_decode(text: str | bytes) -> None:
    """Arbitrary input decodes canonically (re-encoding gives it back) or raises crypto.invalid_encoding."""
    try:
        raw = b64url_decode(text)
    except CryptoError as err:
        error: CryptoError | None = err
    else:
        error = None
        expected = text if isinstance(text, str) else text.decode("ascii")
        assert b64url_encode(raw) == expected
    assert error is None or error.code == "crypto.invalid_encoding"
