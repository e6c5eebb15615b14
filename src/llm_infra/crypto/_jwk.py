"""``JwtKey``: one verification key pinned to one JWS algorithm, and where validators find keys.

Also the guard against the classic algorithm-confusion attack: an asymmetric key (in any
encoding we can recognise) is never accepted as an HMAC secret.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol, final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from llm_infra.crypto import _codes
from llm_infra.crypto._b64 import decode_strict
from llm_infra.crypto._jose import ALGORITHMS, HMAC_HASH, HMAC_MIN, MAX_KID, check_algorithm, check_kid
from llm_infra.crypto._keys import KeyInput, PublicKey, load_public_key, public_key_from_jwk
from llm_infra.crypto._sign import (
    P256_ORDER,
    EcdsaP256Signer,
    EcdsaP256Verifier,
    Ed25519Signer,
    Ed25519Verifier,
)
from llm_infra.errors import ConfigError, CryptoError
from llm_infra.secrets import Secret

_HALF_ORDER: Final = P256_ORDER // 2

_BOMS: Final = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_TEXT_MARKERS: Final = (b"-----begin", b"ssh-rsa", b"ssh-ed25519", b"ssh-dss", b"ecdsa-sha2-", b'"kty"')
_MAX_SCAN: Final = 16384
_B64_ALPHABET: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")


def _is_der_key(data: bytes) -> bool:
    """Whether ``data`` (or ``data`` after some leading bytes) is a DER key or certificate."""
    start = data.find(b"\x30")
    while 0 <= start < len(data) - 8:
        chunk = data[start:]
        for loader in (
            serialization.load_der_public_key,
            x509.load_der_x509_certificate,
        ):
            try:
                loader(chunk)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue
            return True
        try:
            serialization.load_der_private_key(chunk, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
        else:
            return True
        start = data.find(b"\x30", start + 1)
    return False


def _strip_bom(data: bytes) -> bytes:
    for bom in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :]
    return data


def _textual(data: bytes) -> bytes:
    """``data`` as lower-case bytes with a BOM, UTF-16 zero bytes and outer whitespace removed."""
    return _strip_bom(data).replace(b"\x00", b"").strip().lower()


def looks_like_asymmetric_key(value: bytes, *, _depth: int = 0) -> bool:
    """Whether ``value`` holds a public/private key or certificate in an encoding we can recognise.

    Recognised: PEM (anywhere in the value, after a BOM or other leading bytes), OpenSSH public
    keys, JSON JWKs, DER (SubjectPublicKeyInfo, PKCS#1, PKCS#8, X.509, also after leading bytes)
    and the bare base64 body of any of these. A raw 32-byte Ed25519 public key is random-looking
    bytes and cannot be told from a secret.
    """
    data = value[:_MAX_SCAN]
    text = _textual(data)
    if any(marker in text for marker in _TEXT_MARKERS):
        return True
    if _is_der_key(data):
        return True
    if _depth == 0:
        compact = bytes(b for b in _strip_bom(data) if b not in b" \t\r\n\x00")
        if (
            len(compact) >= 16
            and set(compact) <= _B64_ALPHABET
            and any(looks_like_asymmetric_key(d, _depth=1) for d in _b64_any(compact))
        ):
            return True
    return False


def _b64_any(text: bytes) -> list[bytes]:
    """Every decoding of ``text`` as standard or URL-safe base64 (padding optional)."""
    stripped = text.rstrip(b"=")
    padded = stripped + b"=" * (-len(stripped) % 4)
    out = []
    for alphabet in (b"+/", b"-_"):
        try:
            out.append(base64.b64decode(padded, altchars=alphabet, validate=True))
        except (binascii.Error, ValueError):
            continue
    return out


def _coerce_public(key: object) -> object:
    if isinstance(key, Ed25519Verifier | EcdsaP256Verifier):
        return key.public_key
    if isinstance(key, Ed25519Signer | EcdsaP256Signer):
        return key.private_key.public_key()
    return key


def hmac_secret(algorithm: str, secret: object) -> Secret[bytes]:
    """The HMAC secret of ``algorithm`` as ``Secret[bytes]``, refusing short or asymmetric keys."""
    value = secret.reveal() if isinstance(secret, Secret) else secret
    forms: list[bytes] = []
    if isinstance(value, str):
        with contextlib.suppress(UnicodeEncodeError):
            forms.append(value.encode("latin-1"))  # binary key material smuggled in as text
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise CryptoError(
            "an HMAC secret must be bytes or str", code=_codes.INVALID_KEY, operation="load_key"
        )
    value = bytes(value)
    minimum = HMAC_MIN[algorithm]
    if len(value) < minimum:
        raise CryptoError(
            f"{algorithm} needs a secret of at least {minimum} bytes (RFC 7518 §3.2)",
            code=_codes.INVALID_KEY_SIZE,
            operation="load_key",
            remediation=[f"generate one with secrets.token_bytes({minimum})"],
        )
    if any(looks_like_asymmetric_key(form) for form in (value, *forms)):
        # A public key used as an HMAC secret is the classic algorithm-confusion attack.
        raise CryptoError(
            "an asymmetric key cannot be used as an HMAC secret",
            code=_codes.INVALID_KEY,
            operation="load_key",
        )
    return Secret(value)


def _hmac_verifier(algorithm: str, secret: Secret[bytes]) -> Callable[[bytes, bytes], bool]:
    hash_name = HMAC_HASH[algorithm]
    digest = hmac.digest
    compare = hmac.compare_digest

    def verify(message: bytes, signature: bytes) -> bool:
        return compare(digest(secret.reveal(), message, hash_name), signature)

    return verify


def _es256_verifier(key: PublicKey) -> Callable[[bytes, bytes], bool]:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CryptoError("ES256 needs an EC P-256 key", code=_codes.INVALID_KEY, operation="load_key")
    ec_key, sig_alg = key, ec.ECDSA(hashes.SHA256())

    def verify_es(message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if s > _HALF_ORDER:
            # (r, s) and (r, n - s) both verify: refusing high-S makes a token's bytes unique.
            return False
        try:
            ec_key.verify(encode_dss_signature(r, s), message, sig_alg)
        except InvalidSignature:
            return False
        return True

    return verify_es


def _public_verifier(algorithm: str, key: PublicKey) -> Callable[[bytes, bytes], bool]:
    if algorithm == "ES256":
        return _es256_verifier(key)
    if algorithm in ("EdDSA", "Ed25519"):
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise CryptoError("EdDSA needs an Ed25519 key", code=_codes.INVALID_KEY, operation="load_key")
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
        raise CryptoError("RS256 needs an RSA key", code=_codes.INVALID_KEY, operation="load_key")
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


def _default_algorithm(key: PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    return "RS256"


def _invalid_jwk(message: str) -> CryptoError:
    return CryptoError(message, code=_codes.INVALID_KEY, operation="load_key")


@final
class JwtKey:
    """A verification key pinned to exactly one JWS algorithm, with an optional key id.

    The token's ``alg`` header must equal the key's algorithm; it never chooses how the key is used.

    Args:
        algorithm: one of ``HS256``, ``HS384``, ``HS512``, ``ES256``, ``EdDSA``, ``Ed25519``, ``RS256``.
        key: for ``HS*`` the secret (bytes, str or ``Secret``; at least 32/48/64 bytes; a public
            key in any recognisable encoding is refused); otherwise a public key object, PEM, JWK
            dict, or one of this package's signers/verifiers.
        kid: the key id tokens name in their ``kid`` header.

    Raises:
        ConfigError: for an unsupported algorithm or a bad ``kid``.
        CryptoError: ``crypto.invalid_key``/``crypto.invalid_key_size`` for a key that does not fit.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_verify", "algorithm", "kid")

    def __init__(self, algorithm: str, key: KeyInput | object, *, kid: str | None = None) -> None:
        self.algorithm: str = check_algorithm(algorithm)
        self.kid: str | None = check_kid(kid)
        if algorithm in HMAC_HASH:
            self._verify = _hmac_verifier(algorithm, hmac_secret(algorithm, key))
        else:
            self._verify = _public_verifier(algorithm, load_public_key(_coerce_public(key)))  # type: ignore[arg-type]

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, object], *, algorithm: str | None = None) -> JwtKey:
        """Build a key from a JWK; its ``alg`` (or ``algorithm``, or the key type's default) pins it.

        ``oct`` keys default to ``HS256``, ``EC`` to ``ES256``, ``OKP`` to ``EdDSA``, ``RSA`` to
        ``RS256``. The JWK's ``kid`` becomes the key id. (A JWKS document never yields ``oct``
        keys: see ``JwksCache``.)

        Raises:
            CryptoError: ``crypto.invalid_key`` for a malformed JWK or one whose ``alg`` disagrees
                with ``algorithm``.
        """
        if not isinstance(jwk, Mapping):
            raise _invalid_jwk("a JWK must be a JSON object")
        jwk_alg = jwk.get("alg")
        if jwk_alg is not None and algorithm is not None and jwk_alg != algorithm:
            raise _invalid_jwk("the JWK's alg disagrees with the algorithm asked for")
        kid = jwk.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID):
            raise _invalid_jwk("the JWK's kid is not a short non-empty string")
        chosen = algorithm if algorithm is not None else jwk_alg
        if chosen is not None and (not isinstance(chosen, str) or chosen not in ALGORITHMS):
            raise _invalid_jwk("the JWK's algorithm is not supported")
        if jwk.get("kty") == "oct":
            use = jwk.get("use")
            if use is not None and use != "sig":
                raise _invalid_jwk("the JWK is not a signature key")
            k = jwk.get("k")
            try:
                secret = decode_strict(k.encode("ascii")) if isinstance(k, str) else None
            except (ValueError, UnicodeEncodeError):
                secret = None
            if secret is None:
                raise _invalid_jwk("the oct JWK's 'k' is not canonical base64url")
            chosen = chosen or "HS256"
            if chosen not in HMAC_HASH:
                raise _invalid_jwk("an oct JWK can only be used with HS*")
            return cls(chosen, Secret(secret), kid=kid)
        public = public_key_from_jwk(jwk)
        chosen = chosen or _default_algorithm(public)
        if chosen in HMAC_HASH:
            raise _invalid_jwk("an asymmetric JWK cannot be used with HS*")
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
class StaticKeys:
    """A fixed set of keys, selected by ``kid`` (a single key also serves tokens without one)."""

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
        """The key for ``kid`` (the sole key when ``kid`` is None)."""
        if kid is None:
            return self._default
        return self._by_kid.get(kid)

    def algorithms(self) -> set[str]:
        """The algorithms of the keys."""
        keys = list(self._by_kid.values()) + ([self._default] if self._default is not None else [])
        return {k.algorithm for k in keys}


def normalize_keys(keys: object) -> StaticKeys | KeySource:
    """``StaticKeys`` for a key, list or map of keys; a ``KeySource`` is returned as it is."""
    if isinstance(keys, JwtKey):
        return StaticKeys([keys])
    if isinstance(keys, Mapping):
        out: list[JwtKey] = []
        for kid, key in keys.items():
            if not isinstance(key, JwtKey):
                raise ConfigError("a key map's values must be JwtKey objects", key="keys")
            if key.kid is not None and key.kid != kid:
                raise ConfigError(f"key map entry {kid!r} holds a key with kid {key.kid!r}", key="keys")
            out.append(key._with_kid(check_kid(kid)))
        if not out:
            raise ConfigError("at least one key is required", key="keys")
        return StaticKeys(out)
    if isinstance(keys, list | tuple):
        if not keys or not all(isinstance(k, JwtKey) for k in keys):
            raise ConfigError("keys must be one or more JwtKey objects", key="keys")
        return StaticKeys(list(keys))
    if callable(getattr(keys, "get", None)):
        return keys  # type: ignore[return-value]  # a KeySource such as JwksCache
    raise ConfigError("keys must be a JwtKey, a list of them, a kid->JwtKey map or a KeySource", key="keys")


__all__ = [
    "JwtKey",
    "KeySource",
    "StaticKeys",
    "hmac_secret",
    "looks_like_asymmetric_key",
    "normalize_keys",
]
