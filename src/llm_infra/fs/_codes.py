"""Stable error codes of ``llm_infra.fs`` (``io.*`` for operating-system failures, ``fs.*`` for the rest)."""

from __future__ import annotations

from typing import Final

# Operating-system failures keep the generic ``io.*`` codes, defined (and described) in errors.
from llm_infra.errors._codes import IO_DISK_FULL as DISK_FULL
from llm_infra.errors._codes import IO_FAILED as FAILED
from llm_infra.errors._codes import IO_PERMISSION_DENIED as PERMISSION_DENIED

PATH_TRAVERSAL: Final = "fs.path_traversal"
ABSOLUTE_PATH: Final = "fs.absolute_path"
INVALID_PATH: Final = "fs.invalid_path"
SYMLINK_ESCAPE: Final = "fs.symlink_escape"
LOCK_TIMEOUT: Final = "fs.lock_timeout"
CHECKSUM_MISMATCH: Final = "fs.checksum_mismatch"
CHECKSUM_MISSING: Final = "fs.checksum_missing"
NOT_FOUND: Final = "fs.not_found"

# The io.* codes are described with the generic codes in llm_infra.errors._codes.
DESCRIPTIONS: Final[dict[str, str]] = {
    PATH_TRAVERSAL: "a path part climbs out of the root ('..', or a look-alike of it)",
    ABSOLUTE_PATH: "a path part is absolute (/x, \\x, C:, //host) where a relative one is required",
    INVALID_PATH: "a path part is empty, not a string, or holds a NUL byte or a backslash",
    SYMLINK_ESCAPE: "the joined path resolves, through a symlink, to a place outside the root",
    LOCK_TIMEOUT: "another process held the file lock past the timeout (retryable)",
    CHECKSUM_MISMATCH: "a file's content does not match its recorded checksum (corrupt or torn write)",
    CHECKSUM_MISSING: "a checksummed file has no sidecar checksum",
    NOT_FOUND: "the file or directory does not exist",
}

__all__ = [
    "ABSOLUTE_PATH",
    "CHECKSUM_MISMATCH",
    "CHECKSUM_MISSING",
    "DESCRIPTIONS",
    "DISK_FULL",
    "FAILED",
    "INVALID_PATH",
    "LOCK_TIMEOUT",
    "NOT_FOUND",
    "PATH_TRAVERSAL",
    "PERMISSION_DENIED",
    "SYMLINK_ESCAPE",
]
