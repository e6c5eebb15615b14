"""Bounded reads of configuration and secret files: regular files only, with a size limit.

A FIFO, a device (``/dev/zero``), a directory or a file larger than the limit is refused with a
``ConfigError`` before anything is read, so that a configuration path can neither hang the
loader nor exhaust its memory. The file is opened with ``O_NONBLOCK`` (opening a FIFO without a
writer returns at once) and checked with ``fstat`` on the opened descriptor.
"""

from __future__ import annotations

import os
import stat
from typing import Final

from llm_infra.config import _codes as codes
from llm_infra.errors import ConfigError

MAX_CONFIG_FILE_BYTES: Final = 16 * 1024 * 1024
"""Largest configuration file read (16 MiB)."""

MAX_SECRET_FILE_BYTES: Final = 1024 * 1024
"""Largest ``${file:...}`` secret read (1 MiB)."""

_CHUNK = 64 * 1024


def read_bounded(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises:
        FileNotFoundError: the file does not exist (the caller decides whether that is an error).
        OSError: it cannot be opened or read.
        ConfigError: ``config.not_a_regular_file`` (FIFO, device, directory, socket) or
            ``config.file_too_large``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"{what} {path} is not a regular file",
                code=codes.NOT_A_REGULAR_FILE,
                source=path,
                context={"path": path},
                remediation=["point the configuration at a regular file"],
            )
        if info.st_size > limit:
            _too_large(path, limit, what)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # the file grew while we read it
                _too_large(path, limit, what)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_large(path: str, limit: int, what: str) -> None:
    raise ConfigError(
        f"{what} {path} is larger than {limit} bytes",
        code=codes.FILE_TOO_LARGE,
        source=path,
        context={"path": path, "limit": limit},
    )
