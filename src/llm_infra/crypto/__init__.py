"""Cryptography for llm-infra: AEAD, hashing, signatures, passwords and JWT, over vetted libraries.

Every primitive comes from ``cryptography``, ``hashlib``/``hmac``, ``argon2-cffi`` or ``blake3``;
this package adds strict input handling on top: canonical encodings, pinned algorithms, key-size
checks, one opaque error per verification failure, and key material kept in ``Secret``.

Example::

    >>> from llm_infra.crypto import JwtSigner, JwtValidator
    >>> secret = b"0123456789abcdef0123456789abcdef"
    >>> token = JwtSigner.hs256(secret).sign({"sub": "alice"})
    >>> JwtValidator.hs256(secret).verify(token)["sub"]
    'alice'
"""

from llm_infra.crypto._b64 import b64url_decode as b64url_decode
from llm_infra.crypto._b64 import b64url_encode as b64url_encode
from llm_infra.crypto._jwt import ALGORITHMS as ALGORITHMS
from llm_infra.crypto._jwt import MAX_TOKEN_BYTES as MAX_TOKEN_BYTES
from llm_infra.crypto._jwt import JwksCache as JwksCache
from llm_infra.crypto._jwt import JwtKey as JwtKey
from llm_infra.crypto._jwt import JwtSigner as JwtSigner
from llm_infra.crypto._jwt import JwtValidator as JwtValidator
from llm_infra.crypto._jwt import KeySource as KeySource
from llm_infra.crypto._keys import jwk_thumbprint as jwk_thumbprint
from llm_infra.crypto._keys import load_private_key as load_private_key
from llm_infra.crypto._keys import load_public_key as load_public_key
from llm_infra.crypto._keys import private_key_to_jwk as private_key_to_jwk
from llm_infra.crypto._keys import private_key_to_pem as private_key_to_pem
from llm_infra.crypto._keys import public_key_to_jwk as public_key_to_jwk
from llm_infra.crypto._keys import public_key_to_pem as public_key_to_pem
from llm_infra.crypto._sign import EcdsaP256Signer as EcdsaP256Signer
from llm_infra.crypto._sign import EcdsaP256Verifier as EcdsaP256Verifier
from llm_infra.crypto._sign import Ed25519Signer as Ed25519Signer
from llm_infra.crypto._sign import Ed25519Verifier as Ed25519Verifier

__all__ = [
    "ALGORITHMS",
    "MAX_TOKEN_BYTES",
    "EcdsaP256Signer",
    "EcdsaP256Verifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "JwksCache",
    "JwtKey",
    "JwtSigner",
    "JwtValidator",
    "KeySource",
    "b64url_decode",
    "b64url_encode",
    "jwk_thumbprint",
    "load_private_key",
    "load_public_key",
    "private_key_to_jwk",
    "private_key_to_pem",
    "public_key_to_jwk",
    "public_key_to_pem",
]
