"""Asymmetric keys to and from PEM and JWK (RFC 7517/7518/8037), strictly validated."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TypeAlias

import orjson
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from llm_infra.crypto import _codes
from llm_infra.crypto._b64 import b64url_encode, decode_strict
from llm_infra.crypto._ed25519 import is_weak_public_key
from llm_infra.errors import CryptoError
from llm_infra.secrets import Secret

PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
"""The public key types this package signs and verifies with."""
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""The private key types this package signs with."""
KeyInput: TypeAlias = (
    "PublicKey | PrivateKey | bytes | str | Secret[bytes] | Secret[str] | Mapping[str, object]"
)
"""What a key parameter accepts: a ``cryptography`` key object, PEM (bytes or text) or a JWK dict."""

MIN_RSA_BITS = 2048
"""RSA keys shorter than this are refused (NIST SP 800-131A)."""

_P256_COORD = 32


def _invalid(message: str = "invalid or unsupported key") -> CryptoError:
    return CryptoError(message, code=_codes.INVALID_KEY, operation="load_key")


def _b64_field(jwk: Mapping[str, object], name: str, size: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise _invalid(f"JWK member {name!r} is missing or not a string")
    try:
        raw = decode_strict(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise _invalid(f"JWK member {name!r} is not canonical base64url") from None
    if size is not None and len(raw) != size:
        raise _invalid(f"JWK member {name!r} has the wrong length")
    return raw


def _b64_int(jwk: Mapping[str, object], name: str) -> int:
    raw = _b64_field(jwk, name)
    # RFC 7518 §6.3: unsigned big-endian, minimal octets (no leading zero byte); zero is not a key value.
    if not raw or raw[0] == 0:
        raise _invalid(f"JWK member {name!r} is not a minimal positive integer")
    return int.from_bytes(raw, "big")


def _int_b64(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def check_supported(key: object) -> PublicKey | PrivateKey:
    """Return ``key`` when it is a supported key object (Ed25519, EC P-256, RSA >= 2048 bits).

    Ed25519 public keys of small order (or not canonically encoded) are refused.
    """
    if isinstance(key, ed25519.Ed25519PublicKey):
        if is_weak_public_key(key.public_bytes_raw()):
            raise _invalid("the Ed25519 public key is of small order or not a canonical curve point")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise _invalid("only the P-256 curve is supported for EC keys")
        return key
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise _invalid(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        return key
    raise _invalid("unsupported key type (use Ed25519, EC P-256 or RSA >= 2048 bits)")


def _pem_bytes(key: bytes | str | Secret[bytes] | Secret[str]) -> bytes:
    value = key.reveal() if isinstance(key, Secret) else key
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def load_public_key(key: KeyInput) -> PublicKey:
    """Coerce a key object, PEM (public key, certificate or private key) or JWK to a public key.

    Args:
        key: an ``Ed25519PublicKey``/``EllipticCurvePublicKey``/``RSAPublicKey`` (or the
            matching private key), PEM bytes or text, or a JWK dict.

    Returns:
        The ``cryptography`` public key object.

    Raises:
        CryptoError: ``crypto.invalid_key`` for anything malformed or unsupported (EC curves other
            than P-256, RSA under 2048 bits, other key types).

    .. versionadded:: 0.1.0
    """
    if isinstance(key, Mapping):
        return public_key_from_jwk(key)
    if isinstance(key, bytes | str | bytearray | Secret):
        data = _pem_bytes(key)
        loaded: object
        try:
            if b"-----BEGIN CERTIFICATE-----" in data:
                loaded = x509.load_pem_x509_certificate(data).public_key()
            elif b"PRIVATE KEY-----" in data:
                loaded = serialization.load_pem_private_key(data, password=None).public_key()
            else:
                loaded = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise _invalid("the PEM data is not a valid public key, certificate or private key") from None
        key = loaded  # type: ignore[assignment]  # checked just below
    checked = check_supported(key)
    if isinstance(checked, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return checked.public_key()
    return checked


def load_private_key(key: KeyInput, *, password: bytes | Secret[bytes] | None = None) -> PrivateKey:
    """Coerce a private key object, PEM (PKCS#8 or traditional) or private JWK to a private key.

    Args:
        key: a ``cryptography`` private key, PEM bytes/text (optionally encrypted) or a JWK dict
            carrying the private members.
        password: the PEM's password, when it is encrypted.

    Returns:
        The ``cryptography`` private key object.

    Raises:
        CryptoError: ``crypto.invalid_key`` for anything malformed, encrypted with another
            password, public-only or unsupported.

    .. versionadded:: 0.1.0
    """
    if isinstance(key, Mapping):
        return private_key_from_jwk(key)
    if isinstance(key, bytes | str | bytearray | Secret):
        pw = password.reveal() if isinstance(password, Secret) else password
        try:
            loaded = serialization.load_pem_private_key(_pem_bytes(key), password=pw)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise _invalid("the PEM data is not a valid private key (or the password is wrong)") from None
        key = loaded  # type: ignore[assignment]  # checked just below
    checked = check_supported(key)
    if not isinstance(checked, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise _invalid("a private key is required, got a public key")
    return checked


def public_key_from_jwk(jwk: Mapping[str, object]) -> PublicKey:
    """Build a public key from a JWK (``OKP``/Ed25519, ``EC``/P-256 or ``RSA``).

    Private members, if present, are ignored. ``use`` must be ``sig`` when present.

    Raises:
        CryptoError: ``crypto.invalid_key`` for a malformed, off-curve or unsupported JWK.

    .. versionadded:: 0.1.0
    """
    if not isinstance(jwk, Mapping):
        raise _invalid("a JWK must be a JSON object")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise _invalid("the JWK is not a signature key ('use' is not 'sig')")
    kty = jwk.get("kty")
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise _invalid("only the Ed25519 curve is supported for OKP keys")
        okp = ed25519.Ed25519PublicKey.from_public_bytes(_b64_field(jwk, "x", 32))
        check_supported(okp)
        return okp
    if kty == "EC":
        if jwk.get("crv") != "P-256":
            raise _invalid("only the P-256 curve is supported for EC keys")
        x = int.from_bytes(_b64_field(jwk, "x", _P256_COORD), "big")
        y = int.from_bytes(_b64_field(jwk, "y", _P256_COORD), "big")
        try:
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except ValueError:
            raise _invalid("the EC point is not on the P-256 curve") from None
    if kty == "RSA":
        n = _b64_int(jwk, "n")
        e = _b64_int(jwk, "e")
        if n.bit_length() < MIN_RSA_BITS:
            raise _invalid(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        try:
            return rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            raise _invalid("the RSA public numbers are invalid") from None
    raise _invalid("unsupported JWK key type (use OKP/Ed25519, EC/P-256 or RSA)")


def private_key_from_jwk(jwk: Mapping[str, object]) -> PrivateKey:
    """Build a private key from a private JWK; the public members must match the private ones.

    Raises:
        CryptoError: ``crypto.invalid_key`` for a malformed, inconsistent or unsupported JWK.

    .. versionadded:: 0.1.0
    """
    public = public_key_from_jwk(jwk)
    key: PrivateKey
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            key = ed25519.Ed25519PrivateKey.from_private_bytes(_b64_field(jwk, "d", 32))
        elif isinstance(public, ec.EllipticCurvePublicKey):
            d = int.from_bytes(_b64_field(jwk, "d", _P256_COORD), "big")
            key = ec.derive_private_key(d, ec.SECP256R1())
        else:
            pub = public.public_numbers()
            key = rsa.RSAPrivateNumbers(
                p=_b64_int(jwk, "p"),
                q=_b64_int(jwk, "q"),
                d=_b64_int(jwk, "d"),
                dmp1=_b64_int(jwk, "dp"),
                dmq1=_b64_int(jwk, "dq"),
                iqmp=_b64_int(jwk, "qi"),
                public_numbers=pub,
            ).private_key()
    except ValueError:
        raise _invalid("the JWK private members are invalid") from None
    if public_key_to_jwk(key.public_key()) != public_key_to_jwk(public):
        raise _invalid("the JWK private members do not match its public members")
    return key


def public_key_to_jwk(key: PublicKey | PrivateKey) -> dict[str, str]:
    """Render the public half of ``key`` as a JWK dict (members in RFC 7638 order).

    .. versionadded:: 0.1.0
    """
    key = check_supported(key)
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        key = key.public_key()
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        nums = key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _int_b64(nums.x, _P256_COORD),
            "y": _int_b64(nums.y, _P256_COORD),
        }
    rnums = key.public_numbers()
    return {"e": _int_b64(rnums.e), "kty": "RSA", "n": _int_b64(rnums.n)}


def private_key_to_jwk(key: PrivateKey) -> Secret[dict[str, str]]:
    """Render a private key as a JWK dict with its private members, wrapped in a ``Secret``.

    .. versionadded:: 0.1.0
    """
    key = load_private_key(key)
    jwk = public_key_to_jwk(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        jwk["d"] = b64url_encode(raw)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        jwk["d"] = _int_b64(key.private_numbers().private_value, _P256_COORD)
    else:
        nums = key.private_numbers()
        jwk.update(
            d=_int_b64(nums.d),
            p=_int_b64(nums.p),
            q=_int_b64(nums.q),
            dp=_int_b64(nums.dmp1),
            dq=_int_b64(nums.dmq1),
            qi=_int_b64(nums.iqmp),
        )
    return Secret(jwk)


def public_key_to_pem(key: PublicKey | PrivateKey) -> bytes:
    """Render the public half of ``key`` as SubjectPublicKeyInfo PEM.

    .. versionadded:: 0.1.0
    """
    key = check_supported(key)
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_to_pem(key: PrivateKey, *, password: bytes | Secret[bytes] | None = None) -> Secret[bytes]:
    """Render a private key as PKCS#8 PEM (encrypted when ``password`` is given), in a ``Secret``.

    .. versionadded:: 0.1.0
    """
    key = load_private_key(key)
    pw = password.reveal() if isinstance(password, Secret) else password
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
    )
    return Secret(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )


def jwk_thumbprint(key: KeyInput) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public key, base64url (a stable ``kid``).

    .. versionadded:: 0.1.0
    """
    jwk = public_key_to_jwk(load_public_key(key))
    return b64url_encode(hashlib.sha256(orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS)).digest())
