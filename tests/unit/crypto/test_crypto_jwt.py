"""JwtSigner, JwtValidator, JwtKey and JwksCache behaviour and option validation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from llm_infra.crypto import (
    EcdsaP256Signer,
    Ed25519Signer,
    JwksCache,
    JwtKey,
    JwtSigner,
    JwtValidator,
    public_key_to_jwk,
    public_key_to_pem,
)
from llm_infra.errors import AuthError, ConfigError, CryptoError
from llm_infra.secrets import Secret
from llm_infra.testing import FakeClock

NOW = 1_800_000_000.0
S32 = b"s" * 32
S48 = b"t" * 48
S64 = b"u" * 64


@pytest.fixture
def clock() -> FakeClock:
    """A wall clock frozen at NOW."""
    return FakeClock(epoch=NOW)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(header: dict[str, object], claims: dict[str, object], secret: bytes = S32) -> str:
    h = b64(json.dumps(header).encode())
    p = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


@pytest.mark.parametrize(("ctor", "secret"), [("hs256", S32), ("hs384", S48), ("hs512", S64)])
def test_hmac_round_trip(clock: FakeClock, ctor: str, secret: bytes) -> None:
    """Each HS* signer's token verifies under the matching validator and returns the claims."""
    token = getattr(JwtSigner, ctor)(secret, clock=clock).sign({"sub": "alice", "role": ["a"]})
    claims = getattr(JwtValidator, ctor)(secret, clock=clock).verify(token)
    assert claims == {"sub": "alice", "role": ["a"], "iat": int(NOW), "exp": int(NOW) + 900}


def test_asymmetric_round_trips(clock: FakeClock, rsa_key: rsa.RSAPrivateKey) -> None:
    """ES256, EdDSA and RS256 signers' tokens verify with the public key as object, PEM and JWK."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    for signer, ctor, public in [
        (JwtSigner.es256(ec_key, clock=clock), JwtValidator.es256, ec_key.public_key()),
        (JwtSigner.eddsa(ed_key, clock=clock), JwtValidator.eddsa, ed_key.public_key()),
        (JwtSigner.rs256(rsa_key, clock=clock), JwtValidator.rs256, rsa_key.public_key()),
    ]:
        token = signer.sign({"sub": "bob"})
        for form in (public, public_key_to_pem(public), public_key_to_jwk(public)):
            assert ctor(form, clock=clock).verify(token)["sub"] == "bob"
        assert signer.validator().verify(token)["sub"] == "bob"


def test_signers_accept_our_signer_objects_and_private_forms(clock: FakeClock) -> None:
    """JwtSigner takes our signers, private PEM and private JWK; validators take our verifiers."""
    ed = Ed25519Signer.generate()
    ecs = EcdsaP256Signer.generate()
    for signer, validator in [
        (JwtSigner.eddsa(ed, clock=clock), JwtValidator.eddsa(ed.verifier(), clock=clock)),
        (JwtSigner.eddsa(ed.private_pem(), clock=clock), JwtValidator.eddsa(ed, clock=clock)),
        (
            JwtSigner.es256(ecs.private_jwk().reveal(), clock=clock),
            JwtValidator.es256(ecs.verifier(), clock=clock),
        ),
        (JwtSigner.es256(ecs, clock=clock), JwtValidator.es256(ecs, clock=clock)),
    ]:
        assert validator.verify(signer.sign({"sub": "x"}))["sub"] == "x"


@pytest.mark.parametrize(("ctor", "size"), [("hs256", 31), ("hs384", 47), ("hs512", 63)])
def test_short_hmac_secrets_are_refused(ctor: str, size: int) -> None:
    """HS256/384/512 refuse secrets shorter than the hash output (RFC 7518 §3.2)."""
    for cls in (JwtSigner, JwtValidator):
        with pytest.raises(CryptoError) as info:
            getattr(cls, ctor)(b"k" * size)
        assert info.value.code == "crypto.invalid_key_size"


def test_public_key_pem_is_refused_as_hmac_secret(rsa_key: rsa.RSAPrivateKey) -> None:
    """A PEM public key cannot be configured as an HMAC secret (algorithm confusion by configuration)."""
    with pytest.raises(CryptoError, match="asymmetric") as exc_info:
        JwtValidator.hs256(public_key_to_pem(rsa_key))
    assert exc_info.value.code == "crypto.invalid_key"
    with pytest.raises(CryptoError) as exc_info:
        JwtValidator.hs256(12345)  # type: ignore[arg-type]
    assert exc_info.value.code == "crypto.invalid_key"


def test_secret_forms_are_accepted(clock: FakeClock) -> None:
    """HMAC secrets may be bytes, str or a Secret of either."""
    token = JwtSigner.hs256(Secret(S32), clock=clock).sign({})
    for form in (S32, S32.decode(), Secret(S32.decode())):
        assert JwtValidator.hs256(form, clock=clock).verify(token)["exp"] == int(NOW) + 900


def test_signer_defaults_and_overrides(clock: FakeClock) -> None:
    """sign() adds iat/exp/iss/aud unless present; expires_in overrides ttl; ttl=None omits exp."""
    signer = JwtSigner.hs256(S32, issuer="me", audience=["a", "b"], ttl=60, clock=clock, kid="k1")
    validator = signer.validator()
    claims = validator.verify(signer.sign({"sub": "x"}))
    assert claims == {"sub": "x", "iat": int(NOW), "exp": int(NOW) + 60, "iss": "me", "aud": ["a", "b"]}
    assert validator.verify(signer.sign({"sub": "x"}, expires_in=10))["exp"] == int(NOW) + 10
    kept = validator.verify(signer.sign({"exp": NOW + 5.5, "iss": "me", "aud": "a"}))
    assert kept["exp"] == NOW + 5.5
    assert kept["aud"] == "a"
    header = json.loads(base64.urlsafe_b64decode(signer.sign({}).split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    no_exp = JwtSigner.hs256(S32, ttl=None, clock=clock).sign({"sub": "x"})
    assert "exp" not in JwtValidator.hs256(S32, required_claims=(), clock=clock).verify(no_exp)


@pytest.mark.parametrize(
    "claims",
    [
        {"x": Secret("k")},
        {"x": {1, 2}},
        {"exp": "soon"},
        {"iat": float("inf")},
        {"nbf": True},
        {"x": 1 << 70},
    ],
)
def test_sign_refuses_bad_claims(claims: dict[str, object]) -> None:
    """Unserializable claims (including Secrets) and non-numeric time claims are refused."""
    with pytest.raises(CryptoError) as info:
        JwtSigner.hs256(S32).sign(claims)
    assert info.value.code == "crypto.invalid_claims"


def test_sign_refuses_non_mapping() -> None:
    """Claims must be a mapping."""
    with pytest.raises(CryptoError) as exc_info:
        JwtSigner.hs256(S32).sign([("sub", "x")])  # type: ignore[arg-type]
    assert exc_info.value.code == "crypto.invalid_claims"


@pytest.mark.parametrize(
    "options",
    [
        {"leeway": -1},
        {"leeway": 301},
        {"leeway": True},
        {"max_age": 0},
        {"max_token_bytes": 10},
        {"required_claims": [""]},
        {"issuer": ""},
        {"audience": []},
        {"algorithms": []},
        {"algorithms": ["none"]},
        {"algorithms": ["ES256"]},
    ],
)
def test_validator_option_validation(options: dict[str, object]) -> None:
    """Invalid validator options raise ConfigError at construction."""
    with pytest.raises(ConfigError) as exc_info:
        JwtValidator.hs256(S32, **options)  # type: ignore[arg-type]
    assert exc_info.value.code in ("config.invalid", "config.invalid_value")


@pytest.mark.parametrize(
    "keys",
    [
        {},
        [],
        "secret",
        {"k1": "not a key"},
        {"k1": JwtKey("HS256", S32, kid="other")},
        [JwtKey("HS256", S32, kid="a"), JwtKey("HS256", S32, kid="a")],
        [JwtKey("HS256", S32, kid="a"), JwtKey("HS256", S32)],
    ],
)
def test_validator_key_validation(keys: object) -> None:
    """Empty, mistyped, inconsistent or ambiguous key sets raise ConfigError."""
    with pytest.raises(ConfigError) as exc_info:
        JwtValidator(keys)  # type: ignore[arg-type]
    assert exc_info.value.code == "config.invalid"


@pytest.mark.parametrize(
    ("algorithm", "kid"), [("none", None), ("HS1", None), ("HS256", ""), ("HS256", "k" * 300)]
)
def test_jwt_key_validation(algorithm: str, kid: str | None) -> None:
    """Unsupported algorithms and bad key ids raise ConfigError."""
    with pytest.raises(ConfigError) as exc_info:
        JwtKey(algorithm, S32, kid=kid)
    assert exc_info.value.code in ("config.invalid", "config.invalid_value")


def test_key_map_names_the_kid(clock: FakeClock) -> None:
    """In a {kid: JwtKey} map the map's key is the kid; the caller's JwtKey is not mutated."""
    key = JwtKey("HS256", S32)
    validator = JwtValidator({"k1": key, "k2": JwtKey("HS256", S48)}, clock=clock)
    assert key.kid is None
    assert validator.verify(JwtSigner.hs256(S32, kid="k1", clock=clock).sign({}))
    with pytest.raises(AuthError) as exc_info:
        validator.verify(JwtSigner.hs256(S32, kid="k2", clock=clock).sign({}))
    assert exc_info.value.code == "auth.invalid_token"


def test_list_of_keys_and_single_named_key(clock: FakeClock) -> None:
    """A list of named keys selects by kid; a sole named key also serves tokens without kid."""
    validator = JwtValidator([JwtKey("HS256", S32, kid="a"), JwtKey("HS384", S48, kid="b")], clock=clock)
    assert validator.verify(JwtSigner.hs384(S48, kid="b", clock=clock).sign({"n": 1}))["n"] == 1
    single = JwtValidator(JwtKey("HS256", S32, kid="a"), clock=clock)
    assert single.verify(JwtSigner.hs256(S32, clock=clock).sign({"n": 2}))["n"] == 2


def test_key_type_must_match_algorithm(rsa_key: rsa.RSAPrivateKey) -> None:
    """ES256/EdDSA/RS256 keys of the wrong type are refused, for signing and verifying."""
    ed = ed25519.Ed25519PrivateKey.generate()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    for bad in [
        lambda: JwtValidator.es256(ed.public_key()),
        lambda: JwtValidator.eddsa(rsa_key.public_key()),
        lambda: JwtValidator.rs256(ec_key.public_key()),
        lambda: JwtSigner.es256(ed),
        lambda: JwtSigner.eddsa(rsa_key),
        lambda: JwtSigner.rs256(ec_key),
        lambda: JwtValidator.es256(ec.generate_private_key(ec.SECP384R1()).public_key()),
        lambda: JwtValidator.rs256(
            rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
        ),
    ]:
        with pytest.raises(CryptoError) as info:
            bad()
        assert info.value.code == "crypto.invalid_key"


def test_signer_option_validation() -> None:
    """A bad ttl or algorithm raises ConfigError."""
    with pytest.raises(ConfigError) as exc_info:
        JwtSigner.hs256(S32, ttl=0)
    assert exc_info.value.code == "config.invalid"
    with pytest.raises(ConfigError) as exc_info:
        JwtSigner("none", S32)
    assert exc_info.value.code == "config.invalid_value"


def test_accepted_header_variants(clock: FakeClock) -> None:
    """typ may be absent, JWT or at+jwt in any case; unknown harmless members (x5t) are ignored."""
    validator = JwtValidator.hs256(S32, clock=clock)
    claims = {"exp": NOW + 60}
    for header in (
        {"alg": "HS256"},
        {"alg": "HS256", "typ": "jwt"},
        {"alg": "HS256", "typ": "at+JWT"},
        {"alg": "HS256", "typ": "application/at+jwt"},
        {"alg": "HS256", "x5t": "abc"},
    ):
        assert validator.verify(hs256_token(header, claims)) == claims


def test_bytes_tokens_and_non_string_input(clock: FakeClock) -> None:
    """A token may be given as bytes; any other type is an invalid token."""
    validator = JwtValidator.hs256(S32, clock=clock)
    token = JwtSigner.hs256(S32, clock=clock).sign({"sub": "x"})
    assert validator.verify(token.encode())["sub"] == "x"
    assert validator.verify(bytearray(token.encode()))["sub"] == "x"
    for bad in (None, 12, ["a"], b"x" * 9000):
        with pytest.raises(AuthError) as exc_info:
            validator.verify(bad)  # type: ignore[arg-type]
        assert exc_info.value.code == "auth.invalid_token"


def test_issuer_and_audience_sets(clock: FakeClock) -> None:
    """Several accepted issuers/audiences may be configured; a token audience list must intersect."""
    validator = JwtValidator.hs256(S32, issuer=["a", "b"], audience={"x", "y"}, clock=clock)
    signer = JwtSigner.hs256(S32, clock=clock)
    assert validator.verify(signer.sign({"iss": "b", "aud": ["z", "y"]}))["iss"] == "b"
    with pytest.raises(AuthError) as info:
        validator.verify(signer.sign({"iss": "c", "aud": "x"}))
    assert info.value.code == "auth.invalid_token"
    for claims in ({"iss": 1, "aud": "x"}, {"iss": "a", "aud": ["z", 1]}, {"iss": "a", "aud": 7}):
        with pytest.raises(CryptoError) as refused:
            signer.sign(claims)
        assert refused.value.code == "crypto.invalid_claims"


def test_max_age_requires_fresh_iat(clock: FakeClock) -> None:
    """With max_age, iat is required and tokens older than max_age + leeway are expired."""
    validator = JwtValidator.hs256(S32, max_age=300, leeway=0, clock=clock)
    signer = JwtSigner.hs256(S32, clock=clock)
    assert validator.verify(signer.sign({"iat": NOW - 299}))
    with pytest.raises(AuthError) as info:
        validator.verify(signer.sign({"iat": NOW - 300}))
    assert info.value.code == "auth.token_expired"
    assert info.value.auth_kind == "token_expired"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": NOW + 60, "nbf": "x"}, "nbf type"),
        ({"exp": NOW + 60, "iat": "x"}, "iat type"),
        ({"exp": NOW + 60, "jti": 5}, "jti type"),
    ],
)
def test_claim_types(clock: FakeClock, claims: dict[str, object], reason: str) -> None:
    """Registered claims of the wrong JSON type are rejected, with the reason kept for logs only."""
    with pytest.raises(AuthError) as info:
        JwtValidator.hs256(S32, clock=clock).verify(hs256_token({"alg": "HS256"}, claims))
    assert info.value.code == "auth.invalid_token"
    assert info.value.attributes["reason"] == reason
    assert reason not in str(info.value)
    assert "reason" not in json.dumps(info.value.to_problem())


def test_jwt_key_from_jwk() -> None:
    """JwtKey.from_jwk pins the JWK's alg, defaults per key type, and refuses inconsistent JWKs."""
    oct_jwk = {"kty": "oct", "k": b64(S32), "kid": "o"}
    assert JwtKey.from_jwk(oct_jwk).algorithm == "HS256"
    assert JwtKey.from_jwk({**oct_jwk, "k": b64(S48)}, algorithm="HS384").algorithm == "HS384"
    ed_jwk = public_key_to_jwk(ed25519.Ed25519PrivateKey.generate())
    assert JwtKey.from_jwk(ed_jwk).algorithm == "EdDSA"
    ec_jwk = public_key_to_jwk(ec.generate_private_key(ec.SECP256R1()))
    assert repr(JwtKey.from_jwk({**ec_jwk, "kid": "e"})) == "JwtKey(algorithm='ES256', kid='e')"
    for bad, algorithm in [
        ({**oct_jwk, "alg": "HS256"}, "HS384"),
        ({**oct_jwk, "use": "enc"}, None),
        ({**oct_jwk, "k": "not base64!"}, None),
        ({**oct_jwk, "k": 5}, None),
        ({**oct_jwk, "kid": ""}, None),
        ({**oct_jwk, "alg": "none"}, None),
        (oct_jwk, "ES256"),
        (ec_jwk, "HS256"),
        ("not a dict", None),
    ]:
        with pytest.raises(CryptoError) as exc_info:
            JwtKey.from_jwk(bad, algorithm=algorithm)  # type: ignore[arg-type]
        assert exc_info.value.code == "crypto.invalid_key"


def test_keys_refuse_pickling_and_hide_material(clock: FakeClock) -> None:
    """JwtKey and JwtSigner cannot be pickled; reprs show algorithm and kid only."""
    key = JwtKey("HS256", S32, kid="k")
    signer = JwtSigner.hs256(S32, kid="k")
    for obj in (key, signer):
        with pytest.raises(TypeError):
            pickle.dumps(obj)
        assert S32.decode() not in repr(obj)
    assert repr(signer) == "JwtSigner(algorithm='HS256', kid='k')"
    assert "HS256" in repr(JwtValidator(key, clock=clock))
    assert key.verify_signature(b"a.b", hmac.new(S32, b"a.b", hashlib.sha256).digest())


# ----------------------------------------------------------------------------------------------
# JwksCache


def _jwks(*keys: dict[str, object]) -> dict[str, object]:
    return {"keys": list(keys)}


def test_jwks_static_document_selects_by_kid(clock: FakeClock, rsa_key: rsa.RSAPrivateKey) -> None:
    """A static JWKS verifies tokens by kid; unusable keys are skipped and counted."""
    ed = Ed25519Signer.generate()
    ecs = EcdsaP256Signer.generate()
    document = _jwks(
        {**ed.public_jwk(), "kid": "ed"},
        {**ecs.public_jwk(), "kid": "ec", "use": "sig", "alg": "ES256"},
        {**public_key_to_jwk(rsa_key), "kid": "rsa"},
        {**ecs.public_jwk(), "kid": "enc", "use": "enc"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"},
    )
    cache = JwksCache(document)
    assert cache.skipped == 2
    assert cache.kids == ("ed", "ec", "rsa")
    validator = JwtValidator.from_jwks(document, clock=clock)
    assert validator.verify(JwtSigner.eddsa(ed, kid="ed", clock=clock).sign({"n": 1}))["n"] == 1
    assert validator.verify(JwtSigner.es256(ecs, kid="ec", clock=clock).sign({"n": 2}))["n"] == 2
    assert validator.verify(JwtSigner.rs256(rsa_key, kid="rsa", clock=clock).sign({"n": 3}))["n"] == 3
    for kid in ("enc", "p384", "nope", None):
        with pytest.raises(AuthError) as exc_info:
            validator.verify(JwtSigner.es256(ecs, kid=kid, clock=clock).sign({}))
        assert exc_info.value.code == "auth.invalid_token"
    assert "ed" in repr(cache)


def test_jwks_algorithm_allow_list(clock: FakeClock) -> None:
    """Keys outside the cache's or the validator's algorithm list are unusable."""
    ed = Ed25519Signer.generate()
    document = _jwks({**ed.public_jwk(), "kid": "ed"})
    assert JwksCache(document, algorithms=["ES256"]).kids == ()
    validator = JwtValidator(JwksCache(document), algorithms=["ES256"], clock=clock)
    with pytest.raises(AuthError) as exc_info:
        validator.verify(JwtSigner.eddsa(ed, kid="ed", clock=clock).sign({}))
    assert exc_info.value.code == "auth.invalid_token"


def test_jwks_single_unnamed_key_and_json_text(clock: FakeClock) -> None:
    """A one-key JWKS without kid serves tokens without kid; the document may be JSON text."""
    ed = Ed25519Signer.generate()
    cache = JwksCache(json.dumps(_jwks(ed.public_jwk())))
    validator = JwtValidator(cache, clock=clock)
    assert validator.verify(JwtSigner.eddsa(ed, clock=clock).sign({"n": 1}))["n"] == 1
    named = JwtValidator(JwksCache(_jwks({**ed.public_jwk(), "kid": "only"})), clock=clock)
    assert named.verify(JwtSigner.eddsa(ed, clock=clock).sign({"n": 2}))["n"] == 2


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"keys": "x"},
        {"nokeys": []},
        {"keys": ["x"]},
        "not json",
        b"[1]",
    ],
)
def test_jwks_malformed_documents(document: object) -> None:
    """A malformed JWKS raises crypto.invalid_jwks."""
    with pytest.raises(CryptoError) as info:
        JwksCache(document)  # type: ignore[arg-type]
    assert info.value.code == "crypto.invalid_jwks"


def test_jwks_ambiguous_documents() -> None:
    """Duplicate kids, or unnamed keys beside others, are refused."""
    a, b = Ed25519Signer.generate().public_jwk(), Ed25519Signer.generate().public_jwk()
    for document in (_jwks({**a, "kid": "x"}, {**b, "kid": "x"}), _jwks(a, {**b, "kid": "y"})):
        with pytest.raises(CryptoError) as exc_info:
            JwksCache(document)
        assert exc_info.value.code == "crypto.invalid_jwks"


def test_jwks_options() -> None:
    """JwksCache needs a document or a fetch callable, a positive ttl and a non-negative interval."""
    with pytest.raises(ConfigError) as exc_info:
        JwksCache()
    assert exc_info.value.code == "config.invalid"
    with pytest.raises(ConfigError) as exc_info:
        JwksCache(_jwks(), ttl=0)
    assert exc_info.value.code == "config.invalid"
    with pytest.raises(ConfigError) as exc_info:
        JwksCache(_jwks(), min_refresh_interval=-1)
    assert exc_info.value.code == "config.invalid"
    assert JwksCache(_jwks()).refresh() is False


def test_jwks_fetch_refreshes_on_unknown_kid_at_most_once_per_interval(clock: FakeClock) -> None:
    """With fetch, an unknown kid triggers a refetch, rate limited by min_refresh_interval."""
    old, new = Ed25519Signer.generate(), Ed25519Signer.generate()
    documents = [_jwks({**old.public_jwk(), "kid": "old"})]
    calls: list[int] = []

    def fetch() -> dict[str, object]:
        calls.append(1)
        return documents[-1]

    cache = JwksCache(fetch=fetch, ttl=3600, min_refresh_interval=30, clock=clock)
    validator = JwtValidator(cache, clock=clock)
    assert len(calls) == 1
    documents.append(_jwks({**old.public_jwk(), "kid": "old"}, {**new.public_jwk(), "kid": "new"}))
    token = JwtSigner.eddsa(new, kid="new", clock=clock).sign({})
    with pytest.raises(AuthError) as exc_info:  # the first fetch was just now: no refetch yet
        validator.verify(token)
    assert exc_info.value.code == "auth.invalid_token"
    assert len(calls) == 1
    clock.advance(30)
    assert validator.verify(token)
    assert len(calls) == 2
    forged = JwtSigner.eddsa(new, kid="forged", clock=clock).sign({})
    for _ in range(5):  # forged kids cannot make us hammer the provider
        with pytest.raises(AuthError) as exc_info:
            validator.verify(forged)
        assert exc_info.value.code == "auth.invalid_token"
    assert len(calls) == 2


def test_jwks_ttl_refresh_and_failing_fetch_keeps_keys(clock: FakeClock) -> None:
    """Keys are refetched after ttl; a failing fetch is recorded and the last good keys stay."""
    ed = Ed25519Signer.generate()
    state = {"fail": False, "calls": 0}

    def fetch() -> dict[str, object]:
        state["calls"] += 1
        if state["fail"]:
            raise OSError("provider down")
        return _jwks({**ed.public_jwk(), "kid": "k"})

    cache = JwksCache(fetch=fetch, ttl=60, min_refresh_interval=1, clock=clock)
    clock.advance(61)
    assert cache.get("k") is not None
    assert state["calls"] == 2
    state["fail"] = True
    clock.advance(61)
    assert cache.get("k") is not None
    assert isinstance(cache.last_error, OSError)
    assert cache.refresh() is False


def test_verify_signature_rejects_wrong_lengths_and_forgeries(rsa_key: rsa.RSAPrivateKey) -> None:
    """Asymmetric JwtKeys reject signatures of the wrong length or content without raising."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    for key, size in (
        (JwtKey("ES256", ec_key), 64),
        (JwtKey("EdDSA", ed_key), 64),
        (JwtKey("RS256", rsa_key), 256),
    ):
        assert not key.verify_signature(b"a.b", b"\x01" * (size - 1))
        assert not key.verify_signature(b"a.b", b"\x01" * size)


def test_public_jwk_must_be_a_mapping() -> None:
    """The JWK parser refuses anything but a mapping."""
    from llm_infra.crypto._keys import public_key_from_jwk

    with pytest.raises(CryptoError) as exc_info:
        public_key_from_jwk("not a jwk")  # type: ignore[arg-type]
    assert exc_info.value.code == "crypto.invalid_key"


def test_rfc9864_ed25519_algorithm_name(clock: FakeClock) -> None:
    """The fully-specified "Ed25519" alg works, and is pinned: an "EdDSA" key refuses it and vice versa."""
    key = ed25519.Ed25519PrivateKey.generate()
    token = JwtSigner("Ed25519", key, clock=clock).sign({"sub": "x"})
    assert JwtValidator(JwtKey("Ed25519", key.public_key()), clock=clock).verify(token)["sub"] == "x"
    with pytest.raises(AuthError) as exc_info:
        JwtValidator.eddsa(key.public_key(), clock=clock).verify(token)
    assert exc_info.value.code == "auth.invalid_token"
    with pytest.raises(AuthError) as exc_info:
        JwtValidator(JwtKey("Ed25519", key), clock=clock).verify(JwtSigner.eddsa(key, clock=clock).sign({}))
    assert exc_info.value.code == "auth.invalid_token"
