"""Identity, Credentials, JwtAuthenticator (with the real JwtValidator) and MultiAuthenticator."""

from __future__ import annotations

from typing import Any

import pytest

from llm_infra.audit import AuthMethod
from llm_infra.auth import (
    ApiKeyAuthenticator,
    Authenticator,
    CredentialKind,
    Credentials,
    Identity,
    JwtAuthenticator,
    MemoryKeyStore,
    MultiAuthenticator,
)
from llm_infra.crypto import JwtSigner, JwtValidator
from llm_infra.errors import AuthError, CryptoError, ExternalError, ValidationError
from llm_infra.secrets import Secret
from llm_infra.testing import FakeClock

SECRET = b"jwt-test-secret-0123456789abcdef!"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def signer(clock: FakeClock) -> JwtSigner:
    return JwtSigner.hs256(SECRET, clock=clock, issuer="https://issuer.test")


@pytest.fixture
def jwt(clock: FakeClock) -> JwtAuthenticator:
    return JwtAuthenticator(JwtValidator.hs256(SECRET, clock=clock, issuer="https://issuer.test", leeway=0))


# -- Identity and Credentials ------------------------------------------------------------------


def test_identity_normalizes_collections() -> None:
    """Roles and scopes become frozensets; attributes a read-only mapping."""
    identity = Identity("alice", ["a", "b", "a"], ("s",), "acme", {"k": 1})
    assert identity.roles == frozenset({"a", "b"})
    assert identity.scopes == frozenset({"s"})
    assert identity.has_role("a")
    assert not identity.has_role("z")
    assert identity.has_scope("s")
    with pytest.raises(TypeError):
        identity.attributes["k"] = 2  # type: ignore[index]
    assert hash(identity) == hash(Identity("alice", {"a", "b"}, {"s"}, "acme", {"k": 2}))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Identity(""),
        lambda: Identity(None),
        lambda: Identity("a" * 300),
        lambda: Identity("a", "admin"),
        lambda: Identity("a", [1]),
        lambda: Identity("a", scopes=[""]),
        lambda: Identity("a", tenant=""),
        lambda: Identity("a", attributes=[("k", 1)]),
    ],
)
def test_identity_rejects_bad_shapes(build: Any) -> None:
    """Malformed identities raise ValidationError(auth.invalid_identity)."""
    with pytest.raises(ValidationError) as info:
        build()
    assert info.value.code == "auth.invalid_identity"


def test_identity_method_accepts_string() -> None:
    """The method may be given as its string value."""
    assert Identity("a", method="jwt").method is AuthMethod.JWT  # type: ignore[arg-type]


def test_credentials_hide_their_secret() -> None:
    """Credentials never show the secret in repr or str."""
    canary = "canary-" + "x" * 20
    for creds in (Credentials.api_key(canary), Credentials.bearer(Secret(canary)), Credentials.guess(canary)):
        assert canary not in repr(creds)
        assert canary not in str(creds)
    assert Credentials.guess("lli_abc").kind is CredentialKind.API_KEY
    assert Credentials.guess(Secret("eyJ")).method is AuthMethod.JWT
    with pytest.raises(ValidationError) as exc_info:
        Credentials(CredentialKind.BEARER, "plain")  # type: ignore[arg-type]
    assert exc_info.value.code == "auth.invalid_credentials"


# -- JwtAuthenticator ----------------------------------------------------------------------------


def test_jwt_claims_map_onto_the_identity(signer: JwtSigner, jwt: JwtAuthenticator) -> None:
    """sub, roles, scope, tenant map onto Identity; other claims become attributes."""
    token = signer.sign(
        {
            "sub": "alice",
            "roles": ["reader"],
            "scope": "vector:read  vector:write",
            "tenant": "acme",
            "email": "a@x",
        },
        expires_in=300,
    )
    identity = jwt.authenticate(token)
    assert identity.subject == "alice"
    assert identity.roles == {"reader"}
    assert identity.scopes == {"vector:read", "vector:write"}
    assert identity.tenant == "acme"
    assert identity.method is AuthMethod.JWT
    assert identity.attributes["email"] == "a@x"
    assert identity.attributes["iss"] == "https://issuer.test"
    assert "sub" not in identity.attributes
    assert "roles" not in identity.attributes
    assert jwt.authenticate(Credentials.bearer(token)) == identity
    assert jwt.authenticate(Secret(token)).subject == "alice"


def test_nested_roles_claim_and_scp_list(signer: JwtSigner, clock: FakeClock) -> None:
    """A dotted roles claim (Keycloak style) and an scp list are understood."""
    auth = JwtAuthenticator(
        JwtValidator.hs256(SECRET, clock=clock, issuer="https://issuer.test"),
        roles_claim="realm_access.roles",
    )
    token = signer.sign(
        {"sub": "bob", "realm_access": {"roles": ["admin"]}, "scp": ["a", "b"]}, expires_in=60
    )
    identity = auth.authenticate(token)
    assert identity.roles == {"admin"}
    assert identity.scopes == {"a", "b"}
    assert "realm_access" not in identity.attributes


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": ["r"]},
        {"sub": ""},
        {"sub": "a" * 300},
        {"sub": "a", "roles": "admin user"},
        {"sub": "a", "roles": [1]},
        {"sub": "a", "roles": [""]},
        {"sub": "a", "roles": {"x": 1}},
        {"sub": "a", "scope": 5},
        {"sub": "a", "tenant": 5},
        {"sub": "a", "tenant": ""},
    ],
)
def test_claims_of_the_wrong_shape_make_the_token_invalid(
    signer: JwtSigner, jwt: JwtAuthenticator, claims: dict[str, Any]
) -> None:
    """A validly signed token with malformed identity claims is invalid_token, never coerced."""
    with pytest.raises(AuthError) as info:
        jwt.authenticate(signer.sign(claims, expires_in=60))
    assert info.value.code == "auth.invalid_token"


def test_expired_and_forged_tokens(signer: JwtSigner, jwt: JwtAuthenticator, clock: FakeClock) -> None:
    """Expiry gives token_expired; another key or a mangled token gives invalid_token."""
    token = signer.sign({"sub": "alice"}, expires_in=60)
    clock.advance(61)
    with pytest.raises(AuthError) as info:
        jwt.authenticate(token)
    assert info.value.code == "auth.token_expired"
    assert info.value.auth_kind == "token_expired"
    other = JwtSigner.hs256(b"another-secret-0123456789abcdef!!", clock=clock, issuer="https://issuer.test")
    for bad in (other.sign({"sub": "a"}, expires_in=60), "a.b.c", "x" * 9000, ""):
        with pytest.raises(AuthError) as info:
            jwt.authenticate(bad)
        assert info.value.code == "auth.invalid_token"
        assert info.value.auth_kind == "invalid_token"


class RaisingValidator:
    def __init__(self, exc: Exception | None = None, claims: Any = None) -> None:
        self.exc = exc
        self.claims = claims

    def verify(self, token: str) -> dict[str, Any]:
        if self.exc is not None:
            raise self.exc
        return self.claims  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "exc", [ValueError("bad"), KeyError("x"), CryptoError("nope"), ExternalError("jwks down")]
)
def test_foreign_validator_errors_become_invalid_token(exc: Exception) -> None:
    """Whatever a duck-typed validator raises comes out as AuthError(invalid_token)."""
    with pytest.raises(AuthError) as info:
        JwtAuthenticator(RaisingValidator(exc)).authenticate("t.t.t")
    assert info.value.code == "auth.invalid_token"
    assert info.value.auth_kind == "invalid_token"


def test_validator_returning_a_non_mapping_is_invalid() -> None:
    """Claims that are not a mapping make the token invalid."""
    with pytest.raises(AuthError) as exc_info:
        JwtAuthenticator(RaisingValidator(claims=["sub"])).authenticate("t.t.t")
    assert exc_info.value.code == "auth.invalid_token"


@pytest.mark.anyio
async def test_jwt_async_twin(signer: JwtSigner, jwt: JwtAuthenticator) -> None:
    """aauthenticate is authenticate."""
    token = signer.sign({"sub": "alice"}, expires_in=60)
    assert (await jwt.aauthenticate(token)).subject == "alice"
    assert repr(jwt) == "JwtAuthenticator(validator=JwtValidator)"


def test_supports(jwt: JwtAuthenticator) -> None:
    """JWT handles bearer credentials that are not API keys."""
    assert jwt.supports(Credentials.bearer("eyJ.x.y"))
    assert not jwt.supports(Credentials.bearer("lli_x"))
    assert not jwt.supports(Credentials.api_key("eyJ"))
    assert isinstance(jwt, Authenticator)


# -- MultiAuthenticator --------------------------------------------------------------------------


@pytest.fixture
def multi(jwt: JwtAuthenticator, clock: FakeClock) -> tuple[MultiAuthenticator, ApiKeyAuthenticator]:
    keys = ApiKeyAuthenticator(MemoryKeyStore(), clock=clock)
    return MultiAuthenticator([keys, jwt]), keys


def test_multi_routes_each_credential_kind(
    multi: tuple[MultiAuthenticator, ApiKeyAuthenticator], signer: JwtSigner
) -> None:
    """API keys go to the key authenticator, JWTs to the JWT one, whatever the wrapper."""
    auth, keys = multi
    key = keys.create("svc", ["writer"])
    token = signer.sign({"sub": "alice"}, expires_in=60)
    assert auth.authenticate(key).method is AuthMethod.API_KEY
    assert auth.authenticate(Credentials.bearer(key)).subject == "svc"
    assert auth.authenticate(token).method is AuthMethod.JWT
    assert auth.supports(Credentials.bearer(token))
    assert len(auth.authenticators) == 2
    assert "MultiAuthenticator" in repr(auth)


def test_multi_raises_the_first_error(multi: tuple[MultiAuthenticator, ApiKeyAuthenticator]) -> None:
    """When every candidate fails, the first one's error is raised."""
    auth, _ = multi
    with pytest.raises(AuthError) as info:
        auth.authenticate("lli_" + "a" * 16 + "_" + "b" * 56)
    assert info.value.code == "auth.invalid_credentials"
    assert info.value.auth_kind == "invalid_credentials"
    with pytest.raises(AuthError) as info:
        auth.authenticate("not-a-jwt")
    assert info.value.code == "auth.invalid_token"
    assert info.value.auth_kind == "invalid_token"


def test_multi_falls_through_to_the_next_authenticator(signer: JwtSigner, clock: FakeClock) -> None:
    """A failure of the first supporting authenticator lets the next one try."""
    failing = JwtAuthenticator(RaisingValidator(AuthError("no", kind="invalid_token")))
    good = JwtAuthenticator(JwtValidator.hs256(SECRET, clock=clock, issuer="https://issuer.test"))
    auth = MultiAuthenticator([failing, good])
    assert auth.authenticate(signer.sign({"sub": "a"}, expires_in=60)).subject == "a"


def test_multi_without_a_supporting_authenticator() -> None:
    """Credentials nobody supports are invalid_credentials."""
    auth = MultiAuthenticator([ApiKeyAuthenticator(MemoryKeyStore())])
    with pytest.raises(AuthError) as info:
        auth.authenticate(Credentials.bearer("eyJ.a.b"))
    assert info.value.code == "auth.invalid_credentials"
    assert info.value.message == "unsupported credentials"


@pytest.mark.anyio
async def test_multi_async(multi: tuple[MultiAuthenticator, ApiKeyAuthenticator], signer: JwtSigner) -> None:
    """aauthenticate follows the same rules."""
    auth, keys = multi
    key = await keys.acreate("svc")
    assert (await auth.aauthenticate(key)).subject == "svc"
    assert (await auth.aauthenticate(signer.sign({"sub": "a"}, expires_in=60))).subject == "a"
    with pytest.raises(AuthError) as exc_info:
        await auth.aauthenticate("junk")
    assert exc_info.value.code == "auth.invalid_token"
