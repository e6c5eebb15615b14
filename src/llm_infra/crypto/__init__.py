"""Cryptography for llm-infra: AEAD, hashing, signatures, passwords and JWT, over vetted libraries.

Every primitive comes from ``cryptography``, ``hashlib``/``hmac``, ``argon2-cffi`` (the
``crypto`` extra: ``PasswordHasher`` and ``derive_key``) or ``blake3``;
this package adds strict input handling on top: canonical encodings, pinned algorithms, key-size
checks, one opaque error per verification failure, and key material kept in ``Secret``.

Example::

    >>> from llm_infra.crypto import JwtSigner, JwtValidator
    >>> secret = b"0123456789abcdef0123456789abcdef"
    >>> token = JwtSigner.hs256(secret).sign({"sub": "alice"})
    >>> JwtValidator.hs256(secret).verify(token)["sub"]
    'alice'
"""

from llm_infra.crypto._aead import Aes256GcmCipher as Aes256GcmCipher
from llm_infra.crypto._aead import Keyring as Keyring
from llm_infra.crypto._b64 import b64url_decode as b64url_decode
from llm_infra.crypto._b64 import b64url_encode as b64url_encode
from llm_infra.crypto._hash import HashAlgorithm as HashAlgorithm
from llm_infra.crypto._hash import Hasher as Hasher
from llm_infra.crypto._hash import blake2b as blake2b
from llm_infra.crypto._hash import blake3 as blake3
from llm_infra.crypto._hash import constant_time_eq as constant_time_eq
from llm_infra.crypto._hash import hash_file as hash_file
from llm_infra.crypto._hash import hash_stream as hash_stream
from llm_infra.crypto._hash import hmac_sha256 as hmac_sha256
from llm_infra.crypto._hash import sha256 as sha256
from llm_infra.crypto._hash import sha512 as sha512
from llm_infra.crypto._jose import ALGORITHMS as ALGORITHMS
from llm_infra.crypto._jwk import JwtKey as JwtKey
from llm_infra.crypto._jwk import KeySource as KeySource
from llm_infra.crypto._jwks import JwksCache as JwksCache
from llm_infra.crypto._jwt import JwtSigner as JwtSigner
from llm_infra.crypto._jwt import JwtValidator as JwtValidator
from llm_infra.crypto._kdf import derive_key as derive_key
from llm_infra.crypto._keys import jwk_thumbprint as jwk_thumbprint
from llm_infra.crypto._keys import load_private_key as load_private_key
from llm_infra.crypto._keys import load_public_key as load_public_key
from llm_infra.crypto._keys import private_key_to_jwk as private_key_to_jwk
from llm_infra.crypto._keys import private_key_to_pem as private_key_to_pem
from llm_infra.crypto._keys import public_key_to_jwk as public_key_to_jwk
from llm_infra.crypto._keys import public_key_to_pem as public_key_to_pem
from llm_infra.crypto._password import PasswordHasher as PasswordHasher
from llm_infra.crypto._sign import EcdsaP256Signer as EcdsaP256Signer
from llm_infra.crypto._sign import EcdsaP256Verifier as EcdsaP256Verifier
from llm_infra.crypto._sign import Ed25519Signer as Ed25519Signer
from llm_infra.crypto._sign import Ed25519Verifier as Ed25519Verifier
from llm_infra.crypto._sign import SignatureEncoding as SignatureEncoding

__all__ = [
    "ALGORITHMS",
    "Aes256GcmCipher",
    "EcdsaP256Signer",
    "EcdsaP256Verifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "HashAlgorithm",
    "Hasher",
    "JwksCache",
    "JwtKey",
    "JwtSigner",
    "JwtValidator",
    "KeySource",
    "Keyring",
    "PasswordHasher",
    "SignatureEncoding",
    "b64url_decode",
    "b64url_encode",
    "blake2b",
    "blake3",
    "constant_time_eq",
    "derive_key",
    "hash_file",
    "hash_stream",
    "hmac_sha256",
    "jwk_thumbprint",
    "load_private_key",
    "load_public_key",
    "private_key_to_jwk",
    "private_key_to_pem",
    "public_key_to_jwk",
    "public_key_to_pem",
    "sha256",
    "sha512",
]
