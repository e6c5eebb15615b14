"""``walk`` and ``glob``: list files under a root without following symlinks out of it."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

from llm_infra.fs._atomic import io_error
from llm_infra.fs._remote import PathLike, is_remote, iter_remote


def walk(root: PathLike, *, pattern: str | None = None, include_hidden: bool = False) -> Iterator[Path | str]:
    """Yield the files under ``root``, sorted per directory, optionally matching ``pattern``.

    Symlinked directories are not entered and symlinks to files outside ``root`` are skipped.
    ``pattern`` is an ``fnmatch`` pattern on the file name (``*.json``). Hidden names (leading
    dot) are skipped unless ``include_hidden``. Remote roots yield URLs.

    Raises:
        IoError: ``root`` cannot be listed.
    """
    if is_remote(root):
        for url in iter_remote(str(root), None):
            name = url.rsplit("/", 1)[-1]
            if (pattern is None or fnmatch.fnmatch(name, pattern)) and (
                include_hidden or not name.startswith(".")
            ):
                yield url
        return
    base = Path(os.fspath(root)).resolve()
    if not base.is_dir():
        raise io_error(NotADirectoryError(20, "not a directory"), "walk", base)
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(base, onerror=errors.append, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if include_hidden or not d.startswith("."))
        for name in sorted(filenames):
            if not include_hidden and name.startswith("."):
                continue
            if pattern is not None and not fnmatch.fnmatch(name, pattern):
                continue
            path = Path(dirpath, name)
            if path.is_symlink():
                target = path.resolve()
                if base not in target.parents:
                    continue
            yield path
    if errors:
        raise io_error(errors[0], "walk", errors[0].filename or base)


def glob(root: PathLike, pattern: str, *, include_hidden: bool = False) -> list[Path | str]:
    """The files under ``root`` matching the glob ``pattern`` (``**/*.json``), sorted, inside ``root``.

    Hidden names (a part with a leading dot) are skipped unless ``include_hidden``; files that
    resolve outside ``root`` through a symlink are skipped.

    Raises:
        IoError: ``root`` cannot be listed.
    """
    if is_remote(root):
        return list(iter_remote(str(root), pattern))
    base = Path(os.fspath(root)).resolve()
    out: list[Path | str] = []
    try:
        for path in base.glob(pattern):
            hidden = any(part.startswith(".") for part in path.relative_to(base).parts)
            if (
                (include_hidden or not hidden)
                and path.is_file()
                and (path.resolve() == base or base in path.resolve().parents)
            ):
                out.append(path)
    except OSError as exc:
        raise io_error(exc, "glob", base) from exc
    return sorted(out, key=str)
