"""Derived files of an on-disk store: atomic writes, the manifest, the index bundle, the lock.

Layout of a store directory::

    store.sqlite (+ -wal, -shm)   durable source of truth: ids, vectors, metadata, config
    manifest.json                 names the derived files with size, sha256 and coverage
    index-<gen>.bin               the ANN index bundle (header, slot labels, faiss bytes)
    vectors-<gen>.bin             full-precision vectors of compressed tiers (memory-mapped)
    LOCK                          flock'ed by the process that has the store open

Derived files are written through ``llm_infra.fs.atomic_writer`` (a random same-directory
temporary name, fsync, rename, fsync of the directory); the manifest is replaced last, so a
crash at any point leaves either the old or the new set in force. Every derived file is
checked against the manifest's sha256 *before* its bytes reach faiss or numpy; a mismatch
means "rebuild from SQLite", never a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import numpy as np

from llm_infra.errors import VectorError
from llm_infra.fs import atomic_writer
from llm_infra.vector import _codes

INDEX_MAGIC: Final = b"LLMVIDX1"
VECTORS_MAGIC: Final = b"LLMVVEC1"
VECTORS_HEADER: Final = 64
MANIFEST: Final = "manifest.json"
DB_FILE: Final = "store.sqlite"
LOCK_FILE: Final = "LOCK"
FORMAT_VERSION: Final = 1


def write_file(path: Path, chunks: Iterable[bytes | memoryview | np.ndarray]) -> tuple[int, str]:
    """Write ``chunks`` to ``path`` atomically (``llm_infra.fs.atomic_writer``); ``(size, sha256)``.

    The digest is computed while the chunks stream out; numpy chunks are written from their
    buffers without a copy.

    Raises:
        IoError: ``io.disk_full``, ``io.permission_denied`` or ``io.failed`` naming the file.
    """
    digest = hashlib.sha256()
    size = 0
    with atomic_writer(path) as fh:
        for chunk in chunks:
            if isinstance(chunk, np.ndarray):
                flat = np.ascontiguousarray(chunk).reshape(-1).view(np.uint8)
                view: bytes | memoryview = memoryview(flat)  # type: ignore[arg-type]  # ndarray is a buffer
            else:
                view = chunk
            digest.update(view)
            fh.write(view)
            size += len(view)
    return size, digest.hexdigest()


def sha256_file(path: Path) -> tuple[bytes | mmap.mmap, str]:
    """Map (or, for an empty file, read) a whole file and return ``(contents, sha256 hex)``.

    Hashing a read-only memory map skips the copy a ``read()`` makes (about half the cost of
    reading and hashing a large index). The map stays valid while anything references it.
    """
    with open(path, "rb") as fh:
        try:
            data: bytes | mmap.mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            data = fh.read()
    return data, hashlib.sha256(data).hexdigest()


def sha256_stream(path: Path) -> tuple[int, str]:
    """``(size, sha256 hex)`` of a file without holding it in memory."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 22)
            if not block:
                break
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One derived file of the manifest."""

    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Any) -> FileEntry:
        """Parse (raises ``ValueError``/``KeyError``/``TypeError`` on a malformed entry)."""
        name, size, sha = data["name"], data["size"], data["sha256"]
        if not isinstance(name, str) or "/" in name or not isinstance(size, int) or not isinstance(sha, str):
            raise ValueError("bad file entry")
        return cls(name, size, sha)


@dataclass(frozen=True, slots=True)
class Manifest:
    """The derived state: which files, which slots they cover, under which index parameters."""

    generation: int
    index: FileEntry
    vectors: FileEntry | None
    count: int
    max_label: int
    tier: str
    params: dict[str, Any]
    config: dict[str, Any]
    seq: int | None = None
    deletes: int | None = None
    live: int | None = None

    def to_json(self) -> bytes:
        """Serialized manifest."""
        body = {
            "format": FORMAT_VERSION,
            "generation": self.generation,
            "index": self.index.to_dict(),
            "vectors": None if self.vectors is None else self.vectors.to_dict(),
            "count": self.count,
            "max_label": self.max_label,
            "tier": self.tier,
            "params": self.params,
            "config": self.config,
            "seq": self.seq,
            "deletes": self.deletes,
            "live": self.live,
        }
        return json.dumps(body, indent=1, sort_keys=True).encode()


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest, or None when it is missing or unreadable (the index is then rebuilt)."""
    path = directory / MANIFEST
    try:
        body = json.loads(path.read_bytes())
        if body.get("format") != FORMAT_VERSION:
            return None
        vectors = body.get("vectors")
        return Manifest(
            generation=int(body["generation"]),
            index=FileEntry.from_dict(body["index"]),
            vectors=None if vectors is None else FileEntry.from_dict(vectors),
            count=int(body["count"]),
            max_label=int(body["max_label"]),
            tier=str(body["tier"]),
            params=dict(body["params"]),
            config=dict(body["config"]),
            seq=_opt_int(body.get("seq")),
            deletes=_opt_int(body.get("deletes")),
            live=_opt_int(body.get("live")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]  # ValueError/TypeError caught by the caller


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically."""
    write_file(directory / MANIFEST, [manifest.to_json()])


def encode_index_bundle(header: dict[str, Any], labels: np.ndarray, faiss_bytes: np.ndarray) -> list[Any]:
    """The chunks of an index bundle: magic, header length, JSON header, labels, faiss bytes."""
    head = json.dumps(header, sort_keys=True).encode()
    return [
        INDEX_MAGIC + struct.pack("<I", len(head)),
        head,
        np.ascontiguousarray(labels, dtype="<i8"),
        np.ascontiguousarray(faiss_bytes, dtype=np.uint8),
    ]


def decode_index_bundle(data: bytes | mmap.mmap) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Split verified bundle bytes into ``(header, labels, faiss bytes)``.

    Raises:
        ValueError: the bundle is structurally invalid.
    """
    if len(data) < 12 or data[:8] != INDEX_MAGIC:
        raise ValueError("bad index magic")
    (head_len,) = struct.unpack("<I", data[8:12])
    head_end = 12 + head_len
    header = json.loads(data[12:head_end])
    count = int(header["count"])
    labels_end = head_end + 8 * count
    if count < 0 or labels_end > len(data):
        raise ValueError("bad index header")
    labels = np.frombuffer(data, dtype="<i8", count=count, offset=head_end).astype(np.int64)
    blob = np.frombuffer(data, dtype=np.uint8, offset=labels_end)
    return header, labels, blob


def vectors_chunks(vectors: np.ndarray) -> list[Any]:
    """The chunks of a vectors file: a 64-byte header, then little-endian float32 rows."""
    count, dims = vectors.shape
    header = VECTORS_MAGIC + struct.pack("<QI", count, dims)
    header += b"\0" * (VECTORS_HEADER - len(header))
    return [header, np.ascontiguousarray(vectors, dtype="<f4")]


def map_vectors(path: Path, count: int, dims: int) -> np.ndarray:
    """Memory-map a verified vectors file read-only.

    Raises:
        ValueError: the header does not describe ``count`` x ``dims`` float32 rows.
    """
    with open(path, "rb") as fh:
        head = fh.read(VECTORS_HEADER)
    if len(head) != VECTORS_HEADER or head[:8] != VECTORS_MAGIC:
        raise ValueError("bad vectors magic")
    got_count, got_dims = struct.unpack("<QI", head[8:20])
    if got_count != count or got_dims != dims:
        raise ValueError("vectors header mismatch")
    if count == 0:
        return np.empty((0, dims), dtype=np.float32)
    return np.memmap(path, dtype="<f4", mode="r", offset=VECTORS_HEADER, shape=(count, dims))


class StoreLock:
    """An exclusive ``flock`` on ``<dir>/LOCK`` held while the store is open.

    The kernel drops it when the process dies, so a crashed writer never blocks a reopen.
    """

    __slots__ = ("_fh", "path")

    def __init__(self, directory: Path) -> None:
        import fcntl

        self.path = directory / LOCK_FILE
        fh: IO[bytes] = open(self.path, "a+b")  # noqa: SIM115 - held open for the store's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise VectorError(
                f"the store at {directory} is already open (in this or another process)",
                operation="open",
                code=_codes.LOCKED,
                remediation=["close the other store first; a store has one writer process at a time"],
            ) from exc
        self._fh: IO[bytes] | None = fh

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def cleanup(directory: Path, keep: set[str]) -> None:
    """Remove temporary and unreferenced derived files left by a crash."""
    for entry in directory.iterdir():
        name = entry.name
        stale_tmp = name.endswith(".tmp")
        derived = name.startswith(("index-", "vectors-")) and name.endswith(".bin")
        if stale_tmp or (derived and name not in keep):
            with contextlib.suppress(OSError):
                entry.unlink()
