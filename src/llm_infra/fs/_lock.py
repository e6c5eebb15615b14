"""``FileLock``: an exclusive lock shared across processes (``fcntl.flock`` on a lock file)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self, final

from llm_infra.errors import IoError
from llm_infra.fs import _codes
from llm_infra.fs._atomic import io_error

_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@final
class FileLock:
    """An exclusive advisory lock on ``path``, held by at most one process (and one holder) at a time.

    The kernel releases it when the holder dies, so a crashed process never leaves it stuck.
    Two ``FileLock`` objects on the same path exclude each other even within one process; one
    object is not re-entrant.

    Args:
        path: the lock file (created ``0o600`` when missing; its content is unused).
        timeout: seconds ``acquire`` waits (None: forever, 0: try once).
        poll: seconds between attempts while waiting.

    Raises:
        IoError: ``fs.lock_timeout`` (retryable) when the timeout passes; ``io.*`` when the lock
            file cannot be opened.

    Example::

        >>> import tempfile, os
        >>> with FileLock(os.path.join(tempfile.mkdtemp(), "index.lock"), timeout=5):
        ...     pass
    """

    __slots__ = ("_fd", "_guard", "path", "poll", "timeout")

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float | None = None, poll: float = 0.05
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self._fd: int | None = None
        self._guard = threading.Lock()

    @property
    def locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock, waiting up to ``timeout`` seconds (default: the constructor's)."""
        wait = self.timeout if timeout is None else timeout
        with self._guard:
            if self._fd is not None:
                raise IoError(
                    f"FileLock {self.path} is already held by this object (not re-entrant)",
                    operation="lock",
                    path=str(self.path),
                    code=_codes.FAILED,
                )
            try:
                fd = os.open(self.path, _FLAGS, 0o600)
            except OSError as exc:
                raise io_error(exc, "lock", self.path) from exc
            deadline = None if wait is None else time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        os.close(fd)
                        raise IoError(
                            f"could not lock {self.path} within {wait:g} s: another holder has it",
                            operation="lock",
                            path=str(self.path),
                            code=_codes.LOCK_TIMEOUT,
                            retryable=True,
                        ) from None
                    time.sleep(self.poll)
                    continue
                except OSError as exc:
                    os.close(fd)
                    raise io_error(exc, "lock", self.path) from exc
                self._fd = fd
                return

    def release(self) -> None:
        """Release the lock (no-op when not held)."""
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
