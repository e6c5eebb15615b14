"""JSON Web Tokens (RFC 7519) in JWS compact form, verified strictly.

The JOSE parsing is ours (strict base64url, duplicate-free JSON, a fixed header policy); the
primitives are ``hmac``/``hashlib`` and ``cryptography``. We do not delegate to PyJWT because it
is measured 3-4x slower here and laxer on our rules (it accepts duplicate members, does not pin
the algorithm per key, ignores ``typ``); see docs/crypto.md.
"""

from __future__ import annotations

import binascii
import hmac
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, TypedDict, Unpack, final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.crypto._b64 import b64url_encode, decode_strict
from llm_infra.crypto._keys import (
    KeyInput,
    PrivateKey,
    PublicKey,
    load_private_key,
    load_public_key,
    public_key_from_jwk,
)
from llm_infra.crypto._sign import EcdsaP256Signer, EcdsaP256Verifier, Ed25519Signer, Ed25519Verifier
from llm_infra.errors import AuthError, ConfigError, CryptoError
from llm_infra.secrets import Secret

ALGORITHMS: Final = ("HS256", "HS384", "HS512", "ES256", "EdDSA", "Ed25519", "RS256")
"""Every JWS algorithm this module signs and verifies; ``none`` is never one of them.

``Ed25519`` is RFC 9864's fully-specified name for EdDSA over Ed25519 (``EdDSA`` stays the default
for interoperability); a key pinned to one name does not accept tokens carrying the other.
"""

MAX_TOKEN_BYTES: Final = 8192
"""Tokens longer than this are rejected before any decoding."""

_HMAC_HASH: Final = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
_HMAC_MIN: Final = {"HS256": 32, "HS384": 48, "HS512": 64}
# Header members that would make us fetch, trust or interpret something we do not support:
# jku/x5u (fetch a key), jwk/x5c (trust an embedded key), crit (extensions we don't know: none
# are supported), b64 (RFC 7797 unencoded payload), cty (nested JWT), zip/enc (JWE).
_FORBIDDEN_HEADER: Final = frozenset({"crit", "jku", "jwk", "x5u", "x5c", "b64", "cty", "zip", "enc"})
_ALLOWED_TYP: Final = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})
_MAX_KID: Final = 256


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


class _Reject(Exception):
    """Internal signal: the token is invalid (converted to one opaque ``AuthError``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _invalid_token(reason: str) -> AuthError:
    # The reason is a fixed string for server-side logs (context attributes never reach a client's
    # problem+json body); the message is the same for every failure so it tells an attacker nothing.
    return AuthError("invalid token", kind="invalid_token", context={"reason": reason})


def _expired(reason: str) -> AuthError:
    return AuthError("token expired", kind="token_expired", context={"reason": reason})


# ---------------------------------------------------------------------------------------------
# Strict JSON: no duplicate members, no NaN/Infinity, no lone surrogates, objects only.


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs_hook, parse_constant=_no_constant, parse_float=_finite_float
)


def _json_object(raw: bytes) -> dict[str, Any]:
    """Parse a JOSE header or claims set; raise ``ValueError``/``RecursionError`` on anything odd."""
    text = raw.decode("utf-8")
    obj = _DECODER.decode(text)
    if type(obj) is not dict:
        raise ValueError("not a JSON object")
    if "\\u" in text:
        # The stdlib accepts lone surrogate escapes; orjson refuses them. Only pay for it when an
        # escape is present at all (rare in tokens).
        orjson.loads(raw)
    return obj


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


# ---------------------------------------------------------------------------------------------
# Keys


def _coerce_public(key: object) -> object:
    if isinstance(key, Ed25519Verifier | EcdsaP256Verifier):
        return key.public_key
    if isinstance(key, Ed25519Signer | EcdsaP256Signer):
        return key.private_key.public_key()
    return key


def _coerce_private(key: object) -> object:
    if isinstance(key, Ed25519Signer | EcdsaP256Signer):
        return key.private_key
    return key


def _hmac_secret(algorithm: str, secret: object) -> Secret[bytes]:
    value = secret.reveal() if isinstance(secret, Secret) else secret
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise CryptoError(
            "an HMAC secret must be bytes or str", code="crypto.invalid_key", operation="load_key"
        )
    value = bytes(value)
    minimum = _HMAC_MIN[algorithm]
    if len(value) < minimum:
        raise CryptoError(
            f"{algorithm} needs a secret of at least {minimum} bytes (RFC 7518 §3.2)",
            code="crypto.invalid_key_size",
            operation="load_key",
            remediation=[f"generate one with secrets.token_bytes({minimum})"],
        )
    if value.lstrip().startswith((b"-----BEGIN", b"ssh-", b"ecdsa-sha2-")):
        # A public key used as an HMAC secret is the classic algorithm-confusion attack.
        raise CryptoError(
            "an asymmetric key cannot be used as an HMAC secret",
            code="crypto.invalid_key",
            operation="load_key",
        )
    return Secret(value)


def _hmac_verifier(algorithm: str, secret: Secret[bytes]) -> Callable[[bytes, bytes], bool]:
    hash_name = _HMAC_HASH[algorithm]
    digest = hmac.digest
    compare = hmac.compare_digest

    def verify(message: bytes, signature: bytes) -> bool:
        return compare(digest(secret.reveal(), message, hash_name), signature)

    return verify


def _public_verifier(algorithm: str, key: PublicKey) -> Callable[[bytes, bytes], bool]:
    if algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise CryptoError("ES256 needs an EC P-256 key", code="crypto.invalid_key", operation="load_key")
        ec_key, sig_alg = key, ec.ECDSA(hashes.SHA256())

        def verify_es(message: bytes, signature: bytes) -> bool:
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            try:
                ec_key.verify(der, message, sig_alg)
            except InvalidSignature:
                return False
            return True

        return verify_es
    if algorithm in ("EdDSA", "Ed25519"):
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise CryptoError("EdDSA needs an Ed25519 key", code="crypto.invalid_key", operation="load_key")
        ed_key = key

        def verify_ed(message: bytes, signature: bytes) -> bool:
            if len(signature) != 64:
                return False
            try:
                ed_key.verify(signature, message)
            except InvalidSignature:
                return False
            return True

        return verify_ed
    if not isinstance(key, rsa.RSAPublicKey):
        raise CryptoError("RS256 needs an RSA key", code="crypto.invalid_key", operation="load_key")
    rsa_key, size = key, (key.key_size + 7) // 8
    pad, sha = padding.PKCS1v15(), hashes.SHA256()

    def verify_rs(message: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            rsa_key.verify(signature, message, pad, sha)
        except InvalidSignature:
            return False
        return True

    return verify_rs


def _check_algorithm(algorithm: object) -> str:
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ConfigError(
            f"unsupported JWT algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}",
            key="algorithm",
            code="config.invalid_value",
        )
    return algorithm


def _check_kid(kid: object) -> str | None:
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > _MAX_KID):
        raise ConfigError(f"a key id must be a non-empty string of at most {_MAX_KID} characters", key="kid")
    return kid


def _default_algorithm(key: PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    return "RS256"


@final
class JwtKey:
    """A verification key pinned to exactly one JWS algorithm, with an optional key id.

    The token's ``alg`` header must equal the key's algorithm; it never chooses how the key is used.

    Args:
        algorithm: one of ``HS256``, ``HS384``, ``HS512``, ``ES256``, ``EdDSA``, ``Ed25519``, ``RS256``.
        key: for ``HS*`` the secret (bytes, str or ``Secret``; at least 32/48/64 bytes); otherwise
            a public key object, PEM, JWK dict, or one of this package's signers/verifiers.
        kid: the key id tokens name in their ``kid`` header.

    Raises:
        ConfigError: for an unsupported algorithm or a bad ``kid``.
        CryptoError: ``crypto.invalid_key``/``crypto.invalid_key_size`` for a key that does not fit.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_verify", "algorithm", "kid")

    def __init__(self, algorithm: str, key: KeyInput | object, *, kid: str | None = None) -> None:
        self.algorithm: str = _check_algorithm(algorithm)
        self.kid: str | None = _check_kid(kid)
        if algorithm in _HMAC_HASH:
            self._verify = _hmac_verifier(algorithm, _hmac_secret(algorithm, key))
        else:
            self._verify = _public_verifier(algorithm, load_public_key(_coerce_public(key)))  # type: ignore[arg-type]

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, object], *, algorithm: str | None = None) -> JwtKey:
        """Build a key from a JWK; its ``alg`` (or ``algorithm``, or the key type's default) pins it.

        ``oct`` keys default to ``HS256``, ``EC`` to ``ES256``, ``OKP`` to ``EdDSA``, ``RSA`` to
        ``RS256``. The JWK's ``kid`` becomes the key id.

        Raises:
            CryptoError: ``crypto.invalid_key`` for a malformed JWK or one whose ``alg`` disagrees
                with ``algorithm``.
        """
        if not isinstance(jwk, Mapping):
            raise CryptoError("a JWK must be a JSON object", code="crypto.invalid_key", operation="load_key")
        jwk_alg = jwk.get("alg")
        if jwk_alg is not None and algorithm is not None and jwk_alg != algorithm:
            raise CryptoError(
                "the JWK's alg disagrees with the algorithm asked for", code="crypto.invalid_key"
            )
        kid = jwk.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > _MAX_KID):
            raise CryptoError("the JWK's kid is not a short non-empty string", code="crypto.invalid_key")
        chosen = algorithm if algorithm is not None else jwk_alg
        if chosen is not None and (not isinstance(chosen, str) or chosen not in ALGORITHMS):
            raise CryptoError("the JWK's algorithm is not supported", code="crypto.invalid_key")
        if jwk.get("kty") == "oct":
            use = jwk.get("use")
            if use is not None and use != "sig":
                raise CryptoError("the JWK is not a signature key", code="crypto.invalid_key")
            k = jwk.get("k")
            try:
                secret = decode_strict(k.encode("ascii")) if isinstance(k, str) else None
            except (ValueError, UnicodeEncodeError):
                secret = None
            if secret is None:
                raise CryptoError("the oct JWK's 'k' is not canonical base64url", code="crypto.invalid_key")
            chosen = chosen or "HS256"
            if chosen not in _HMAC_HASH:
                raise CryptoError("an oct JWK can only be used with HS*", code="crypto.invalid_key")
            return cls(chosen, Secret(secret), kid=kid)
        public = public_key_from_jwk(jwk)
        chosen = chosen or _default_algorithm(public)
        if chosen in _HMAC_HASH:
            raise CryptoError("an asymmetric JWK cannot be used with HS*", code="crypto.invalid_key")
        return cls(chosen, public, kid=kid)

    def _with_kid(self, kid: str | None) -> JwtKey:
        # The map's key names the kid; copy rather than mutate the caller's object.
        named = object.__new__(JwtKey)
        named.algorithm, named.kid, named._verify = self.algorithm, kid, self._verify
        return named

    def verify_signature(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (raw JWS form) signs ``signing_input`` under this key."""
        return self._verify(signing_input, signature)

    def __repr__(self) -> str:
        return f"JwtKey(algorithm={self.algorithm!r}, kid={self.kid!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a JwtKey may hold a secret and cannot be pickled")


class KeySource(Protocol):
    """Where a validator finds the key a token names (``kid``), or the sole key when it names none."""

    def get(self, kid: str | None) -> JwtKey | None:
        """The key for ``kid``, or ``None`` when there is none."""
        ...


@final
class _StaticKeys:
    __slots__ = ("_by_kid", "_default")

    def __init__(self, keys: Sequence[JwtKey]) -> None:
        by_kid: dict[str, JwtKey] = {}
        for key in keys:
            if key.kid is None:
                continue
            if key.kid in by_kid:
                raise ConfigError(f"duplicate key id {key.kid!r}", key="keys")
            by_kid[key.kid] = key
        unnamed = [k for k in keys if k.kid is None]
        if len(keys) > 1 and unnamed:
            raise ConfigError("with more than one key, every key needs a kid", key="keys")
        self._by_kid = by_kid
        self._default = keys[0] if len(keys) == 1 else None

    def get(self, kid: str | None) -> JwtKey | None:
        if kid is None:
            return self._default
        return self._by_kid.get(kid)

    def algorithms(self) -> set[str]:
        keys = list(self._by_kid.values()) + ([self._default] if self._default is not None else [])
        return {k.algorithm for k in keys}


def _normalize_keys(keys: object) -> _StaticKeys | KeySource:
    if isinstance(keys, JwtKey):
        return _StaticKeys([keys])
    if isinstance(keys, Mapping):
        out: list[JwtKey] = []
        for kid, key in keys.items():
            if not isinstance(key, JwtKey):
                raise ConfigError("a key map's values must be JwtKey objects", key="keys")
            if key.kid is not None and key.kid != kid:
                raise ConfigError(f"key map entry {kid!r} holds a key with kid {key.kid!r}", key="keys")
            out.append(key._with_kid(_check_kid(kid)))
        if not out:
            raise ConfigError("at least one key is required", key="keys")
        return _StaticKeys(out)
    if isinstance(keys, list | tuple):
        if not keys or not all(isinstance(k, JwtKey) for k in keys):
            raise ConfigError("keys must be one or more JwtKey objects", key="keys")
        return _StaticKeys(list(keys))
    if callable(getattr(keys, "get", None)):
        return keys  # type: ignore[return-value]  # a KeySource such as JwksCache
    raise ConfigError("keys must be a JwtKey, a list of them, a kid->JwtKey map or a KeySource", key="keys")


def _str_set(value: str | Iterable[str] | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = frozenset([value]) if isinstance(value, str) else frozenset(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{name} must be a non-empty string or strings", key=name)
    return items


# ---------------------------------------------------------------------------------------------
# Validator


@final
class JwtValidator:
    """Verify compact JWS tokens and their claims, strictly.

    Rules, in order: tokens over ``max_token_bytes`` are refused before decoding; exactly three
    canonical base64url segments; header and claims are duplicate-free JSON objects; ``alg``
    must equal the algorithm pinned to the selected key (so ``none`` and algorithm confusion are
    impossible); ``kid`` only selects among configured keys; ``crit``, ``jku``, ``jwk``, ``x5u``,
    ``x5c``, ``b64``, ``cty``, ``zip`` and ``enc`` are refused; ``typ``, if present, must be JWT or
    at+jwt; the signature is checked before the claims are parsed; then ``exp``, ``nbf``,
    ``iat``, ``iss``, ``aud`` and ``required_claims`` are enforced with ``leeway`` seconds.

    Args:
        keys: a ``JwtKey``, a list of them, a ``{kid: JwtKey}`` map, or a ``KeySource`` such as
            ``JwksCache``.
        algorithms: allow-list of algorithms (default: those of the keys); a key whose algorithm is
            not listed is refused at construction (static keys) or at use (key sources).
        issuer: accepted ``iss`` value(s); when set the claim is required.
        audience: accepted ``aud`` value(s); when set the claim is required and must intersect.
            When unset, a token carrying ``aud`` is refused (RFC 7519 §4.1.3).
        leeway: clock skew tolerance in seconds (0-300).
        required_claims: claims that must be present (default ``("exp",)``).
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
        source = _normalize_keys(keys)
        if algorithms is None:
            allowed = (
                frozenset(source.algorithms()) if isinstance(source, _StaticKeys) else frozenset(ALGORITHMS)
            )
        else:
            allowed = frozenset(_check_algorithm(a) for a in algorithms)
            if not allowed:
                raise ConfigError("algorithms must name at least one algorithm", key="algorithms")
        if isinstance(source, _StaticKeys) and not source.algorithms() <= allowed:
            raise ConfigError("a configured key's algorithm is not in `algorithms`", key="algorithms")
        if not isinstance(leeway, int | float) or isinstance(leeway, bool) or not 0 <= leeway <= 300:
            raise ConfigError("leeway must be between 0 and 300 seconds", key="leeway")
        if max_age is not None and (not isinstance(max_age, int | float) or max_age <= 0):
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

    def verify(self, token: str | bytes) -> dict[str, Any]:
        """Verify ``token`` and return its claims.

        Args:
            token: a compact JWS (``header.payload.signature``).

        Returns:
            The claims set as a dict.

        Raises:
            AuthError: ``kind="token_expired"`` for an authentic token past ``exp`` (or
                ``max_age``), ``kind="invalid_token"`` for every other failure. The message never
                says why; ``error.context.attributes["reason"]`` does, for server logs.
        """
        try:
            return self._verify(token)
        except _Reject as rej:
            raise _invalid_token(rej.reason) from None
        except (ValueError, RecursionError, UnicodeError, binascii.Error):
            raise _invalid_token("malformed") from None

    def _verify(self, token: str | bytes) -> dict[str, Any]:
        if type(token) is str:
            if len(token) > self._max_bytes:
                raise _Reject("too large")
            raw = token.encode("ascii")
        elif isinstance(token, bytes | bytearray):
            if len(token) > self._max_bytes:
                raise _Reject("too large")
            raw = bytes(token)
        else:
            raise _Reject("not a string")
        parts = raw.split(b".")
        if len(parts) != 3:
            raise _Reject("not three segments")
        h64, p64, s64 = parts
        header = _json_object(decode_strict(h64))
        alg = header.get("alg")
        if type(alg) is not str:
            raise _Reject("no alg")
        if not _FORBIDDEN_HEADER.isdisjoint(header):
            raise _Reject("forbidden header member")
        typ = header.get("typ")
        if typ is not None and (type(typ) is not str or typ.lower() not in _ALLOWED_TYP):
            raise _Reject("typ")
        kid = header.get("kid")
        if kid is not None and (type(kid) is not str or len(kid) > _MAX_KID):
            raise _Reject("kid type")
        key = self._keys.get(kid)
        if key is None:
            raise _Reject("unknown kid")
        if alg != key.algorithm or alg not in self._algorithms:
            raise _Reject("alg mismatch")
        signature = decode_strict(s64)
        if not key._verify(raw[: len(h64) + 1 + len(p64)], signature):
            raise _Reject("bad signature")
        claims = _json_object(decode_strict(p64))
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in self._required:
            if name not in claims:
                raise _Reject("missing required claim")
        now = self._clock.time()
        leeway = self._leeway
        exp = claims.get("exp")
        if exp is not None:
            if not _is_number(exp):
                raise _Reject("exp type")
            if now >= exp + leeway:
                raise _expired("exp")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not _is_number(nbf):
                raise _Reject("nbf type")
            if now < nbf - leeway:
                raise _Reject("not yet valid")
        iat = claims.get("iat")
        if iat is not None:
            if not _is_number(iat):
                raise _Reject("iat type")
            if iat > now + leeway:
                raise _Reject("issued in the future")
            if self._max_age is not None and now >= iat + self._max_age + leeway:
                raise _expired("max_age")
        iss = claims.get("iss")
        if iss is not None and type(iss) is not str:
            raise _Reject("iss type")
        if self._issuers is not None and iss not in self._issuers:
            raise _Reject("issuer")
        aud = claims.get("aud")
        if self._audiences is None:
            if aud is not None:
                raise _Reject("unexpected audience")
        elif type(aud) is str:
            if aud not in self._audiences:
                raise _Reject("audience")
        elif type(aud) is list and aud:
            if not all(type(a) is str for a in aud):
                raise _Reject("aud type")
            if self._audiences.isdisjoint(aud):
                raise _Reject("audience")
        else:
            raise _Reject("audience")
        for name in ("sub", "jti"):
            value = claims.get(name)
            if value is not None and type(value) is not str:
                raise _Reject(f"{name} type")

    def __repr__(self) -> str:
        algs = sorted(self._algorithms)
        iss = None if self._issuers is None else sorted(self._issuers)
        aud = None if self._audiences is None else sorted(self._audiences)
        return f"JwtValidator(algorithms={algs!r}, issuer={iss!r}, audience={aud!r}, leeway={self._leeway!r})"


# ---------------------------------------------------------------------------------------------
# Signer


def _private_signer(algorithm: str, key: PrivateKey) -> Callable[[bytes], bytes]:
    if algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CryptoError("ES256 needs an EC P-256 private key", code="crypto.invalid_key")
        ec_key, sig_alg = key, ec.ECDSA(hashes.SHA256())

        def sign_es(message: bytes) -> bytes:
            r, s = decode_dss_signature(ec_key.sign(message, sig_alg))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return sign_es
    if algorithm in ("EdDSA", "Ed25519"):
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise CryptoError("EdDSA needs an Ed25519 private key", code="crypto.invalid_key")
        return key.sign
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError("RS256 needs an RSA private key", code="crypto.invalid_key")
    rsa_key, pad, sha = key, padding.PKCS1v15(), hashes.SHA256()

    def sign_rs(message: bytes) -> bytes:
        return rsa_key.sign(message, pad, sha)

    return sign_rs


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
        self.algorithm: str = _check_algorithm(algorithm)
        self.kid: str | None = _check_kid(kid)
        if ttl is not None and (not isinstance(ttl, int | float) or ttl <= 0):
            raise ConfigError("ttl must be a positive number of seconds or None", key="ttl")
        self._public: PublicKey | None = None
        self._secret: Secret[bytes] | None = None
        if algorithm in _HMAC_HASH:
            secret = _hmac_secret(algorithm, key)
            hash_name = _HMAC_HASH[algorithm]
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
            CryptoError: ``crypto.invalid_claims`` when the claims are not JSON-serializable or
                ``exp``/``nbf``/``iat`` are not numbers.
        """
        if not isinstance(claims, Mapping):
            raise CryptoError("claims must be a mapping", code="crypto.invalid_claims", operation="jwt_sign")
        payload = dict(claims)
        payload.setdefault("iat", int(self._clock.time()))
        for name in ("exp", "nbf", "iat"):
            if name in payload and not (_is_number(payload[name]) and math.isfinite(payload[name])):
                raise CryptoError(
                    f"claim {name!r} must be a finite number",
                    code="crypto.invalid_claims",
                    operation="jwt_sign",
                )
        lifetime = expires_in if expires_in is not None else self._ttl
        if "exp" not in payload and lifetime is not None:
            payload["exp"] = int(payload["iat"] + lifetime)
        if self._issuer is not None:
            payload.setdefault("iss", self._issuer)
        if self._audience is not None:
            payload.setdefault("aud", self._audience)
        try:
            body = orjson.dumps(payload)
        except TypeError:
            raise CryptoError(
                "claims are not JSON-serializable", code="crypto.invalid_claims", operation="jwt_sign"
            ) from None
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


# ---------------------------------------------------------------------------------------------
# JWKS


def _invalid_jwks(message: str) -> CryptoError:
    return CryptoError(message, code="crypto.invalid_jwks", operation="load_jwks")


def _parse_jwks(document: object, algorithms: frozenset[str]) -> tuple[dict[str | None, JwtKey], int]:
    if isinstance(document, str | bytes):
        try:
            document = _json_object(document.encode("utf-8") if isinstance(document, str) else document)
        except (ValueError, RecursionError):
            raise _invalid_jwks("the JWKS is not a JSON object") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise _invalid_jwks("a JWKS is an object with a 'keys' array")
    entries: list[Any] = document["keys"]
    keys: dict[str | None, JwtKey] = {}
    skipped = 0
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise _invalid_jwks("every JWKS entry must be an object")
        try:
            key = JwtKey.from_jwk(entry)
        except (CryptoError, ConfigError):
            # Keys we cannot use (encryption keys, other curves, short RSA) are skipped, not fatal:
            # a provider's JWKS often lists more than one kind.
            skipped += 1
            continue
        if key.algorithm not in algorithms:
            skipped += 1
            continue
        if key.kid in keys:
            raise _invalid_jwks("duplicate kid in the JWKS")
        keys[key.kid] = key
    if None in keys and len(keys) > 1:
        raise _invalid_jwks("with more than one usable key, every JWKS key needs a kid")
    return keys, skipped


@final
class JwksCache:
    """A set of verification keys from a JWKS document (RFC 7517 §5), selected by ``kid``.

    Built from a static document, or with a ``fetch`` callable that returns one (the HTTP layer
    supplies it later). With ``fetch``, keys are refreshed when older than ``ttl`` or when a token
    names an unknown ``kid``, at most once per ``min_refresh_interval`` (so forged kids cannot make
    us hammer the provider). A failed refresh keeps the last good keys. Nothing named by a token
    (``jku``, ``x5u``) is ever fetched.

    Args:
        jwks: the initial document (a dict, or JSON text).
        fetch: a callable returning a fresh document.
        algorithms: usable algorithms (others are skipped).
        ttl: seconds before the keys are refreshed (with ``fetch``).
        min_refresh_interval: the minimum seconds between two fetches.
        clock: the clock (``monotonic`` is used).

    Raises:
        CryptoError: ``crypto.invalid_jwks`` when the initial document is malformed.
        ConfigError: when neither ``jwks`` nor ``fetch`` is given, or for bad options.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_algorithms",
        "_clock",
        "_fetch",
        "_fetched_at",
        "_keys",
        "_last_attempt",
        "_lock",
        "_min_interval",
        "_ttl",
        "last_error",
        "skipped",
    )

    def __init__(
        self,
        jwks: Mapping[str, object] | str | bytes | None = None,
        *,
        fetch: Callable[[], Mapping[str, object] | str | bytes] | None = None,
        algorithms: Iterable[str] = ALGORITHMS,
        ttl: float = 300.0,
        min_refresh_interval: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._keys: dict[str | None, JwtKey] = {}
        self.skipped = 0
        if jwks is None and fetch is None:
            raise ConfigError("JwksCache needs a jwks document or a fetch callable", key="jwks")
        if ttl <= 0 or min_refresh_interval < 0:
            raise ConfigError("ttl must be positive and min_refresh_interval not negative", key="ttl")
        self._algorithms = frozenset(_check_algorithm(a) for a in algorithms)
        self._fetch = fetch
        self._ttl = float(ttl)
        self._min_interval = float(min_refresh_interval)
        self._clock = clock
        self._lock = threading.Lock()
        self.last_error: Exception | None = None
        self._fetched_at = -math.inf
        self._last_attempt = -math.inf
        if jwks is not None:
            self._keys, self.skipped = _parse_jwks(jwks, self._algorithms)
            self._fetched_at = clock.monotonic()
        else:
            self.refresh()

    @property
    def kids(self) -> tuple[str | None, ...]:
        """The key ids currently held."""
        return tuple(self._keys)

    def refresh(self) -> bool:
        """Fetch the document now (needs ``fetch``); return whether the keys were replaced.

        A failure is recorded in ``last_error`` and the previous keys stay in use.
        """
        if self._fetch is None:
            return False
        with self._lock:
            self._last_attempt = self._clock.monotonic()
            try:
                keys, skipped = _parse_jwks(self._fetch(), self._algorithms)
            except Exception as exc:  # noqa: BLE001 - any fetch failure keeps the last good keys
                self.last_error = exc
                return False
            self._keys, self.skipped, self.last_error = keys, skipped, None
            self._fetched_at = self._clock.monotonic()
            return True

    def _may_refresh(self, now: float) -> bool:
        return self._fetch is not None and now - self._last_attempt >= self._min_interval

    def get(self, kid: str | None) -> JwtKey | None:
        """The key for ``kid`` (or the sole unnamed key when ``kid`` is None), refreshing if allowed."""
        now = self._clock.monotonic()
        if now - self._fetched_at >= self._ttl and self._may_refresh(now):
            self.refresh()
        key = self._keys.get(kid)
        if key is None and kid is not None and self._may_refresh(now):
            self.refresh()
            key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            # A token without kid may use the only key of a one-key set.
            key = next(iter(self._keys.values()))
        return key

    def __repr__(self) -> str:
        return f"JwksCache(kids={list(self._keys)!r}, skipped={self.skipped})"
