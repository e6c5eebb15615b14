"""The one atomic file writer of the layer: same-directory temp, fsync, rename, fsync the directory.

The temporary file gets a random name beside the target and is created with
``O_CREAT | O_EXCL | O_NOFOLLOW``, so a file or symlink planted at a predictable temp name cannot
redirect the write. The target keeps its permission bits (or gets ``mode``); readers see either
the old or the new content, never a mix, and a crash leaves at most a stray ``.*.tmp`` file.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

from llm_infra.errors import IoError

_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_FULL = (errno_mod.ENOSPC, getattr(errno_mod, "EDQUOT", errno_mod.ENOSPC))


def io_error(exc: OSError, operation: str, path: str | os.PathLike[str]) -> IoError:
    """The ``IoError`` for ``exc`` raised by ``operation`` on ``path`` (disk full named as such)."""
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return IoError(
            f"cannot {operation} {os.fspath(path)}: the disk is full ({reason})",
            operation=operation,
            path=os.fspath(path),
            errno=exc.errno,
            code="io.disk_full",
            remediation=["free space on the volume, then retry"],
        )
    code = "io.permission_denied" if exc.errno in (errno_mod.EACCES, errno_mod.EPERM) else "io.failed"
    return IoError(
        f"cannot {operation} {os.fspath(path)}: {reason}",
        operation=operation,
        path=os.fspath(path),
        errno=exc.errno,
        code=code,
    )


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so that the renames and creations in it are durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _target_mode(path: Path, mode: int | None) -> int | None:
    if mode is not None:
        return mode
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


@overload
def atomic_writer(
    path: str | os.PathLike[str],
    *,
    text: Literal[False] = False,
    mode: int | None = None,
    fsync: bool = True,
    encoding: str = "utf-8",
) -> contextlib.AbstractContextManager[IO[bytes]]: ...


@overload
def atomic_writer(
    path: str | os.PathLike[str],
    *,
    text: Literal[True],
    mode: int | None = None,
    fsync: bool = True,
    encoding: str = "utf-8",
) -> contextlib.AbstractContextManager[IO[str]]: ...


def atomic_writer(
    path: str | os.PathLike[str],
    *,
    text: bool = False,
    mode: int | None = None,
    fsync: bool = True,
    encoding: str = "utf-8",
) -> contextlib.AbstractContextManager[IO[bytes]] | contextlib.AbstractContextManager[IO[str]]:
    """A file to write that replaces ``path`` atomically when the ``with`` block ends without error.

    Args:
        path: the target file.
        text: yield a text file (``encoding``) instead of a binary one.
        mode: permission bits of the new file; by default those of the existing target, or
            ``0o666`` less the umask for a new one.
        fsync: fsync the file before the rename and the directory after it (on by default).
        encoding: the text encoding when ``text`` is true.

    Raises:
        IoError: ``io.disk_full``, ``io.permission_denied`` or ``io.failed`` naming the path; the
            target is untouched and the temp file removed.

    Example::

        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "settings.json"
        >>> with atomic_writer(target, text=True) as fh:
        ...     _ = fh.write('{"ok": true}')
        >>> target.read_text()
        '{"ok": true}'
    """
    return _atomic_writer(Path(path), text=text, mode=mode, fsync=fsync, encoding=encoding)


@contextlib.contextmanager
def _atomic_writer(
    path: Path, *, text: bool, mode: int | None, fsync: bool, encoding: str
) -> Iterator[IO[Any]]:
    keep_mode = _target_mode(path, mode)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, _TMP_FLAGS, 0o666 if keep_mode is None else 0o600)
    except OSError as exc:
        raise io_error(exc, "write", path) from exc
    done = False
    try:
        if keep_mode is not None:
            os.fchmod(fd, keep_mode)
        fh: IO[bytes] | IO[str] = (
            os.fdopen(fd, "w", encoding=encoding, newline="") if text else os.fdopen(fd, "wb")
        )
        with fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        done = True
        if fsync:
            fsync_dir(path.parent)
    except OSError as exc:
        raise io_error(exc, "write", path) from exc
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview | str | Iterable[bytes | bytearray | memoryview],
    *,
    mode: int | None = None,
    fsync: bool = True,
    encoding: str = "utf-8",
) -> int:
    """Replace ``path`` with ``data`` atomically; return the number of bytes written.

    ``data`` may be bytes, a ``str`` (encoded with ``encoding``) or an iterable of byte chunks
    (buffers such as numpy arrays viewed as bytes are written without a copy). See
    ``atomic_writer`` for the guarantees, ``mode`` and errors.

    Example::

        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "state.bin"
        >>> atomic_write(target, b"v1")
        2
        >>> target.read_bytes()
        b'v1'
    """
    if isinstance(data, str):
        data = data.encode(encoding)
    chunks: Iterable[bytes | bytearray | memoryview] = (
        (data,) if isinstance(data, bytes | bytearray | memoryview) else data
    )
    size = 0
    with atomic_writer(path, mode=mode, fsync=fsync) as fh:
        for chunk in chunks:
            size += fh.write(chunk)
    return size


__all__ = ["atomic_write", "atomic_writer", "fsync_dir", "io_error"]
