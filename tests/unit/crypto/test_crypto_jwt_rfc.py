"""JWT/JWS/JWK known answers: RFC 7515 Appendix A.1-A.3, RFC 7519 §3.1, RFC 8037 A.4, RFC 7638 §3.1."""

from __future__ import annotations

import pytest

from llm_infra.crypto import (
    JwtKey,
    JwtSigner,
    JwtValidator,
    b64url_encode,
    jwk_thumbprint,
    load_private_key,
)
from llm_infra.errors import AuthError
from llm_infra.testing import FakeClock

# RFC 7515 A.1 / RFC 7519 §3.1: HS256 with this symmetric JWK.
A1_JWK = {
    "kty": "oct",
    "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
}
A1_HEADER = b'{"typ":"JWT",\r\n "alg":"HS256"}'
PAYLOAD = b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
EXP = 1300819380
CLAIMS = {"iss": "joe", "exp": EXP, "http://example.com/is_root": True}

# RFC 7515 A.2: RS256 with the RSA key of RFC 7517 A.1 (public part).
A2_JWK = {
    "kty": "RSA",
    "n": (
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-"
        "SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-"
        "UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2eth"
        "FkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
    ),
    "e": "AQAB",
}
A2_TOKEN = (
    "eyJhbGciOiJSUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdb"
    "F9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383"
    "LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWy"
    "wlVmtVrBp0igcN_IoypGlUPQGe77Rw"
)

# RFC 7515 A.3: ES256.
A3_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}
A3_TOKEN = (
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)

# RFC 8037 A.1-A.4: Ed25519 over the (non-JSON) payload "Example of Ed25519 signing".
OKP_JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
A4_SIGNING_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
A4_SIGNATURE = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"


def _clock_before_exp() -> FakeClock:
    return FakeClock(epoch=EXP - 100)


def test_rfc7515_a1_hs256_token_verifies_with_its_jwk() -> None:
    """The RFC 7515 A.1 / RFC 7519 §3.1 token verifies under its JWK and yields the RFC's claims."""
    validator = JwtValidator(JwtKey.from_jwk(A1_JWK), issuer="joe", clock=_clock_before_exp())
    assert validator.verify(A1_TOKEN) == CLAIMS


def test_rfc7515_a1_hs256_signature_is_reproduced() -> None:
    """Signing the RFC's exact header and payload bytes with the A.1 key yields the RFC's token."""
    from llm_infra.crypto import b64url_decode

    signer = JwtSigner.hs256(b64url_decode(A1_JWK["k"]))
    token = signer._sign_segments(b64url_encode(A1_HEADER).encode(), b64url_encode(PAYLOAD).encode())
    assert token == A1_TOKEN


def test_rfc7515_a1_token_is_expired_today() -> None:
    """The same token is reported expired (not invalid) once its 2011 ``exp`` has passed."""
    validator = JwtValidator(JwtKey.from_jwk(A1_JWK), clock=FakeClock(epoch=EXP + 61))
    with pytest.raises(AuthError) as info:
        validator.verify(A1_TOKEN)
    assert info.value.code == "auth.token_expired"
    assert info.value.auth_kind == "token_expired"


def test_rfc7515_a2_rs256_token_verifies() -> None:
    """The RFC 7515 A.2 RS256 token verifies with the RFC 7517 A.1 public key."""
    validator = JwtValidator.rs256(A2_JWK, clock=_clock_before_exp())
    assert validator.verify(A2_TOKEN) == CLAIMS


def test_rfc7515_a3_es256_token_is_high_s_and_its_low_s_twin_verifies() -> None:
    """The RFC 7515 A.3 ES256 signature is high-S: refused; its low-S twin (r, n - s) verifies."""
    from llm_infra.crypto import b64url_decode

    validator = JwtValidator.es256(A3_JWK, clock=_clock_before_exp())
    with pytest.raises(AuthError) as info:
        validator.verify(A3_TOKEN)
    assert info.value.code == "auth.invalid_token"
    head, payload, sig64 = A3_TOKEN.split(".")
    sig = b64url_decode(sig64)
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    low = sig[:32] + (n - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    assert validator.verify(f"{head}.{payload}.{b64url_encode(low)}") == CLAIMS


def test_rfc8037_a4_ed25519_signature_is_reproduced_and_verifies() -> None:
    """Ed25519 over the RFC 8037 A.4 input gives the RFC's signature, which the public JWK verifies."""
    signer = JwtSigner.eddsa(OKP_JWK)
    head, payload = A4_SIGNING_INPUT.split(b".")
    assert signer._sign_segments(head, payload) == f"{A4_SIGNING_INPUT.decode()}.{A4_SIGNATURE}"
    public = {k: v for k, v in OKP_JWK.items() if k != "d"}
    from llm_infra.crypto import b64url_decode

    assert JwtKey.from_jwk(public).verify_signature(A4_SIGNING_INPUT, b64url_decode(A4_SIGNATURE))


def test_rfc8037_a4_token_is_not_a_jwt() -> None:
    """The RFC 8037 A.4 JWS carries a non-JSON payload, so the JWT validator refuses it as invalid."""
    public = {k: v for k, v in OKP_JWK.items() if k != "d"}
    with pytest.raises(AuthError) as info:
        JwtValidator.eddsa(public, required_claims=()).verify(f"{A4_SIGNING_INPUT.decode()}.{A4_SIGNATURE}")
    assert info.value.code == "auth.invalid_token"
    assert info.value.auth_kind == "invalid_token"


def test_rfc8037_private_jwk_loads_and_matches_public() -> None:
    """The RFC 8037 A.1 private JWK loads, and its public half renders back to the RFC's ``x``."""
    from llm_infra.crypto import public_key_to_jwk

    key = load_private_key(OKP_JWK)
    assert public_key_to_jwk(key) == {"crv": "Ed25519", "kty": "OKP", "x": OKP_JWK["x"]}


def test_rfc8037_a3_and_rfc7638_thumbprints() -> None:
    """The JWK thumbprints of RFC 8037 A.3 (Ed25519) and RFC 7638 §3.1 (RSA) match the published values."""
    assert jwk_thumbprint({k: v for k, v in OKP_JWK.items() if k != "d"}) == (
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    )
    rsa_7638 = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV"
            "4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d"
            "0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF4"
            "4-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(rsa_7638) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
