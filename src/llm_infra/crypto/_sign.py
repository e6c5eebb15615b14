"""Digital signatures: Ed25519 and ECDSA P-256 signers and verifiers over ``cryptography``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, cast, final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from llm_infra._internal._attrs import readonly
from llm_infra.crypto import _codes
from llm_infra.crypto._keys import (
    KeyInput,
    PrivateKey,
    PublicKey,
    jwk_thumbprint,
    load_private_key,
    load_public_key,
    private_key_to_jwk,
    private_key_to_pem,
    public_key_to_jwk,
    public_key_to_pem,
)
from llm_infra.errors import CryptoError
from llm_infra.secrets import Secret

SignatureEncoding = Literal["raw", "der"]
"""ECDSA signature encodings: ``raw`` is r||s (64 bytes, as JWS uses), ``der`` is ASN.1 (X.509, TLS)."""

_P256_SIG = 64
_ED25519_SIG = 64


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""The order ``n`` of the P-256 group; a signature's ``s`` above ``n // 2`` is "high-S"."""


def low_s_signature(der: bytes) -> tuple[int, int]:
    """``(r, s)`` of a DER P-256 signature with ``s`` folded to the low half (``s <= n/2``)."""
    r, s = decode_dss_signature(der)
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return r, s


def _bad_signature() -> CryptoError:
    return CryptoError("signature verification failed", code=_codes.INVALID_SIGNATURE, operation="verify")


def _wrong_type(expected: str) -> CryptoError:
    return CryptoError(f"expected an {expected} key", code=_codes.INVALID_KEY, operation="load_key")


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"expected bytes or str, got {type(data).__name__}")


def _passes(check: Callable[[], object]) -> bool:
    """Whether ``check()`` returns without raising ``CryptoError`` (the verifiers' ``is_valid``)."""
    try:
        check()
    except CryptoError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Scheme:
    """One signature algorithm: its name in errors, its key types and how to make a private key."""

    label: str
    public_type: type[PublicKey]
    private_type: type[PrivateKey]
    generate: Callable[[], PrivateKey]


_ED25519 = _Scheme(
    "Ed25519", ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey, ed25519.Ed25519PrivateKey.generate
)
_P256 = _Scheme(
    "EC P-256",
    ec.EllipticCurvePublicKey,
    ec.EllipticCurvePrivateKey,
    partial(ec.generate_private_key, ec.SECP256R1()),
)

_KeyT = TypeVar("_KeyT", bound=PublicKey | PrivateKey)
_PubT = TypeVar("_PubT", bound=PublicKey)
_PrivT = TypeVar("_PrivT", bound=PrivateKey)


class _KeyHolder(Generic[_KeyT]):
    """What every signer and verifier shares: one key (of its ``_scheme``) and its public exports."""

    __slots__ = ("_key",)
    _key: _KeyT
    _scheme: ClassVar[_Scheme]

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM."""
        return public_key_to_pem(self._key)

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 8037 ``OKP`` for Ed25519, ``EC`` for P-256)."""
        return public_key_to_jwk(self._key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(thumbprint={jwk_thumbprint(self._key)!r})"


class _PublicKeyHolder(_KeyHolder[_PubT], Generic[_PubT, _PrivT]):
    """A verifier of public keys ``_PubT``: built from a key, or from a signer or verifier of the scheme."""

    __slots__ = ()

    def __init__(self, public_key: KeyInput | _KeyHolder[_PubT] | _KeyHolder[_PrivT]) -> None:
        scheme = self._scheme
        self._key = _checked(load_public_key(_unwrap(public_key)), scheme.public_type, scheme.label)

    public_key: readonly[_PubT] = readonly("_key", "The ``cryptography`` public key object.")


class _PrivateKeyHolder(_KeyHolder[_PrivT]):
    __slots__ = ()

    def __init__(self, private_key: KeyInput, *, password: bytes | Secret[bytes] | None = None) -> None:
        scheme = self._scheme
        self._key = _checked(
            load_private_key(private_key, password=password), scheme.private_type, scheme.label
        )

    @classmethod
    def generate(cls) -> Self:
        """A signer with a fresh random key."""
        return cls(cls._scheme.generate())

    private_key: readonly[_PrivT] = readonly("_key", "The ``cryptography`` private key object.")

    def private_pem(self, *, password: bytes | Secret[bytes] | None = None) -> Secret[bytes]:
        """The private key as PKCS#8 PEM (encrypted with ``password`` if given), in a ``Secret``."""
        return private_key_to_pem(self._key, password=password)

    def private_jwk(self) -> Secret[dict[str, str]]:
        """The private key as a JWK with ``d`` (``OKP`` or ``EC``), in a ``Secret``."""
        return private_key_to_jwk(self._key)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a signer holds a private key and cannot be pickled")


def _unwrap(value: KeyInput | _KeyHolder[Any]) -> KeyInput:
    """The key inside a verifier or signer; else ``value``."""
    return cast("KeyInput", value._key) if isinstance(value, _KeyHolder) else value


def _checked(key: PublicKey | PrivateKey, key_type: type, label: str) -> Any:
    if not isinstance(key, key_type):
        raise _wrong_type(label)
    return key


@final
class Ed25519Verifier(_PublicKeyHolder[ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey]):
    """Verify Ed25519 signatures (RFC 8032) with one public key.

    Args:
        public_key: an ``Ed25519PublicKey`` (or private key), SubjectPublicKeyInfo PEM, an
            ``OKP``/``Ed25519`` JWK, or an ``Ed25519Signer``/``Ed25519Verifier``.

    Raises:
        CryptoError: ``crypto.invalid_key`` if the key is not an Ed25519 key.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()
    _scheme = _ED25519

    @classmethod
    def from_public_bytes(cls, raw: bytes) -> Ed25519Verifier:
        """Build a verifier from the 32-byte raw public key."""
        if len(raw) != 32:
            raise CryptoError(
                "an Ed25519 public key is 32 bytes", code=_codes.INVALID_KEY_SIZE, operation="load_key"
            )
        return cls(ed25519.Ed25519PublicKey.from_public_bytes(raw))

    def public_bytes(self) -> bytes:
        """The 32-byte raw public key."""
        return self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def verify(self, signature: bytes, data: bytes | str) -> None:
        """Check that ``signature`` is a valid signature of ``data``.

        Args:
            signature: the 64-byte signature.
            data: the signed message (``str`` is UTF-8 encoded).

        Raises:
            CryptoError: ``crypto.invalid_signature`` (one opaque error for every failure).
        """
        if not isinstance(signature, bytes | bytearray | memoryview) or len(signature) != _ED25519_SIG:
            raise _bad_signature()
        signature = bytes(signature)
        try:
            self._key.verify(signature, _as_bytes(data))
        except InvalidSignature:
            raise _bad_signature() from None

    def is_valid(self, signature: bytes, data: bytes | str) -> bool:
        """Like ``verify`` but return ``False`` instead of raising."""
        return _passes(lambda: self.verify(signature, data))


@final
class Ed25519Signer(_PrivateKeyHolder[ed25519.Ed25519PrivateKey]):
    """Sign with an Ed25519 private key (deterministic, 64-byte signatures).

    Args:
        private_key: an ``Ed25519PrivateKey``, PKCS#8 PEM or a private ``OKP`` JWK.
        password: the PEM's password, when it is encrypted.

    Raises:
        CryptoError: ``crypto.invalid_key`` if the key is not an Ed25519 private key.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()
    _scheme = _ED25519

    @classmethod
    def from_private_bytes(cls, raw: bytes | Secret[bytes]) -> Ed25519Signer:
        """Build a signer from the 32-byte raw private key (seed)."""
        value = raw.reveal() if isinstance(raw, Secret) else raw
        if len(value) != 32:
            raise CryptoError(
                "an Ed25519 private key is 32 bytes", code=_codes.INVALID_KEY_SIZE, operation="load_key"
            )
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(value))

    def verifier(self) -> Ed25519Verifier:
        """The matching verifier."""
        return Ed25519Verifier(self._key.public_key())

    def sign(self, data: bytes | str) -> bytes:
        """Sign ``data`` (``str`` is UTF-8 encoded); return the 64-byte signature."""
        return self._key.sign(_as_bytes(data))


def _check_encoding(encoding: str) -> None:
    if encoding not in ("raw", "der"):
        raise ValueError("encoding must be 'raw' or 'der'")


@final
class EcdsaP256Verifier(_PublicKeyHolder[ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey]):
    """Verify ECDSA P-256/SHA-256 signatures, raw (r||s, 64 bytes) or DER.

    Args:
        public_key: an ``EllipticCurvePublicKey`` on P-256 (or private key), PEM, an ``EC``
            JWK with ``crv`` ``P-256``, or an ``EcdsaP256Signer``/``EcdsaP256Verifier``.

    Raises:
        CryptoError: ``crypto.invalid_key`` if the key is not a P-256 key.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()
    _scheme = _P256

    def verify(self, signature: bytes, data: bytes | str, *, encoding: SignatureEncoding = "raw") -> None:
        """Check that ``signature`` is a valid signature of ``data``.

        Args:
            signature: r||s (``raw``, exactly 64 bytes) or an ASN.1 DER ``Ecdsa-Sig-Value``.
            data: the signed message (``str`` is UTF-8 encoded).
            encoding: ``"raw"`` (default, as JWS) or ``"der"``.

        Raises:
            CryptoError: ``crypto.invalid_signature`` (one opaque error for every failure).
        """
        _check_encoding(encoding)
        if not isinstance(signature, bytes | bytearray | memoryview):
            raise _bad_signature()
        signature = bytes(signature)
        if encoding == "raw":
            if len(signature) != _P256_SIG:
                raise _bad_signature()
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
        else:
            der = signature
        try:
            self._key.verify(der, _as_bytes(data), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise _bad_signature() from None

    def is_valid(self, signature: bytes, data: bytes | str, *, encoding: SignatureEncoding = "raw") -> bool:
        """Like ``verify`` but return ``False`` instead of raising."""
        return _passes(lambda: self.verify(signature, data, encoding=encoding))


@final
class EcdsaP256Signer(_PrivateKeyHolder[ec.EllipticCurvePrivateKey]):
    """Sign with an ECDSA P-256 private key over SHA-256.

    Args:
        private_key: an ``EllipticCurvePrivateKey`` on P-256, PKCS#8/SEC1 PEM or a private
            ``EC`` JWK.
        password: the PEM's password, when it is encrypted.

    Raises:
        CryptoError: ``crypto.invalid_key`` if the key is not a P-256 private key.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()
    _scheme = _P256

    def verifier(self) -> EcdsaP256Verifier:
        """The matching verifier."""
        return EcdsaP256Verifier(self._key.public_key())

    def sign(self, data: bytes | str, *, encoding: SignatureEncoding = "raw") -> bytes:
        """Sign ``data``; return r||s (``raw``, 64 bytes, the default) or DER.

        Signatures are always low-S (``s <= n/2``), the form JWT verification requires.
        """
        _check_encoding(encoding)
        r, s = low_s_signature(self._key.sign(_as_bytes(data), ec.ECDSA(hashes.SHA256())))
        if encoding == "der":
            return encode_dss_signature(r, s)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
