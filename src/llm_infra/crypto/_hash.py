"""Hashes (SHA-2, BLAKE2b, BLAKE3), HMAC-SHA-256, constant-time comparison and streaming hashers."""

from __future__ import annotations

import hashlib
import hmac
import os
from types import ModuleType
from typing import IO, Any, Final, Literal, final, get_args

from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError, IoError
from llm_infra.secrets import Secret

HashAlgorithm = Literal["sha256", "sha384", "sha512", "blake2b", "blake3"]
"""Names accepted by ``Hasher``, ``hash_file`` and ``hash_stream``."""

CHUNK_SIZE: Final = 1 << 20
_ALGORITHMS: Final = frozenset(get_args(HashAlgorithm))

Data = bytes | bytearray | memoryview | str


_BLAKE3: ModuleType | None = None


def _blake3_module() -> ModuleType:
    # Cached: importlib's lookup would otherwise cost more than hashing 1 KB.
    global _BLAKE3
    if _BLAKE3 is None:
        _BLAKE3 = require("blake3", "all")
    return _BLAKE3


def _b(data: Data) -> bytes | bytearray | memoryview:
    return data.encode("utf-8") if isinstance(data, str) else data


def sha256(data: Data) -> bytes:
    """SHA-256 of ``data`` (``str`` is UTF-8 encoded); 32 bytes.

    .. versionadded:: 0.1.0
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).digest()


def sha512(data: Data) -> bytes:
    """SHA-512 of ``data`` (``str`` is UTF-8 encoded); 64 bytes.

    .. versionadded:: 0.1.0
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha512(data).digest()


def blake2b(data: Data, *, digest_size: int = 64, key: bytes | Secret[bytes] | None = None) -> bytes:
    """BLAKE2b of ``data``; ``digest_size`` 1-64 bytes, optionally keyed (a MAC, up to 64-byte key).

    .. versionadded:: 0.1.0
    """
    raw_key = key.reveal() if isinstance(key, Secret) else (key or b"")
    return hashlib.blake2b(_b(data), digest_size=digest_size, key=raw_key).digest()


def blake3(data: Data, *, length: int = 32) -> bytes:
    """BLAKE3 of ``data`` (``length`` bytes of output, default 32).

    Raises:
        ConfigError: ``config.missing_extra`` when the ``blake3`` package is not installed.

    .. versionadded:: 0.1.0
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    module = _BLAKE3 if _BLAKE3 is not None else _blake3_module()
    digest: bytes = module.blake3(data).digest(length=length)
    return digest


def hmac_sha256(key: bytes | Secret[bytes], data: Data) -> bytes:
    """HMAC-SHA-256 (RFC 2104) of ``data`` under ``key``; 32 bytes.

    .. warning::
        Compare MACs with ``constant_time_eq``, never ``==``.

    .. versionadded:: 0.1.0
    """
    raw_key = key.reveal() if isinstance(key, Secret) else key
    return hmac.digest(raw_key, _b(data), "sha256")


def constant_time_eq(a: Data, b: Data) -> bool:
    """Compare two byte strings (or UTF-8 strings) in time independent of where they differ.

    Lengths may leak (as with every such comparison); the contents do not.

    .. versionadded:: 0.1.0
    """
    return hmac.compare_digest(_b(a), _b(b))


@final
class Hasher:
    """An incremental hash: ``Hasher("sha256").update(chunk)...digest()``.

    Args:
        algorithm: ``sha256``, ``sha384``, ``sha512``, ``blake2b`` (64-byte) or ``blake3``.

    Raises:
        ConfigError: for an unknown algorithm (or ``blake3`` when it is not installed).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_h", "algorithm")

    def __init__(self, algorithm: HashAlgorithm = "sha256") -> None:
        if algorithm not in _ALGORITHMS:
            raise ConfigError(
                f"unknown hash algorithm {algorithm!r}; use one of {sorted(_ALGORITHMS)}", key="algorithm"
            )
        self.algorithm: HashAlgorithm = algorithm
        self._h: Any = _blake3_module().blake3() if algorithm == "blake3" else hashlib.new(algorithm)

    def update(self, data: Data) -> Hasher:
        """Feed more data; returns ``self`` for chaining."""
        self._h.update(_b(data))
        return self

    def copy(self) -> Hasher:
        """An independent copy of the current state."""
        other = object.__new__(Hasher)
        other.algorithm = self.algorithm
        other._h = self._h.copy()
        return other

    def digest(self) -> bytes:
        """The digest of everything fed so far (the hasher stays usable)."""
        return bytes(self._h.digest())

    def hexdigest(self) -> str:
        """The digest as lower-case hex."""
        return self.digest().hex()

    def __repr__(self) -> str:
        return f"Hasher({self.algorithm!r})"


def hash_stream(
    stream: IO[bytes], algorithm: HashAlgorithm = "sha256", *, chunk_size: int = CHUNK_SIZE
) -> bytes:
    """Hash a binary stream from its current position to its end, ``chunk_size`` bytes at a time.

    .. versionadded:: 0.1.0
    """
    if chunk_size < 1:
        raise ConfigError("chunk_size must be positive", key="chunk_size")
    hasher = Hasher(algorithm)
    read = stream.read
    while chunk := read(chunk_size):
        hasher.update(chunk)
    return hasher.digest()


def hash_file(
    path: str | os.PathLike[str], algorithm: HashAlgorithm = "sha256", *, chunk_size: int = CHUNK_SIZE
) -> bytes:
    """Hash a file in constant memory.

    Raises:
        IoError: when the file cannot be opened or read.
        ConfigError: for an unknown algorithm.

    .. versionadded:: 0.1.0
    """
    Hasher(algorithm)  # validate the name before touching the file
    try:
        with open(path, "rb") as stream:
            return hash_stream(stream, algorithm, chunk_size=chunk_size)
    except OSError as exc:
        raise IoError(
            f"cannot read {os.fspath(path)!r} to hash it",
            operation="hash_file",
            path=os.fspath(path),
            errno=exc.errno,
        ) from exc
