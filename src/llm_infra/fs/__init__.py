"""Filesystem primitives: atomic writes, safe paths, temp files, locks, checksums, JSON files.

- ``atomic_write`` / ``atomic_writer``: readers see the old or the new content, never a mix
  (same-directory temp with ``O_EXCL|O_NOFOLLOW``, fsync, rename, fsync of the directory).
- ``safe_join(root, *parts)``: untrusted parts never leave ``root`` (``..``, absolute parts,
  NUL, backslashes, Unicode look-alikes and symlink escapes are refused).
- ``TempDir`` / ``TempFile``, ``FileLock`` (cross-process), ``checksum_file`` and
  ``ChecksummedFile`` (sidecar checksum verified on read), ``read_json`` / ``write_json``,
  ``walk`` / ``glob``.
- ``s3://``, ``gs://``, ``memory://``... URLs go through fsspec (extra ``fs-remote``) with the
  same ``IoError`` mapping.

Example::

    >>> import tempfile, pathlib
    >>> from llm_infra.fs import atomic_write
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "head.json"
    >>> atomic_write(target, '{"count": 1}', mode=0o600)
    12
"""

from llm_infra.fs._atomic import atomic_write as atomic_write
from llm_infra.fs._atomic import atomic_writer as atomic_writer
from llm_infra.fs._atomic import fsync_dir as fsync_dir
from llm_infra.fs._checksum import ChecksummedFile as ChecksummedFile
from llm_infra.fs._checksum import checksum_file as checksum_file
from llm_infra.fs._json import read_json as read_json
from llm_infra.fs._json import write_json as write_json
from llm_infra.fs._lock import FileLock as FileLock
from llm_infra.fs._paths import safe_join as safe_join
from llm_infra.fs._paths import safe_join_url as safe_join_url
from llm_infra.fs._remote import is_remote as is_remote
from llm_infra.fs._remote import read_bytes as read_bytes
from llm_infra.fs._temp import TempDir as TempDir
from llm_infra.fs._temp import TempFile as TempFile
from llm_infra.fs._walk import glob as glob
from llm_infra.fs._walk import walk as walk

__all__ = [
    "ChecksummedFile",
    "FileLock",
    "TempDir",
    "TempFile",
    "atomic_write",
    "atomic_writer",
    "checksum_file",
    "fsync_dir",
    "glob",
    "is_remote",
    "read_bytes",
    "read_json",
    "safe_join",
    "safe_join_url",
    "walk",
    "write_json",
]
