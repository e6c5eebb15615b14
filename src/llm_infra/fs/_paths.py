"""``safe_join``: join untrusted path parts under a root without ever leaving it."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

from llm_infra.errors import ValidationError
from llm_infra.fs import _codes
from llm_infra.fs._remote import PathLike, is_remote

_DRIVE = re.compile(r"^[A-Za-z]:")


def _reject(part: object, code: str, why: str) -> ValidationError:
    shown = repr(part)[:120]
    return ValidationError(
        f"unsafe path part {shown}: {why}",
        field="path",
        expected="a relative path inside the root",
        actual=shown,
        code=code,
    )


def _components(part: object) -> list[str]:
    if isinstance(part, os.PathLike):
        part = os.fspath(part)
    if not isinstance(part, str):
        raise _reject(part, _codes.INVALID_PATH, "path parts must be str or os.PathLike")
    if "\x00" in part:
        raise _reject(part, _codes.INVALID_PATH, "it contains a NUL byte")
    if part.startswith(("/", "\\")) or _DRIVE.match(part):
        raise _reject(part, _codes.ABSOLUTE_PATH, "absolute paths are not allowed")
    if "\\" in part:
        raise _reject(part, _codes.INVALID_PATH, "backslashes are not allowed (Windows separators)")
    out: list[str] = []
    for comp in part.split("/"):
        folded = unicodedata.normalize("NFKC", comp)
        if folded in ("..",) or (folded != comp and ("/" in folded or "\\" in folded or folded == ".")):
            raise _reject(part, _codes.PATH_TRAVERSAL, "it climbs out of the root")
        if comp in ("", "."):
            continue
        out.append(comp)
    return out


def safe_join(root: PathLike, *parts: PathLike) -> Path:
    """Join ``parts`` under ``root`` and return the result, guaranteed to stay inside ``root``.

    Rejected (``ValidationError``): NUL bytes and backslashes (``fs.invalid_path``), absolute
    parts such as ``/x``, ``C:\\x``, ``\\\\host`` (``fs.absolute_path``), ``..`` and Unicode
    look-alikes that normalise to it (``fs.path_traversal``), and a result that resolves through
    a symlink to a place outside the resolved root (``fs.symlink_escape``). Percent-encodings are
    not decoded: ``%2e%2e`` is an ordinary file name. For remote roots (``s3://...``) use
    ``safe_join_url``.

    The check is made when called: a symlink created later can still redirect an open (open
    with ``O_NOFOLLOW`` where that matters).

    Example::

        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> safe_join(root, "uploads", "a.txt").name
        'a.txt'
    """
    if is_remote(root):
        raise _reject(root, _codes.INVALID_PATH, "use safe_join_url for remote roots")
    comps: list[str] = []
    for part in parts:
        comps.extend(_components(part))
    base = Path(os.fspath(root)).resolve()
    joined = base.joinpath(*comps)
    resolved = joined.resolve()
    if resolved != base and base not in resolved.parents:
        raise _reject(
            "/".join(comps), _codes.SYMLINK_ESCAPE, "it resolves outside the root through a symlink"
        )
    return joined


def safe_join_url(root: str, *parts: PathLike) -> str:
    """``safe_join`` for remote roots (``s3://bucket/prefix``): the same checks, minus symlinks."""
    comps: list[str] = []
    for part in parts:
        comps.extend(_components(part))
    joined = PurePosixPath(*comps).as_posix() if comps else ""
    return f"{root.rstrip('/')}/{joined}" if joined else root
