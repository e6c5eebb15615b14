"""``read_json`` / ``write_json``: JSON files through ``llm_infra.json``, written atomically."""

from __future__ import annotations

from typing import Any

from llm_infra import json as _json
from llm_infra.errors import IoError, SerializationError
from llm_infra.fs import _codes
from llm_infra.fs._atomic import atomic_write
from llm_infra.fs._remote import PathLike, is_remote, read_bytes, write_bytes_remote

_MISSING: Any = object()


def read_json(path: PathLike, *, default: Any = _MISSING) -> Any:
    """Decode the JSON file at ``path`` (local or fsspec URL).

    Args:
        default: returned when the file does not exist (otherwise ``fs.not_found``).

    Raises:
        IoError: unreadable or missing file.
        SerializationError: malformed JSON (with line/column and the path).
    """
    try:
        data = read_bytes(path)
    except IoError as exc:
        if exc.code == _codes.NOT_FOUND and default is not _MISSING:
            return default
        raise
    try:
        return _json.loads(data)
    except SerializationError as exc:
        exc.path = str(path)
        raise


def write_json(
    path: PathLike, value: Any, *, indent: bool = False, sort_keys: bool = False, mode: int | None = None
) -> int:
    """Encode ``value`` and replace ``path`` with it atomically; return the bytes written.

    Example::

        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "state.json")
        >>> write_json(target, {"count": 1})
        11
        >>> read_json(target)
        {'count': 1}
    """
    data = _json.dumps(value, indent=indent, sort_keys=sort_keys)
    if is_remote(path):
        return write_bytes_remote(str(path), data)
    return atomic_write(path, data, mode=mode)
