"""Filesystem primitives: atomic writes (the one writer every subpackage uses).

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

__all__ = ["atomic_write", "atomic_writer", "fsync_dir"]
