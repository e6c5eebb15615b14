"""A suite of crafted malicious or malformed JWTs: every one must be rejected with an opaque AuthError."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from llm_infra.crypto import JwtKey, JwtValidator, public_key_to_jwk
from llm_infra.errors import AuthError
from llm_infra.testing import FakeClock

NOW = 1_800_000_000
LEEWAY = 60
SECRET = b"attack-suite-secret-0123456789abcdef"
ISS, AUD = "https://issuer.test", "api"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def js(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def good_claims(**extra: object) -> dict[str, object]:
    claims: dict[str, object] = {"sub": "alice", "iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 600}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


@dataclass
class Env:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    ed_key: ed25519.Ed25519PrivateKey
    attacker_rsa: rsa.RSAPrivateKey
    attacker_ec: ec.EllipticCurvePrivateKey

    def pem(self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def validator(self, kind: str, now: float = NOW) -> JwtValidator:
        clock = FakeClock(epoch=now)
        opts = {"issuer": ISS, "audience": AUD, "leeway": LEEWAY, "clock": clock}
        if kind == "hs":
            return JwtValidator.hs256(SECRET, **opts)  # type: ignore[arg-type]
        if kind == "rs":
            return JwtValidator.rs256(self.rsa_key.public_key(), **opts)  # type: ignore[arg-type]
        if kind == "es":
            return JwtValidator.es256(self.ec_key.public_key(), **opts)  # type: ignore[arg-type]
        if kind == "ed":
            return JwtValidator.eddsa(self.ed_key.public_key(), **opts)  # type: ignore[arg-type]
        if kind == "noaud":
            return JwtValidator.hs256(SECRET, clock=clock)
        keys = {"k1": JwtKey("HS256", SECRET), "k2": JwtKey("ES256", self.ec_key.public_key())}
        return JwtValidator(keys, **opts)  # type: ignore[arg-type]


def sign(alg: str, key: object, signing_input: bytes) -> bytes:
    if alg.startswith("HS"):
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return hmac.new(key, signing_input, digest).digest()  # type: ignore[arg-type]
    if alg == "RS256":
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined, no-any-return]
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))  # type: ignore[attr-defined]
        s = min(s, P256_N - s)  # low-S, the only form the validator accepts
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(signing_input)  # type: ignore[attr-defined, no-any-return]


def forge(
    header: dict[str, object] | bytes,
    claims: dict[str, object] | bytes,
    *,
    alg: str | None = "HS256",
    key: object = SECRET,
) -> str:
    """Build a compact token from arbitrary header/claims; sign with ``alg``/``key`` (None: empty sig)."""
    h = b64(header if isinstance(header, bytes) else js(header))
    p = b64(claims if isinstance(claims, bytes) else js(claims))
    signing_input = f"{h}.{p}".encode()
    sig = "" if alg is None else b64(sign(alg, key, signing_input))
    return f"{h}.{p}.{sig}"


def hs(**header: object) -> dict[str, object]:
    return {"alg": "HS256", "typ": "JWT", **header}


def flip_trailing_bits(segment: str) -> str:
    """Change the last character to another that decodes to the same bytes (non-zero unused bits)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(segment) % 4 in (2, 3)  # 2 chars -> 1 byte (4 spare bits), 3 chars -> 2 bytes (2 spare)
    idx = alphabet.index(segment[-1])
    assert idx & 1 == 0  # canonical: the spare bits are zero
    return segment[:-1] + alphabet[idx | 1]


def payload_with_spare_bits() -> str:
    """A validly signed token whose payload segment length leaves spare bits in its last character."""
    for i in range(4):
        token = forge(hs(), good_claims(p="x" * i))
        if len(token.split(".")[1]) % 4:
            return token
    raise AssertionError("unreachable: four consecutive lengths cover every residue")


def with_segment(token: str, index: int, fn: Callable[[str], str], *, resign: bool = False) -> str:
    """Rewrite one segment; with ``resign`` the HS256 signature is recomputed over the new text.

    Re-signing shows the rejection comes from the strict decoder, not from a broken signature.
    """
    parts = token.split(".")
    parts[index] = fn(parts[index])
    if resign:
        parts[2] = b64(sign("HS256", SECRET, f"{parts[0]}.{parts[1]}".encode()))
    return ".".join(parts)


def std_alphabet_payload() -> str:
    """A validly signed token whose payload encoding contains '-' or '_', re-spelt with '+'/'/'."""
    for i in range(1000):
        token = forge(hs(), good_claims(pad="?" * i + ">"))
        payload = token.split(".")[1]
        if "-" in payload or "_" in payload:
            return with_segment(token, 1, lambda s: s.replace("-", "+").replace("_", "/"), resign=True)
    raise AssertionError("no payload with url-safe characters found")


def _make(env: Env) -> dict[str, tuple[str, JwtValidator]]:
    rs, es, hsv, multi, ed = (env.validator(k) for k in ("rs", "es", "hs", "multi", "ed"))
    rsa_pem, ec_pem = env.pem(env.rsa_key), env.pem(env.ec_key)
    claims = good_claims()
    good = forge(hs(), claims)
    cases: dict[str, tuple[str, JwtValidator]] = {
        # --- alg none and malformed alg ---
        "alg_none": (forge({"alg": "none"}, claims, alg=None), hsv),
        "alg_None": (forge({"alg": "None"}, claims, alg=None), hsv),
        "alg_NONE": (forge({"alg": "NONE"}, claims, alg=None), hsv),
        "alg_nOnE": (forge({"alg": "nOnE"}, claims, alg=None), hsv),
        "alg_none_with_valid_hs_signature": (forge({"alg": "none"}, claims), hsv),
        "alg_none_on_rs_validator": (forge({"alg": "none"}, claims, alg=None), rs),
        "alg_missing": (forge({"typ": "JWT"}, claims), hsv),
        "alg_null": (forge({"alg": None}, claims), hsv),
        "alg_list": (forge({"alg": ["HS256"]}, claims), hsv),
        "alg_trailing_space": (forge({"alg": "HS256 "}, claims), hsv),
        "alg_lowercase_hs256": (forge({"alg": "hs256"}, claims), hsv),
        "empty_signature_hs256": (forge(hs(), claims, alg=None), hsv),
        # --- HS/RS and HS/EC key confusion: the public key PEM used as HMAC secret ---
        "hs256_with_rsa_public_pem": (forge(hs(), claims, key=rsa_pem), rs),
        "hs256_with_rsa_pem_stripped": (forge(hs(), claims, key=rsa_pem.strip()), rs),
        "hs384_with_rsa_public_pem": (forge({"alg": "HS384"}, claims, alg="HS384", key=rsa_pem), rs),
        "hs512_with_rsa_public_pem": (forge({"alg": "HS512"}, claims, alg="HS512", key=rsa_pem), rs),
        "hs256_with_ec_public_pem": (forge(hs(), claims, key=ec_pem), es),
        "hs256_with_ec_public_jwk_json": (forge(hs(), claims, key=js(public_key_to_jwk(env.ec_key))), es),
        "hs256_with_ed_public_raw": (
            forge(hs(), claims, key=env.ed_key.public_key().public_bytes_raw()),
            ed,
        ),
        "rs256_signed_by_attacker_key": (
            forge({"alg": "RS256"}, claims, alg="RS256", key=env.attacker_rsa),
            rs,
        ),
        "es256_signed_by_attacker_key": (
            forge({"alg": "ES256"}, claims, alg="ES256", key=env.attacker_ec),
            es,
        ),
        "es256_on_hs_validator": (forge({"alg": "ES256"}, claims, alg="ES256", key=env.ec_key), hsv),
        "rs256_token_on_es_validator": (forge({"alg": "RS256"}, claims, alg="RS256", key=env.rsa_key), es),
        # --- kid injection ---
        "kid_path_traversal_empty_key": (forge(hs(kid="../../../../../../dev/null"), claims, key=b""), multi),
        "kid_dev_null_zero_key": (forge(hs(kid="/dev/null"), claims, key=b"\x00"), multi),
        "kid_sql_injection": (forge(hs(kid="' OR '1'='1"), claims, key=b"1"), multi),
        "kid_sql_union": (forge(hs(kid="k1' UNION SELECT 'x' --"), claims, key=b"x"), multi),
        "kid_unknown_right_secret": (forge(hs(kid="k9"), claims), multi),
        "kid_int": (forge(hs(kid=1), claims), multi),
        "kid_missing_with_two_keys": (forge(hs(), claims), multi),
        "kid_huge": (forge(hs(kid="k" * 5000), claims), multi),
        "kid_es_key_with_hs_alg_pem_secret": (forge(hs(kid="k2"), claims, key=ec_pem), multi),
        "kid_on_single_unnamed_key": (forge(hs(kid="k1"), claims), hsv),
        # --- header members we refuse ---
        "crit_exp": (forge(hs(crit=["exp"], exp=NOW), claims), hsv),
        "crit_b64_false": (forge(hs(crit=["b64"], b64=False), claims), hsv),
        "crit_empty": (forge(hs(crit=[]), claims), hsv),
        "jku_attacker_url": (forge(hs(jku="https://evil.test/jwks.json"), claims), hsv),
        "x5u_attacker_url": (forge(hs(x5u="https://evil.test/cert.pem"), claims), hsv),
        "x5c_embedded_chain": (forge(hs(x5c=["MIIB"]), claims), hsv),
        "jwk_embedded_attacker_key": (
            forge(
                {"alg": "ES256", "jwk": public_key_to_jwk(env.attacker_ec)},
                claims,
                alg="ES256",
                key=env.attacker_ec,
            ),
            es,
        ),
        "cty_nested_jwt": (forge(hs(cty="JWT"), claims), hsv),
        "typ_dpop": (forge(hs(typ="dpop+jwt"), claims), hsv),
        "typ_not_string": (forge(hs(typ=1), claims), hsv),
        "jwe_enc_header": (forge(hs(enc="A256GCM"), claims), hsv),
        "header_not_object": (forge(b'["HS256"]', claims), hsv),
        # --- duplicates ---
        "duplicate_sub_claim": (
            forge(
                hs(),
                b'{"sub":"alice","sub":"admin","iss":"%s","aud":"api","exp":%d}' % (ISS.encode(), NOW + 600),
            ),
            hsv,
        ),
        "duplicate_exp_claim": (
            forge(hs(), b'{"iss":"%s","aud":"api","exp":%d,"exp":%d}' % (ISS.encode(), NOW - 999, NOW + 600)),
            hsv,
        ),
        "duplicate_alg_header": (forge(b'{"alg":"none","alg":"HS256"}', claims), hsv),
        "duplicate_nested_member": (
            forge(hs(), b'{"exp":%d,"iss":"%s","aud":"api","x":{"a":1,"a":2}}' % (NOW + 600, ISS.encode())),
            hsv,
        ),
        # --- base64url canonical form ---
        "padding_on_header": (
            with_segment(good, 0, lambda s: s + "=" * (-len(s) % 4 or 4), resign=True),
            hsv,
        ),
        "padding_on_payload": (
            with_segment(payload_with_spare_bits(), 1, lambda s: s + "=" * (-len(s) % 4), resign=True),
            hsv,
        ),
        "padding_on_signature": (with_segment(good, 2, lambda s: s + "="), hsv),
        "signature_trailing_bits": (with_segment(good, 2, flip_trailing_bits), hsv),
        "payload_trailing_bits": (
            with_segment(payload_with_spare_bits(), 1, flip_trailing_bits, resign=True),
            hsv,
        ),
        "standard_alphabet": (std_alphabet_payload(), hsv),
        "whitespace_in_segment": (with_segment(good, 1, lambda s: s[:10] + "\n" + s[10:], resign=True), hsv),
        "header_trailing_bits": (
            with_segment(forge(hs(kid="k"), claims), 0, flip_trailing_bits, resign=True),
            hsv,
        ),
        "four_segments": (good + ".AAAA", hsv),
        "jwe_five_segments": (good + "..AAAA", hsv),
        "two_segments": (good.rsplit(".", 1)[0], hsv),
        "non_ascii": (good[:-1] + "é", hsv),
        "truncated_signature": (with_segment(good, 2, lambda s: s[:-2]), hsv),
        # --- claims ---
        "wrong_audience": (forge(hs(), good_claims(aud="other")), hsv),
        "audience_list_without_ours": (forge(hs(), good_claims(aud=["a", "b"])), hsv),
        "audience_empty_list": (forge(hs(), good_claims(aud=[])), hsv),
        "audience_when_none_expected": (forge(hs(), good_claims()), env.validator("noaud")),
        "wrong_issuer": (forge(hs(), good_claims(iss="https://evil.test")), hsv),
        "missing_issuer": (forge(hs(), {k: v for k, v in claims.items() if k != "iss"}), hsv),
        "exp_string": (forge(hs(), good_claims(exp=str(NOW + 600))), hsv),
        "exp_bool": (forge(hs(), good_claims(exp=True)), hsv),
        "exp_missing": (forge(hs(), {k: v for k, v in claims.items() if k != "exp"}), hsv),
        "exp_nan": (forge(hs(), b'{"exp":NaN,"iss":"%s","aud":"api"}' % ISS.encode()), hsv),
        "exp_infinity": (forge(hs(), b'{"exp":1e999,"iss":"%s","aud":"api"}' % ISS.encode()), hsv),
        "sub_not_string": (forge(hs(), good_claims(sub=42)), hsv),
        "payload_array": (forge(hs(), b"[1,2,3]"), hsv),
        "payload_not_utf8": (forge(hs(), b'{"exp":9999999999,"x":"\xff"}'), hsv),
        "lone_surrogate": (
            forge(hs(), b'{"exp":%d,"iss":"%s","aud":"api","x":"\\ud800"}' % (NOW + 600, ISS.encode())),
            hsv,
        ),
        "oversized_token": (forge(hs(), good_claims(blob="A" * 9000)), hsv),
        # --- clock boundaries (leeway 60 s) ---
        "expired_at_leeway_exactly": (forge(hs(), good_claims(exp=NOW - LEEWAY)), hsv),
        "expired_leeway_plus_1": (forge(hs(), good_claims(exp=NOW - LEEWAY - 1)), hsv),
        "nbf_leeway_plus_1_ahead": (forge(hs(), good_claims(nbf=NOW + LEEWAY + 1)), hsv),
        "iat_leeway_plus_1_ahead": (forge(hs(), good_claims(iat=NOW + LEEWAY + 1)), hsv),
    }
    return cases


@pytest.fixture(scope="module")
def env() -> Env:
    """Keys for the suite: the server's RSA/EC/Ed25519 keys and an attacker's own keys."""
    return Env(
        rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
        ed_key=ed25519.Ed25519PrivateKey.generate(),
        attacker_rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        attacker_ec=ec.generate_private_key(ec.SECP256R1()),
    )


@pytest.fixture(scope="module")
def attacks(env: Env) -> dict[str, tuple[str, JwtValidator]]:
    """Every crafted token with the validator it is aimed at."""
    return _make(env)


def test_suite_is_large_enough(attacks: dict[str, tuple[str, JwtValidator]]) -> None:
    """The attack suite holds at least 40 crafted tokens."""
    assert len(attacks) >= 40


def test_zero_attacks_accepted(attacks: dict[str, tuple[str, JwtValidator]]) -> None:
    """Every crafted token is rejected with an AuthError whose message gives nothing away."""
    accepted, errors = [], []
    for name, (token, validator) in attacks.items():
        try:
            validator.verify(token)
        except AuthError as err:
            errors.append(err)
        else:
            accepted.append(name)
    assert accepted == []
    assert len(errors) == len(attacks)
    for err in errors:
        assert (err.auth_kind, err.message) in (
            ("invalid_token", "invalid token"),
            ("token_expired", "token expired"),
        )
        assert err.to_problem()["detail"] == err.message
        assert err.__cause__ is None


def test_controls_are_accepted(env: Env) -> None:
    """The same validators accept honest tokens, so rejections above are not a broken validator."""
    claims = good_claims()
    assert env.validator("hs").verify(forge(hs(), claims))["sub"] == "alice"
    assert env.validator("rs").verify(forge({"alg": "RS256"}, claims, alg="RS256", key=env.rsa_key))
    assert env.validator("es").verify(forge({"alg": "ES256"}, claims, alg="ES256", key=env.ec_key))
    assert env.validator("ed").verify(forge({"alg": "EdDSA"}, claims, alg="EdDSA", key=env.ed_key))
    assert env.validator("multi").verify(forge(hs(kid="k1"), claims))
    assert env.validator("multi").verify(
        forge({"alg": "ES256", "kid": "k2"}, claims, alg="ES256", key=env.ec_key)
    )


@pytest.mark.parametrize(
    ("claim", "offset", "accepted"),
    [
        ("exp", -LEEWAY + 1, True),  # expired 59 s ago: inside the leeway
        ("exp", -LEEWAY, False),  # now == exp + leeway: expired
        ("exp", -LEEWAY - 1, False),
        ("nbf", LEEWAY - 1, True),
        ("nbf", LEEWAY, True),  # now == nbf - leeway: valid from this instant
        ("nbf", LEEWAY + 1, False),
        ("iat", LEEWAY - 1, True),
        ("iat", LEEWAY, True),
        ("iat", LEEWAY + 1, False),
    ],
)
def test_clock_boundaries_at_leeway(env: Env, claim: str, offset: int, accepted: bool) -> None:
    """exp/nbf/iat are enforced at exactly the leeway: one second inside passes, one outside fails."""
    claims = good_claims(**{claim: NOW + offset})
    if claim == "exp":
        claims["iat"] = NOW - 3600
    token = forge(hs(), claims)
    validator = env.validator("hs")
    if accepted:
        assert validator.verify(token)[claim] == NOW + offset
    else:
        with pytest.raises(AuthError) as info:
            validator.verify(token)
        assert info.value.code in ("auth.invalid_token", "auth.token_expired")
        assert info.value.auth_kind == ("token_expired" if claim == "exp" else "invalid_token")


def test_expiry_reason_is_reported_only_for_authentic_tokens(env: Env) -> None:
    """An expired token with a bad signature is 'invalid', never 'expired' (signature is checked first)."""
    token = forge(hs(), good_claims(exp=NOW - 3600), key=b"wrong-secret-wrong-secret-wrong-secret")
    with pytest.raises(AuthError) as info:
        env.validator("hs").verify(token)
    assert info.value.code == "auth.invalid_token"
    assert info.value.auth_kind == "invalid_token"
