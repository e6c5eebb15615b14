"""``checksum_file`` and ``ChecksummedFile`` (content plus a sidecar checksum, verified on read)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import final

from llm_infra.crypto import HashAlgorithm, Hasher, hash_file, hash_stream
from llm_infra.errors import IoError
from llm_infra.fs import _codes
from llm_infra.fs._atomic import atomic_write
from llm_infra.fs._remote import (
    PathLike,
    filesystem,
    is_remote,
    read_bytes,
    remote_error,
    write_bytes_remote,
)


def checksum_file(path: PathLike, algo: HashAlgorithm = "sha256") -> str:
    """The hex digest of a local file or remote object, read in constant memory.

    Args:
        path: a local path or an fsspec URL.
        algo: ``sha256`` (default), ``sha512``, ``blake2b``, ``blake3``...

    Raises:
        IoError: the file cannot be read (``fs.not_found`` when missing).
        ConfigError: unknown algorithm.
    """
    if is_remote(path):
        url = str(path)
        Hasher(algo)
        fs, inner = filesystem(url)
        try:
            with fs.open(inner, "rb") as stream:
                return hash_stream(stream, algo).hex()
        except (OSError, ValueError) as exc:
            raise remote_error(exc, "checksum", url) from exc
    if not os.path.exists(path):
        raise remote_error(FileNotFoundError(os.fspath(path)), "checksum", os.fspath(path))
    return hash_file(path, algo).hex()


@final
class ChecksummedFile:
    """A file written with a sidecar checksum (``<name>.<algo>``, ``sha256sum`` format) and verified on read.

    ``write`` replaces the content atomically, then the sidecar; a crash between the two is
    detected by the next ``read`` as ``fs.checksum_mismatch``, never returned as good data.
    Works with local paths and fsspec URLs.

    Example::

        >>> import tempfile, os
        >>> f = ChecksummedFile(os.path.join(tempfile.mkdtemp(), "index.bin"))
        >>> f.write(b"vectors")
        >>> f.read()
        b'vectors'
    """

    __slots__ = ("algo", "path")

    def __init__(self, path: PathLike, algo: HashAlgorithm = "sha256") -> None:
        Hasher(algo)
        self.path = path if is_remote(path) else Path(path)
        self.algo: HashAlgorithm = algo

    @property
    def sidecar(self) -> str | Path:
        """Where the checksum lives."""
        if isinstance(self.path, Path):
            return self.path.with_name(f"{self.path.name}.{self.algo}")
        return f"{self.path}.{self.algo}"

    def _digest(self, data: bytes) -> str:
        return Hasher(self.algo).update(data).hexdigest()

    def write(self, data: bytes, *, mode: int | None = None) -> None:
        """Replace the content and its checksum (each atomically)."""
        name = self.path.name if isinstance(self.path, Path) else str(self.path).rsplit("/", 1)[-1]
        line = f"{self._digest(data)}  {name}\n".encode()
        if isinstance(self.path, Path):
            atomic_write(self.path, data, mode=mode)
            atomic_write(self.sidecar, line, mode=mode)
        else:
            write_bytes_remote(str(self.path), data)
            write_bytes_remote(str(self.sidecar), line)

    def expected(self) -> str:
        """The recorded checksum (``fs.checksum_missing`` when there is none)."""
        try:
            text = read_bytes(self.sidecar).decode("ascii", "replace")
        except IoError as exc:
            if exc.code != _codes.NOT_FOUND:
                raise
            raise IoError(
                f"{self.path} has no checksum file {self.sidecar}",
                operation="verify",
                path=str(self.path),
                code=_codes.CHECKSUM_MISSING,
            ) from exc
        return text.split()[0] if text.split() else ""

    def read(self) -> bytes:
        """The content, after checking it against the sidecar.

        Raises:
            IoError: ``fs.checksum_mismatch`` (corrupt or torn), ``fs.checksum_missing``,
                ``fs.not_found``.
        """
        data = read_bytes(self.path)
        expected = self.expected()
        actual = self._digest(data)
        if actual != expected:
            raise IoError(
                f"{self.path} does not match its {self.algo} checksum (expected {expected[:16]}..., "
                f"got {actual[:16]}...): the file is corrupt or a write was interrupted",
                operation="verify",
                path=str(self.path),
                code=_codes.CHECKSUM_MISMATCH,
            )
        return data

    def verify(self) -> bool:
        """Whether the content matches the recorded checksum (False when either is missing)."""
        try:
            self.read()
        except IoError:
            return False
        return True
