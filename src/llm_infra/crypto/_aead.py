"""AES-256-GCM with random 96-bit nonces, a per-key usage limit, and a rotating keyring."""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Mapping
from typing import Final, final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llm_infra._internal._attrs import readonly
from llm_infra._internal._ulid import new_ulid
from llm_infra.crypto import _codes
from llm_infra.crypto._kdf import (
    DEFAULT_MEMORY_COST,
    DEFAULT_PARALLELISM,
    DEFAULT_TIME_COST,
    derive_key,
)
from llm_infra.errors import ConfigError, CryptoError
from llm_infra.secrets import Secret

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
MAX_ENCRYPTIONS: Final = 2**32
"""NIST SP 800-38D §8.3: with random 96-bit nonces, one key may encrypt at most 2^32 messages."""

_ENVELOPE_VERSION: Final = 1
_VIEW_THRESHOLD: Final = 16 * 1024
_KID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _decrypt_failed() -> CryptoError:
    # One opaque error for every cause (tampering, wrong key, truncation, wrong AAD): telling them
    # apart would hand an attacker an oracle.
    return CryptoError("decryption failed", code=_codes.DECRYPT_FAILED, operation="decrypt")


def _key_bytes(key: object) -> bytes:
    raw = key.reveal() if isinstance(key, Secret) else key
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise CryptoError("an AES-256 key must be bytes", code=_codes.INVALID_KEY, operation="load_key")
    raw = bytes(raw)
    if len(raw) != KEY_SIZE:
        raise CryptoError(
            f"AES-256-GCM needs a {KEY_SIZE}-byte key, got {len(raw)} bytes",
            code=_codes.INVALID_KEY_SIZE,
            operation="load_key",
            remediation=[
                "generate one with Aes256GcmCipher.generate() or os.urandom(32)",
                "derive one from a passphrase with Aes256GcmCipher.from_passphrase(passphrase, salt)",
            ],
        )
    return raw


@final
class Aes256GcmCipher:
    """AES-256-GCM authenticated encryption; wire format ``nonce(12) || ciphertext || tag(16)``.

    Each ``encrypt`` draws a fresh random 96-bit nonce from the OS. A key refuses to encrypt after
    ``max_encryptions`` messages (2^32, NIST SP 800-38D's bound for random nonces); rotate keys
    with ``Keyring`` long before that.

    Args:
        key: 32 bytes (or a ``Secret`` of them).
        max_encryptions: the usage limit (at most 2^32; lower it to rotate sooner).

    Raises:
        CryptoError: ``crypto.invalid_key_size`` when the key is not 32 bytes.
        ConfigError: when ``max_encryptions`` is out of range.

    .. warning::
        Never build a cipher from a password's bytes: use ``from_passphrase`` (Argon2id).
        The associated data is authenticated, not encrypted.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_aead", "_counter", "_key", "_limit")

    def __init__(self, key: bytes | Secret[bytes], *, max_encryptions: int = MAX_ENCRYPTIONS) -> None:
        raw = _key_bytes(key)
        if (
            not isinstance(max_encryptions, int)
            or isinstance(max_encryptions, bool)
            or not 1 <= max_encryptions <= MAX_ENCRYPTIONS
        ):
            raise ConfigError("max_encryptions must be between 1 and 2**32", key="max_encryptions")
        self._key = Secret(raw)
        self._aead = AESGCM(raw)
        # itertools.count's next() is atomic under the GIL: no lock on the hot path.
        self._counter = itertools.count(1)
        self._limit = max_encryptions

    @classmethod
    def generate(cls, *, max_encryptions: int = MAX_ENCRYPTIONS) -> Aes256GcmCipher:
        """A cipher with a fresh random key (read it with ``.key`` to store it)."""
        return cls(AESGCM.generate_key(bit_length=256), max_encryptions=max_encryptions)

    @classmethod
    def from_passphrase(
        cls,
        passphrase: str | bytes | Secret[str] | Secret[bytes],
        salt: bytes,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> Aes256GcmCipher:
        """A cipher whose key is derived from ``passphrase`` with Argon2id (see ``derive_key``).

        Args:
            passphrase: the passphrase; must not be empty.
            salt: at least 16 random bytes, stored beside the ciphertexts.
            time_cost: Argon2id passes (OWASP minimums apply).
            memory_cost: Argon2id memory in KiB.
            parallelism: Argon2id lanes.
        """
        key = derive_key(
            passphrase, salt, time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        return cls(key)

    key: readonly[Secret[bytes]] = readonly(
        "_key", "The raw key, in a ``Secret`` (for storing it in a key vault)."
    )

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt and authenticate ``plaintext`` (and authenticate ``aad``).

        Args:
            plaintext: the message (any bytes-like object, up to 2^31 - 1 bytes).
            aad: associated data bound to the ciphertext; ``decrypt`` needs the same value.

        Returns:
            ``nonce(12) || ciphertext || tag(16)``.

        Raises:
            CryptoError: ``crypto.key_exhausted`` after ``max_encryptions`` uses of this key;
                ``crypto.input_too_large`` for a message of 2 GiB or more.
        """
        if next(self._counter) > self._limit:
            raise CryptoError(
                "this key has reached its encryption limit; rotate to a new key",
                code=_codes.KEY_EXHAUSTED,
                operation="encrypt",
                remediation=["use Keyring.rotate() and re-encrypt with the new key"],
            )
        nonce = os.urandom(NONCE_SIZE)
        try:
            # Empty AAD is passed as None: the same GCM computation, minus an empty update call.
            return nonce + self._aead.encrypt(nonce, plaintext, aad or None)
        except OverflowError:
            raise CryptoError(
                "the message is too large for one AES-GCM call",
                code=_codes.INPUT_TOO_LARGE,
                operation="encrypt",
            ) from None

    def _encrypt_with_nonce(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        # Known-answer tests only: a caller-chosen nonce is how GCM gets broken.
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, data: bytes | bytearray | memoryview, aad: bytes = b"") -> bytes:
        """Verify and decrypt ``nonce || ciphertext || tag``.

        Args:
            data: the output of ``encrypt``.
            aad: the associated data given to ``encrypt``.

        Returns:
            The plaintext. Nothing is returned unless the tag verifies.

        Raises:
            CryptoError: ``crypto.decrypt_failed`` for any tampering, a wrong key or AAD, or input
                shorter than 28 bytes (one opaque error).
        """
        try:
            size = len(data)
            if size < NONCE_SIZE + TAG_SIZE:
                raise _decrypt_failed()
            if size > _VIEW_THRESHOLD:
                # Slicing bytes copies; for large messages a view avoids copying the ciphertext.
                data = memoryview(data)
            return self._aead.decrypt(data[:NONCE_SIZE], data[NONCE_SIZE:], aad or None)
        except (InvalidTag, OverflowError, TypeError, ValueError):
            raise _decrypt_failed() from None

    def __repr__(self) -> str:
        return f"Aes256GcmCipher(key={self._key!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a cipher holds a key and cannot be pickled; store cipher.key.reveal() in a vault")


def _check_kid(kid: object) -> str:
    if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
        raise ConfigError("a key id is 1-64 characters of A-Z a-z 0-9 . _ : -", key="kid")
    return kid


@final
class Keyring:
    """Named AES-256-GCM keys with rotation: encrypt with the newest, decrypt with any.

    The envelope is ``version(1) || len(kid)(1) || kid || nonce(12) || ciphertext || tag(16)``;
    the version and key id are authenticated together with the caller's AAD.

    Args:
        keys: initial ``{kid: 32-byte key}`` (in insertion order; the last one is primary unless
            ``primary`` says otherwise).
        primary: the key id to encrypt with.
        max_encryptions: the per-key usage limit (see ``Aes256GcmCipher``).

    Raises:
        ConfigError: for a bad key id or an unknown ``primary``.
        CryptoError: ``crypto.invalid_key_size`` for a key that is not 32 bytes.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_ciphers", "_limit", "_lock", "_primary")

    def __init__(
        self,
        keys: Mapping[str, bytes | Secret[bytes]] | None = None,
        *,
        primary: str | None = None,
        max_encryptions: int = MAX_ENCRYPTIONS,
    ) -> None:
        self._lock = threading.Lock()
        self._limit = max_encryptions
        self._ciphers: dict[str, Aes256GcmCipher] = {}
        self._primary: tuple[str, Aes256GcmCipher, bytes] | None = None
        for kid, key in (keys or {}).items():
            self.add(kid, key)
        if primary is not None:
            self.set_primary(primary)

    @classmethod
    def generate(cls, kid: str | None = None, *, max_encryptions: int = MAX_ENCRYPTIONS) -> Keyring:
        """A keyring holding one fresh random key."""
        ring = cls(max_encryptions=max_encryptions)
        ring.rotate(kid)
        return ring

    @property
    def primary_kid(self) -> str | None:
        """The key id new envelopes are encrypted with."""
        current = self._primary
        return None if current is None else current[0]

    @property
    def kids(self) -> tuple[str, ...]:
        """Every key id held, oldest first."""
        return tuple(self._ciphers)

    def add(self, kid: str, key: bytes | Secret[bytes], *, primary: bool = True) -> None:
        """Add a key; by default it becomes the primary (encryption) key."""
        kid = _check_kid(kid)
        cipher = Aes256GcmCipher(key, max_encryptions=self._limit)
        with self._lock:
            if kid in self._ciphers:
                raise ConfigError(f"key id {kid!r} is already in the keyring", key="kid")
            self._ciphers[kid] = cipher
        if primary:
            self.set_primary(kid)

    def set_primary(self, kid: str) -> None:
        """Encrypt with ``kid`` from now on."""
        with self._lock:
            cipher = self._ciphers.get(kid)
            if cipher is None:
                raise ConfigError(f"unknown key id {kid!r}", key="primary")
            header = bytes([_ENVELOPE_VERSION, len(kid)]) + kid.encode("ascii")
            self._primary = (kid, cipher, header)

    def rotate(self, kid: str | None = None) -> str:
        """Add a fresh random key, make it primary and return its id (a ULID unless given)."""
        new_kid = kid if kid is not None else new_ulid()
        self.add(new_kid, AESGCM.generate_key(bit_length=256))
        return new_kid

    def retire(self, kid: str) -> None:
        """Remove a key; envelopes made with it can no longer be decrypted. The primary cannot go."""
        with self._lock:
            if self._primary is not None and self._primary[0] == kid:
                raise ConfigError("the primary key cannot be retired; rotate first", key="kid")
            if self._ciphers.pop(kid, None) is None:
                raise ConfigError(f"unknown key id {kid!r}", key="kid")

    def export(self) -> Secret[dict[str, bytes]]:
        """Every ``{kid: key}``, oldest first, in a ``Secret`` (to persist the keyring)."""
        with self._lock:
            return Secret({kid: cipher.key.reveal() for kid, cipher in self._ciphers.items()})

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt with the primary key; return the envelope (which names the key).

        Raises:
            CryptoError: ``crypto.no_key`` when the keyring is empty; ``crypto.key_exhausted``
                when the primary key reached its limit (rotate).
        """
        current = self._primary
        if current is None:
            raise CryptoError(
                "the keyring holds no key; call rotate()", code=_codes.NO_KEY, operation="encrypt"
            )
        _, cipher, header = current
        return header + cipher.encrypt(plaintext, header + aad)

    def _parse(self, envelope: bytes) -> tuple[str, bytes, memoryview]:
        if len(envelope) < 3 or envelope[0] != _ENVELOPE_VERSION:
            raise _decrypt_failed()
        end = 2 + envelope[1]
        try:
            kid = bytes(envelope[2:end]).decode("ascii")
        except UnicodeDecodeError:
            raise _decrypt_failed() from None
        return kid, bytes(envelope[:end]), memoryview(envelope)[end:]

    def key_id(self, envelope: bytes) -> str:
        """The key id an envelope names (to find envelopes still under an old key).

        Raises:
            CryptoError: ``crypto.decrypt_failed`` for a malformed envelope.
        """
        try:
            return self._parse(envelope)[0]
        except TypeError:
            raise _decrypt_failed() from None

    def decrypt(self, envelope: bytes, aad: bytes = b"") -> bytes:
        """Decrypt an envelope with whichever key it names.

        Raises:
            CryptoError: ``crypto.decrypt_failed`` for tampering, a wrong AAD, a malformed envelope
                or a key id the keyring does not hold (one opaque error).
        """
        try:
            kid, header, body = self._parse(envelope)
            cipher = self._ciphers.get(kid)
            if cipher is None:
                raise _decrypt_failed()
            return cipher.decrypt(body, header + aad)
        except TypeError:
            raise _decrypt_failed() from None

    def reencrypt(self, envelope: bytes, aad: bytes = b"") -> bytes:
        """Decrypt with the named key and encrypt again with the primary (after ``rotate``)."""
        return self.encrypt(self.decrypt(envelope, aad), aad)

    def __repr__(self) -> str:
        return f"Keyring(kids={list(self._ciphers)!r}, primary={self.primary_kid!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a keyring holds keys and cannot be pickled; use export()")
