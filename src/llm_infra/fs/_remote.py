"""Local-or-remote dispatch: ``s3://``, ``gs://``, ``memory://``... go through fsspec (``fs-remote``)."""

from __future__ import annotations

import errno as errno_mod
import os
import re
from collections.abc import Iterator
from typing import Any

from llm_infra._internal._lazy import require
from llm_infra.errors import IoError
from llm_infra.fs import _codes
from llm_infra.fs._atomic import io_error

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

PathLike = str | os.PathLike[str]


def is_remote(path: PathLike) -> bool:
    """Whether ``path`` is a URL (``scheme://...``) handled by fsspec rather than the local OS."""
    return isinstance(path, str) and bool(_URL.match(path)) and not path.startswith("file://")


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it (``ConfigError`` without fsspec)."""
    fsspec = require("fsspec", "fs-remote")
    fs, inner = fsspec.core.url_to_fs(url)
    return fs, inner


def remote_error(exc: BaseException, operation: str, path: str) -> IoError:
    """Map an fsspec/backend failure to ``IoError`` with the operation and path."""
    if isinstance(exc, FileNotFoundError):
        return IoError(
            f"cannot {operation} {path}: no such file",
            operation=operation,
            path=path,
            errno=errno_mod.ENOENT,
            code=_codes.NOT_FOUND,
        )
    if isinstance(exc, OSError):
        return io_error(exc, operation, path)
    return IoError(
        f"cannot {operation} {path}: {type(exc).__name__}", operation=operation, path=path, code=_codes.FAILED
    )


def read_bytes(path: PathLike) -> bytes:
    """The content of a local file or remote object.

    Raises:
        IoError: ``fs.not_found`` when missing, ``io.*`` otherwise, naming the path.
    """
    if is_remote(path):
        url = str(path)
        fs, inner = filesystem(url)
        try:
            data: bytes = fs.cat_file(inner)
        except (OSError, ValueError) as exc:
            raise remote_error(exc, "read", url) from exc
        return data
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError as exc:
        raise remote_error(exc, "read", os.fspath(path)) from exc
    except OSError as exc:
        raise io_error(exc, "read", path) from exc


def write_bytes_remote(url: str, data: bytes) -> int:
    """Put ``data`` at ``url`` (object stores replace objects atomically)."""
    fs, inner = filesystem(url)
    try:
        parent = inner.rsplit("/", 1)[0] if "/" in inner else ""
        if parent:
            fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(inner, data)
    except (OSError, ValueError) as exc:
        raise remote_error(exc, "write", url) from exc
    return len(data)


def iter_remote(url: str, pattern: str | None) -> Iterator[str]:
    """Files under ``url`` (matching the glob ``pattern`` when given), as URLs."""
    fs, inner = filesystem(url)
    try:
        protocol = url.split("://", 1)[0]
        if pattern is None:
            names = sorted(fs.find(inner))
        else:
            names = sorted(p for p in fs.glob(f"{inner.rstrip('/')}/{pattern}") if fs.isfile(p))
    except (OSError, ValueError) as exc:
        raise remote_error(exc, "list", url) from exc
    for name in names:
        yield f"{protocol}://{name.lstrip('/')}"
