"""``TempDir`` and ``TempFile``: private temporary paths removed when the block ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self, final

from llm_infra.fs._atomic import io_error


@final
class TempDir:
    """A fresh ``0o700`` directory, removed with its content on exit (or by ``cleanup()``).

    Example::

        >>> with TempDir(prefix="job-") as path:
        ...     (path / "x").write_text("hi")
        2
    """

    __slots__ = ("_dir", "_prefix", "path")

    def __init__(self, *, prefix: str = "llm-infra-", dir: str | os.PathLike[str] | None = None) -> None:
        self._prefix = prefix
        self._dir = dir
        self.path: Path | None = None

    def __enter__(self) -> Path:
        try:
            self.path = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._dir))
        except OSError as exc:
            raise io_error(exc, "create temporary directory in", self._dir or tempfile.gettempdir()) from exc
        return self.path

    def cleanup(self) -> None:
        """Remove the directory now (idempotent)."""
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


@final
class TempFile:
    """A fresh ``0o600`` file created with ``O_EXCL`` (no clobbering), removed on exit.

    ``keep()`` inside the block keeps it (e.g. after renaming it into place yourself).

    Example::

        >>> with TempFile(suffix=".json") as path:
        ...     _ = path.write_text("{}")
    """

    __slots__ = ("_dir", "_keep", "_prefix", "_suffix", "path")

    def __init__(
        self, *, suffix: str = "", prefix: str = "llm-infra-", dir: str | os.PathLike[str] | None = None
    ) -> None:
        self._suffix, self._prefix, self._dir = suffix, prefix, dir
        self._keep = False
        self.path: Path | None = None

    def __enter__(self) -> Path:
        try:
            fd, name = tempfile.mkstemp(suffix=self._suffix, prefix=self._prefix, dir=self._dir)
        except OSError as exc:
            raise io_error(exc, "create temporary file in", self._dir or tempfile.gettempdir()) from exc
        os.close(fd)
        self.path = Path(name)
        return self.path

    def keep(self) -> Self:
        """Do not delete the file on exit."""
        self._keep = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.path is not None and not self._keep:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.path = None
