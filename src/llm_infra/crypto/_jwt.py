"""JSON Web Tokens (RFC 7519) in JWS compact form: ``JwtValidator`` (strict) and ``JwtSigner``.

The JOSE parsing is ours (``_jose``: strict base64url, duplicate-free JSON, one type per
registered claim); keys live in ``_jwk`` and ``_jwks``; the primitives are ``hmac``/``hashlib``
and ``cryptography``. We do not delegate to PyJWT because it is measured 3-4x slower here and
laxer on our rules (it accepts duplicate members, does not pin the algorithm per key, ignores
``typ``); see docs/crypto.md.
"""

from __future__ import annotations

import binascii
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypedDict, Unpack, final

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.crypto import _codes
from llm_infra.crypto._b64 import b64url_encode, decode_strict
from llm_infra.crypto._jose import (
    ALGORITHMS,
    ALLOWED_TYP,
    FORBIDDEN_HEADER,
    HMAC_HASH,
    MAX_KID,
    MAX_NUMERIC_DATE,
    MAX_TOKEN_BYTES,
    STRING_CLAIMS,
    Reject,
    audience_value,
    check_algorithm,
    check_kid,
    expired,
    invalid_token,
    json_object,
    numeric_date,
    registered_claim_error,
)
from llm_infra.crypto._jwk import JwtKey, KeySource, StaticKeys, hmac_secret, normalize_keys
from llm_infra.crypto._jwks import JwksCache
from llm_infra.crypto._keys import KeyInput, PrivateKey, PublicKey, load_private_key
from llm_infra.crypto._sign import EcdsaP256Signer, Ed25519Signer, low_s_signature
from llm_infra.errors import AuthError, ConfigError, CryptoError
from llm_infra.secrets import Secret

_ABSENT: Any = object()


class ValidatorOptions(TypedDict, total=False):
    """Keyword options shared by ``JwtValidator``'s constructors (see ``JwtValidator``)."""

    algorithms: Iterable[str] | None
    issuer: str | Iterable[str] | None
    audience: str | Iterable[str] | None
    leeway: float
    required_claims: Iterable[str]
    max_age: float | None
    clock: Clock
    max_token_bytes: int


class SignerOptions(TypedDict, total=False):
    """Keyword options shared by ``JwtSigner``'s constructors (see ``JwtSigner``)."""

    kid: str | None
    issuer: str | None
    audience: str | Sequence[str] | None
    ttl: float | None
    clock: Clock


def _str_set(value: str | Iterable[str] | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = frozenset([value]) if isinstance(value, str) else frozenset(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{name} must be a non-empty string or strings", key=name)
    return items


def _peek_kid(token: str | bytes) -> str | None:
    """The ``kid`` of a token's header, or ``None`` for anything unreadable (``verify`` decides)."""
    try:
        raw = token.encode("ascii") if isinstance(token, str) else bytes(token)
        header = json_object(decode_strict(raw[: min(len(raw), MAX_TOKEN_BYTES)].split(b".", 1)[0]))
    except (ValueError, TypeError, RecursionError, UnicodeError, binascii.Error):
        return None
    kid = header.get("kid")
    return kid if type(kid) is str and len(kid) <= MAX_KID else None


@final
class JwtValidator:
    """Verify compact JWS tokens and their claims, strictly.

    Rules, in order: tokens over ``max_token_bytes`` are refused before decoding; exactly three
    canonical base64url segments; header and claims are duplicate-free JSON objects; ``alg``
    must equal the algorithm pinned to the selected key (so ``none`` and algorithm confusion are
    impossible); ``kid`` only selects among configured keys; ``crit``, ``jku``, ``jwk``, ``x5u``,
    ``x5c``, ``b64``, ``cty``, ``zip`` and ``enc`` are refused; ``typ``, if present, must be JWT or
    at+jwt; the signature is checked before the claims are parsed (ES256 signatures must be
    low-S); every registered claim present must have its one type (``exp``/``nbf``/``iat`` a
    finite NumericDate, ``iss``/``sub``/``jti`` strings, ``aud`` a string or non-empty list of
    strings; ``null`` is never valid); then ``exp``, ``nbf``, ``iat``, ``iss``, ``aud`` and
    ``required_claims`` are enforced with ``leeway`` seconds.

    Args:
        keys: a ``JwtKey``, a list of them, a ``{kid: JwtKey}`` map, or a ``KeySource`` such as
            ``JwksCache``.
        algorithms: allow-list of algorithms (default: those of the keys); a key whose algorithm is
            not listed is refused at construction (static keys) or at use (key sources).
        issuer: accepted ``iss`` value(s); when set the claim is required.
        audience: accepted ``aud`` value(s); when set the claim is required and must intersect.
            When unset, a token carrying ``aud`` is refused (RFC 7519 §4.1.3).
        leeway: clock skew tolerance in seconds (0-300).
        required_claims: claims that must be present and not null (default ``("exp",)``).
        max_age: if set, ``iat`` is required and may be at most this many seconds old.
        clock: wall-clock source (``llm_infra.testing.FakeClock`` in tests).
        max_token_bytes: the size limit (default 8 KiB).

    Raises:
        ConfigError: for invalid options.

    .. warning::
        Tokens are bearer credentials: anyone holding one is its subject until it expires. Keep
        lifetimes short and never log tokens.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_algorithms",
        "_audiences",
        "_clock",
        "_issuers",
        "_keys",
        "_leeway",
        "_max_age",
        "_max_bytes",
        "_required",
    )

    def __init__(
        self,
        keys: JwtKey | Sequence[JwtKey] | Mapping[str, JwtKey] | KeySource,
        *,
        algorithms: Iterable[str] | None = None,
        issuer: str | Iterable[str] | None = None,
        audience: str | Iterable[str] | None = None,
        leeway: float = 60.0,
        required_claims: Iterable[str] = ("exp",),
        max_age: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_token_bytes: int = MAX_TOKEN_BYTES,
    ) -> None:
        source = normalize_keys(keys)
        if algorithms is None:
            allowed = (
                frozenset(source.algorithms()) if isinstance(source, StaticKeys) else frozenset(ALGORITHMS)
            )
        else:
            allowed = frozenset(check_algorithm(a) for a in algorithms)
            if not allowed:
                raise ConfigError("algorithms must name at least one algorithm", key="algorithms")
        if isinstance(source, StaticKeys) and not source.algorithms() <= allowed:
            raise ConfigError("a configured key's algorithm is not in `algorithms`", key="algorithms")
        if not isinstance(leeway, int | float) or isinstance(leeway, bool) or not 0 <= leeway <= 300:
            raise ConfigError("leeway must be between 0 and 300 seconds", key="leeway")
        if max_age is not None and (
            not isinstance(max_age, int | float) or isinstance(max_age, bool) or not 0 < max_age < 1e10
        ):
            raise ConfigError("max_age must be a positive number of seconds", key="max_age")
        if not isinstance(max_token_bytes, int) or not 64 <= max_token_bytes <= 1 << 20:
            raise ConfigError("max_token_bytes must be between 64 and 1 MiB", key="max_token_bytes")
        required = tuple(required_claims)
        if not all(isinstance(c, str) and c for c in required):
            raise ConfigError("required_claims must be claim names", key="required_claims")
        if max_age is not None and "iat" not in required:
            required += ("iat",)
        self._keys = source
        self._algorithms = allowed
        self._issuers = _str_set(issuer, "issuer")
        self._audiences = _str_set(audience, "audience")
        self._leeway = float(leeway)
        self._required = required
        self._max_age = None if max_age is None else float(max_age)
        self._clock = clock
        self._max_bytes = max_token_bytes

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def hs256(
        cls,
        secret: bytes | str | Secret[bytes] | Secret[str],
        *,
        kid: str | None = None,
        **options: Unpack[ValidatorOptions],
    ) -> JwtValidator:
        """A validator for HS256 tokens signed with ``secret`` (at least 32 bytes)."""
        return cls(JwtKey("HS256", secret, kid=kid), **options)

    @classmethod
    def hs384(
        cls,
        secret: bytes | str | Secret[bytes] | Secret[str],
        *,
        kid: str | None = None,
        **options: Unpack[ValidatorOptions],
    ) -> JwtValidator:
        """A validator for HS384 tokens signed with ``secret`` (at least 48 bytes)."""
        return cls(JwtKey("HS384", secret, kid=kid), **options)

    @classmethod
    def hs512(
        cls,
        secret: bytes | str | Secret[bytes] | Secret[str],
        *,
        kid: str | None = None,
        **options: Unpack[ValidatorOptions],
    ) -> JwtValidator:
        """A validator for HS512 tokens signed with ``secret`` (at least 64 bytes)."""
        return cls(JwtKey("HS512", secret, kid=kid), **options)

    @classmethod
    def es256(
        cls, public_key: KeyInput | object, *, kid: str | None = None, **options: Unpack[ValidatorOptions]
    ) -> JwtValidator:
        """A validator for ES256 tokens (key: EC P-256 key object, PEM or JWK)."""
        return cls(JwtKey("ES256", public_key, kid=kid), **options)

    @classmethod
    def eddsa(
        cls, public_key: KeyInput | object, *, kid: str | None = None, **options: Unpack[ValidatorOptions]
    ) -> JwtValidator:
        """A validator for EdDSA (Ed25519) tokens (key: Ed25519 key object, PEM or JWK)."""
        return cls(JwtKey("EdDSA", public_key, kid=kid), **options)

    @classmethod
    def rs256(
        cls, public_key: KeyInput | object, *, kid: str | None = None, **options: Unpack[ValidatorOptions]
    ) -> JwtValidator:
        """A validator for RS256 tokens (key: RSA >= 2048-bit key object, PEM or JWK)."""
        return cls(JwtKey("RS256", public_key, kid=kid), **options)

    @classmethod
    def from_jwks(
        cls, jwks: Mapping[str, object] | JwksCache, **options: Unpack[ValidatorOptions]
    ) -> JwtValidator:
        """A validator over a JWKS document (or a ``JwksCache``): the token's ``kid`` picks the key."""
        source = jwks if isinstance(jwks, JwksCache) else JwksCache(jwks)
        return cls(source, **options)

    # -- verification ------------------------------------------------------------------------

    def verify(self, token: str | bytes | Secret[str]) -> dict[str, Any]:
        """Verify ``token`` and return its claims.

        With a ``JwksCache`` that has to refresh, the fetch runs inline: async code calls
        ``averify`` instead.

        Args:
            token: a compact JWS (``header.payload.signature``), or a ``Secret`` holding one
                (revealed only inside the check, so a traceback's locals never hold it).

        Returns:
            The claims set as a dict.

        Raises:
            AuthError: code ``auth.token_expired`` for an authentic token past ``exp`` (or
                ``max_age``), ``auth.invalid_token`` for every other failure. The message never
                says why; ``error.context.attributes["reason"]`` does, for server logs.
        """
        return self._checked(token, self._keys.get)

    async def averify(self, token: str | bytes | Secret[str]) -> dict[str, Any]:
        """Async ``verify``: a key source that must refresh does so without blocking the loop.

        The signature and claim checks are CPU-bound and run inline (microseconds); only a JWKS
        fetch is awaited, and concurrent calls share one fetch.

        Raises:
            AuthError: as ``verify``.
        """
        source = self._keys
        if not isinstance(source, JwksCache):
            return self._checked(token, source.get)
        await source.aprepare(_peek_kid(token.reveal() if isinstance(token, Secret) else token))
        return self._checked(token, source.peek)

    def _checked(
        self, token: str | bytes | Secret[str], lookup: Callable[[str | None], JwtKey | None]
    ) -> dict[str, Any]:
        # The error is raised outside the ``except`` block: no exception context (whose frames
        # hold the token) is attached to it.
        error: AuthError
        try:
            return self._verify(token, lookup)
        except Reject as rej:
            error = invalid_token(rej.reason)
        except AuthError as err:  # expired: drop the frames below this one
            error = err.with_traceback(None)
        except (ValueError, RecursionError, UnicodeError, binascii.Error, OverflowError, TypeError):
            error = invalid_token("malformed")
        raise error

    def _verify(
        self, secret: str | bytes | Secret[str], lookup: Callable[[str | None], JwtKey | None]
    ) -> dict[str, Any]:
        token = secret.reveal() if isinstance(secret, Secret) else secret
        if type(token) is str:
            if len(token) > self._max_bytes:
                raise Reject("too large")
            raw = token.encode("ascii")
        elif isinstance(token, bytes | bytearray):
            if len(token) > self._max_bytes:
                raise Reject("too large")
            raw = bytes(token)
        else:
            raise Reject("not a string")
        parts = raw.split(b".")
        if len(parts) != 3:
            raise Reject("not three segments")
        h64, p64, s64 = parts
        header = json_object(decode_strict(h64))
        alg = header.get("alg")
        if type(alg) is not str:
            raise Reject("no alg")
        if not FORBIDDEN_HEADER.isdisjoint(header):
            raise Reject("forbidden header member")
        typ = header.get("typ")
        if typ is not None and (type(typ) is not str or typ.lower() not in ALLOWED_TYP):
            raise Reject("typ")
        kid = header.get("kid")
        if kid is not None and (type(kid) is not str or len(kid) > MAX_KID):
            raise Reject("kid type")
        key = lookup(kid)
        if key is None:
            raise Reject("unknown kid")
        if alg != key.algorithm or alg not in self._algorithms:
            raise Reject("alg mismatch")
        signature = decode_strict(s64)
        if not key._verify(raw[: len(h64) + 1 + len(p64)], signature):
            raise Reject("bad signature")
        claims = json_object(decode_strict(p64))
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        # One pass that both types and checks the registered claims (this runs per request).
        get = claims.get
        exp, nbf, iat = get("exp", _ABSENT), get("nbf", _ABSENT), get("iat", _ABSENT)
        for name, value in (("exp", exp), ("nbf", nbf), ("iat", iat)):
            if value is not _ABSENT and not (
                (type(value) is int or type(value) is float) and 0 <= value <= MAX_NUMERIC_DATE
            ):
                raise Reject(f"{name} type")
        for name in STRING_CLAIMS:
            value = get(name, _ABSENT)
            if value is not _ABSENT and type(value) is not str:
                raise Reject(f"{name} type")
        aud = get("aud")
        if (aud is not None and type(aud) is not str and not audience_value(aud)) or aud == "":
            raise Reject("aud type")
        if aud is None and "aud" in claims:
            raise Reject("aud type")
        for name in self._required:
            if get(name) is None:
                raise Reject("missing required claim")
        now = self._clock.time()
        leeway = self._leeway
        if exp is not _ABSENT and now >= exp + leeway:
            raise expired("exp")
        if nbf is not _ABSENT and now < nbf - leeway:
            raise Reject("not yet valid")
        if iat is not _ABSENT:
            if iat > now + leeway:
                raise Reject("issued in the future")
            if self._max_age is not None and now >= iat + self._max_age + leeway:
                raise expired("max_age")
        if self._issuers is not None and get("iss") not in self._issuers:
            raise Reject("issuer")
        if self._audiences is None:
            if aud is not None:
                raise Reject("unexpected audience")
        elif aud is None or self._audiences.isdisjoint([aud] if type(aud) is str else aud):
            raise Reject("audience")

    def __repr__(self) -> str:
        algs = sorted(self._algorithms)
        iss = None if self._issuers is None else sorted(self._issuers)
        aud = None if self._audiences is None else sorted(self._audiences)
        return f"JwtValidator(algorithms={algs!r}, issuer={iss!r}, audience={aud!r}, leeway={self._leeway!r})"


# ---------------------------------------------------------------------------------------------
# Signer


def _coerce_private(key: object) -> object:
    if isinstance(key, Ed25519Signer | EcdsaP256Signer):
        return key.private_key
    return key


def _private_signer(algorithm: str, key: PrivateKey) -> Callable[[bytes], bytes]:
    if algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CryptoError("ES256 needs an EC P-256 private key", code=_codes.INVALID_KEY)
        ec_key, sig_alg = key, ec.ECDSA(hashes.SHA256())

        def sign_es(message: bytes) -> bytes:
            r, s = low_s_signature(ec_key.sign(message, sig_alg))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return sign_es
    if algorithm in ("EdDSA", "Ed25519"):
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise CryptoError("EdDSA needs an Ed25519 private key", code=_codes.INVALID_KEY)
        return key.sign
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError("RS256 needs an RSA private key", code=_codes.INVALID_KEY)
    rsa_key, pad, sha = key, padding.PKCS1v15(), hashes.SHA256()

    def sign_rs(message: bytes) -> bytes:
        return rsa_key.sign(message, pad, sha)

    return sign_rs


def _invalid_claims(message: str) -> CryptoError:
    return CryptoError(message, code=_codes.INVALID_CLAIMS, operation="jwt_sign")


@final
class JwtSigner:
    """Sign claims as a compact JWS (a JWT).

    ``sign`` adds ``iat`` (now) and ``exp`` (``iat + ttl``) unless the claims carry them, and
    ``iss``/``aud`` when configured and absent. The header is ``{"alg", "typ", "kid"?}``.

    Args:
        algorithm: one of ``HS256``, ``HS384``, ``HS512``, ``ES256``, ``EdDSA``, ``Ed25519``, ``RS256``.
        key: for ``HS*`` the secret (at least 32/48/64 bytes); otherwise a private key object,
            PEM, private JWK, or one of this package's signers.
        kid: the key id written to the header.
        issuer: default ``iss``.
        audience: default ``aud``.
        ttl: default lifetime in seconds (``None``: no ``exp`` unless given).
        clock: wall-clock source.

    Raises:
        ConfigError: for an unsupported algorithm or bad options.
        CryptoError: ``crypto.invalid_key``/``crypto.invalid_key_size`` for an unfit key.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_audience",
        "_clock",
        "_header",
        "_issuer",
        "_public",
        "_secret",
        "_sign",
        "_ttl",
        "algorithm",
        "kid",
    )

    def __init__(
        self,
        algorithm: str,
        key: KeyInput | object,
        *,
        kid: str | None = None,
        issuer: str | None = None,
        audience: str | Sequence[str] | None = None,
        ttl: float | None = 900.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.algorithm: str = check_algorithm(algorithm)
        self.kid: str | None = check_kid(kid)
        if ttl is not None and (not isinstance(ttl, int | float) or ttl <= 0):
            raise ConfigError("ttl must be a positive number of seconds or None", key="ttl")
        self._public: PublicKey | None = None
        self._secret: Secret[bytes] | None = None
        if algorithm in HMAC_HASH:
            secret = hmac_secret(algorithm, key)
            hash_name = HMAC_HASH[algorithm]
            self._secret = secret

            def sign_hs(message: bytes) -> bytes:
                return hmac.digest(secret.reveal(), message, hash_name)

            self._sign: Callable[[bytes], bytes] = sign_hs
        else:
            private = load_private_key(_coerce_private(key))  # type: ignore[arg-type]
            self._sign = _private_signer(algorithm, private)
            self._public = private.public_key()
        header: dict[str, str] = {"alg": algorithm, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        self._header = b64url_encode(orjson.dumps(header)).encode("ascii")
        self._issuer = issuer
        self._audience = list(audience) if isinstance(audience, list | tuple) else audience
        self._ttl = ttl
        self._clock = clock

    @classmethod
    def hs256(
        cls, secret: bytes | str | Secret[bytes] | Secret[str], **options: Unpack[SignerOptions]
    ) -> JwtSigner:
        """An HS256 signer; ``secret`` must be at least 32 bytes."""
        return cls("HS256", secret, **options)

    @classmethod
    def hs384(
        cls, secret: bytes | str | Secret[bytes] | Secret[str], **options: Unpack[SignerOptions]
    ) -> JwtSigner:
        """An HS384 signer; ``secret`` must be at least 48 bytes."""
        return cls("HS384", secret, **options)

    @classmethod
    def hs512(
        cls, secret: bytes | str | Secret[bytes] | Secret[str], **options: Unpack[SignerOptions]
    ) -> JwtSigner:
        """An HS512 signer; ``secret`` must be at least 64 bytes."""
        return cls("HS512", secret, **options)

    @classmethod
    def es256(cls, private_key: KeyInput | object, **options: Unpack[SignerOptions]) -> JwtSigner:
        """An ES256 signer (EC P-256 private key object, PEM, JWK or ``EcdsaP256Signer``)."""
        return cls("ES256", private_key, **options)

    @classmethod
    def eddsa(cls, private_key: KeyInput | object, **options: Unpack[SignerOptions]) -> JwtSigner:
        """An EdDSA signer (Ed25519 private key object, PEM, JWK or ``Ed25519Signer``)."""
        return cls("EdDSA", private_key, **options)

    @classmethod
    def rs256(cls, private_key: KeyInput | object, **options: Unpack[SignerOptions]) -> JwtSigner:
        """An RS256 signer (RSA >= 2048-bit private key object, PEM or JWK)."""
        return cls("RS256", private_key, **options)

    def sign(self, claims: Mapping[str, Any], *, expires_in: float | None = None) -> str:
        """Sign ``claims`` and return the compact token.

        Args:
            claims: the claims set (JSON-serializable; ``Secret`` values are refused).
            expires_in: lifetime in seconds, overriding ``ttl``; ignored when claims carry ``exp``.

        Raises:
            CryptoError: ``crypto.invalid_claims`` when the claims are not JSON-serializable or a
                registered claim has the wrong type (``exp``/``nbf``/``iat`` NumericDates,
                ``iss``/``sub``/``jti`` strings, ``aud`` a string or non-empty list of strings).
        """
        if not isinstance(claims, Mapping):
            raise _invalid_claims("claims must be a mapping")
        payload = dict(claims)
        payload.setdefault("iat", int(self._clock.time()))
        if not numeric_date(payload["iat"]):
            raise _invalid_claims("claim 'iat' must be a NumericDate (a finite number of seconds)")
        lifetime = expires_in if expires_in is not None else self._ttl
        if "exp" not in payload and lifetime is not None:
            payload["exp"] = int(payload["iat"] + lifetime)
        if self._issuer is not None:
            payload.setdefault("iss", self._issuer)
        if self._audience is not None:
            payload.setdefault("aud", self._audience)
        wrong = registered_claim_error(payload)
        if wrong is not None:
            raise _invalid_claims(f"claim {wrong!r} has the wrong type for a registered claim")
        try:
            body = orjson.dumps(payload)
        except TypeError:
            raise _invalid_claims("claims are not JSON-serializable") from None
        return self._sign_segments(self._header, b64url_encode(body).encode("ascii"))

    def _sign_segments(self, header_b64: bytes, payload_b64: bytes) -> str:
        signing_input = header_b64 + b"." + payload_b64
        return (signing_input + b"." + b64url_encode(self._sign(signing_input)).encode("ascii")).decode(
            "ascii"
        )

    def verification_key(self) -> JwtKey:
        """The ``JwtKey`` that verifies this signer's tokens (same algorithm and kid)."""
        material: object = self._secret if self._secret is not None else self._public
        return JwtKey(self.algorithm, material, kid=self.kid)

    def validator(self, **options: Any) -> JwtValidator:
        """A ``JwtValidator`` for this signer's tokens (issuer/audience default to the signer's)."""
        if self._issuer is not None:
            options.setdefault("issuer", self._issuer)
        if self._audience is not None:
            options.setdefault("audience", self._audience)
        return JwtValidator(self.verification_key(), clock=options.pop("clock", self._clock), **options)

    def __repr__(self) -> str:
        return f"JwtSigner(algorithm={self.algorithm!r}, kid={self.kid!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a JwtSigner holds a key and cannot be pickled")


__all__ = ["JwtSigner", "JwtValidator", "SignerOptions", "ValidatorOptions"]
