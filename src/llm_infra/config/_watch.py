"""Hot reload: watch the loader's files, reload, validate, swap the snapshot atomically, notify."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from llm_infra._internal._attrs import readonly
from llm_infra._internal._lazy import require
from llm_infra.config import _codes as codes
from llm_infra.config._config import Config
from llm_infra.errors import ConfigError

if TYPE_CHECKING:
    import anyio

    from llm_infra.config._loader import ConfigLoader

logger = logging.getLogger("llm_infra.config")

_ARM_TIMEOUT_MS = 250
"""How long the file watcher waits before reporting "no change" (and, the first time, "armed")."""


@final
@dataclass(frozen=True, slots=True)
class ConfigReload:
    """A successful reload: the previous and the new snapshot and the keys that differ.

    Attributes:
        old: the configuration before the reload.
        new: the configuration now current.
        changed: dotted names of values added, removed or changed.

    .. versionadded:: 0.1.0
    """

    old: Config
    new: Config
    changed: frozenset[str]

    def affects(self, prefix: str) -> bool:
        """True when a changed key is ``prefix`` or lies under it (``change.affects("vector")``)."""
        return any(name == prefix or name.startswith(prefix + ".") for name in self.changed)

    def __repr__(self) -> str:
        return f"ConfigReload(changed={sorted(self.changed)!r})"


def _call_each(callbacks: list[Any], value: object, failure: str) -> None:
    """Call every callback with ``value``; one that raises is logged and does not stop the rest."""
    for callback in tuple(callbacks):
        try:
            callback(value)
        except Exception:
            logger.exception(failure)


@final
class ConfigWatcher:
    """Keeps a current ``Config`` and replaces it when the loader's files change.

    A reload loads every source again and validates the result (declared key types, then the
    optional ``validate`` callback). When valid and different it becomes ``current`` in one
    reference assignment, so a reader that took ``watcher.current`` holds a complete snapshot,
    never a half-applied one; then subscribers get a ``ConfigReload``. When invalid, the last
    good snapshot stays, ``last_error`` is set, ``on_error`` handlers are called and a warning
    is logged (with the file, line and column; secrets masked).

    Files are watched through their directories (watchfiles, not recursive), so editors that
    save by writing a temporary file and renaming it over the original are seen, as are
    Kubernetes ConfigMap symlink swaps (``..data``). Use it from a thread
    (``start``/``stop`` or ``with watcher:``) or from async code (``await watcher.arun()`` or
    ``async for change in watcher.achanges()``); ``reload()`` can also be called directly.

    Args:
        loader: the sources to reload.
        on_change: called with each ``ConfigReload`` (more with ``subscribe``).
        on_error: called with the ``ConfigError`` of a failed reload.
        debounce: seconds to wait for a burst of file events to settle before reloading.
        validate: extra check on each candidate config (e.g. ``lambda c: c.bind(Model, "vector")``);
            raising rejects the reload.
        force_polling: poll instead of using OS notifications (network file systems).
        poll_delay: polling interval in seconds when polling.

    Raises:
        ConfigError: when the initial load is invalid (there is no last good config yet).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        loader: ConfigLoader,
        *,
        on_change: Callable[[ConfigReload], object] | None = None,
        on_error: Callable[[ConfigError], object] | None = None,
        debounce: float = 0.2,
        validate: Callable[[Config], object] | None = None,
        force_polling: bool | None = None,
        poll_delay: float = 0.3,
    ) -> None:
        if debounce < 0 or poll_delay <= 0:
            raise ConfigError("debounce must be >= 0 and poll_delay > 0", code=codes.INVALID_OPTION)
        # watchfiles is the optional "watch" extra: without it, say which pip line installs it.
        self._watchfiles: Any = require("watchfiles", "watch")
        self._loader = loader
        self._validate = validate
        self._debounce_ms = int(debounce * 1000)
        self._poll_delay_ms = max(1, int(poll_delay * 1000))
        self._force_polling = force_polling
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[ConfigReload], object]] = [on_change] if on_change else []
        self._error_handlers: list[Callable[[ConfigError], object]] = [on_error] if on_error else []
        self._last_error: ConfigError | None = None
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._current = self._candidate()

    # ------------------------------------------------------------------ state

    current: readonly[Config] = readonly(
        "_current", "The current snapshot (take it once per unit of work and read from it)."
    )

    last_error: readonly[ConfigError | None] = readonly(
        "_last_error", "The error of the most recent reload, or None when it succeeded."
    )

    generation: readonly[int] = readonly("_generation", "How many times the snapshot has been replaced.")

    loader: readonly[ConfigLoader] = readonly("_loader", "The loader reloaded on changes.")

    def subscribe(self, callback: Callable[[ConfigReload], object]) -> Callable[[], None]:
        """Call ``callback`` with each change; returns a function that unsubscribes it."""
        return self._add_callback(self._subscribers, callback)

    def on_error(self, callback: Callable[[ConfigError], object]) -> Callable[[], None]:
        """Call ``callback`` with the error of each failed reload; returns an unsubscribe function."""
        return self._add_callback(self._error_handlers, callback)

    def _add_callback(self, callbacks: list[Any], callback: Any) -> Callable[[], None]:
        with self._lock:
            callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ reloading

    def _candidate(self) -> Config:
        config = self._loader.load()
        if self._validate is not None:
            try:
                self._validate(config)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(
                    f"configuration rejected by the validate callback: {type(exc).__name__}: {exc}",
                    code=codes.VALIDATION,
                ) from exc
        return config

    def reload(self) -> ConfigReload | None:
        """Load and validate now; swap and notify when valid and different.

        Returns:
            The change, or None when nothing changed or the new configuration was invalid (then
            ``last_error`` holds the error and the previous snapshot stays current).
        """
        with self._lock:
            old = self._current
            try:
                new = self._candidate()
            except ConfigError as exc:
                self._last_error = exc
                logger.warning(
                    "configuration reload failed; keeping the last good configuration: %s", exc.message
                )
                _call_each(self._error_handlers, exc, "a configuration error handler failed")
                return None
            self._last_error = None
            changed = old.changed_keys(new)
            if not changed:
                return None
            self._current = new
            self._generation += 1
            change = ConfigReload(old, new, changed)
            logger.info("configuration reloaded; changed keys: %s", ", ".join(sorted(changed)))
            _call_each(self._subscribers, change, "a configuration change subscriber failed")
            return change

    # ------------------------------------------------------------------ watching

    def _targets(self) -> tuple[list[str], frozenset[str]]:
        targets: set[str] = set()
        dirs: list[str] = []
        for path in self._loader.files:
            for candidate in {os.path.abspath(path), os.path.realpath(path)}:
                targets.add(candidate)
                directory = os.path.dirname(candidate)
                if directory not in dirs and os.path.isdir(directory):
                    dirs.append(directory)
        if not dirs:
            raise ConfigError(
                "nothing to watch: the loader has no file source in an existing directory",
                code=codes.NOTHING_TO_WATCH,
            )
        return dirs, frozenset(targets)

    def _watch_options(self, stop_event: Any) -> tuple[list[str], dict[str, Any]]:
        """The watched directories and the options shared by ``watchfiles.watch`` and ``awatch``."""
        dirs, targets = self._targets()
        # yield_on_timeout makes the watch yield (an empty set) once the OS watch is armed.
        options: dict[str, Any] = {
            "watch_filter": self._filter(targets),
            "debounce": self._debounce_ms,
            "step": 50,
            "stop_event": stop_event,
            "rust_timeout": _ARM_TIMEOUT_MS,
            "yield_on_timeout": True,
            "recursive": False,
            "force_polling": self._force_polling,
            "poll_delay_ms": self._poll_delay_ms,
        }
        return dirs, options

    def _filter(self, targets: frozenset[str]) -> Callable[[Any, str], bool]:
        def accept(_change: Any, path: str) -> bool:
            # "..data"-style names are the symlinks Kubernetes swaps to update a mounted ConfigMap.
            return os.path.abspath(path) in targets or os.path.basename(path).startswith("..")

        return accept

    def start(self) -> ConfigWatcher:
        """Watch the files from a daemon thread until ``stop()``; returns ``self``."""
        watchfiles = self._watchfiles

        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            stop = threading.Event()
            dirs, options = self._watch_options(stop)
            self._stop = stop
            ready = threading.Event()

            def run() -> None:
                # yield_on_timeout makes the generator yield (an empty set) once the OS watch is
                # armed, so start() returns only when no later change can be missed.
                try:
                    for changes in watchfiles.watch(*dirs, raise_interrupt=False, **options):
                        ready.set()
                        if changes:
                            self.reload()
                except Exception:
                    logger.exception("the configuration watcher stopped")
                finally:
                    ready.set()

            self._thread = threading.Thread(target=run, name="llm-infra-config-watcher", daemon=True)
            self._thread.start()
            ready.wait()
        # Catch up with any change made between the initial load and the watch being armed.
        self.reload()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the watching thread (waits up to ``timeout`` seconds for it)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ConfigWatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def achanges(self, stop_event: anyio.Event | None = None) -> AsyncGenerator[ConfigReload, None]:
        """Watch the files from async code, yielding each successful change.

        Ends when ``stop_event`` is set or the consumer stops iterating (use
        ``contextlib.aclosing`` when breaking out early).
        """
        watchfiles = self._watchfiles

        dirs, options = self._watch_options(stop_event)
        armed = False
        async for changes in watchfiles.awatch(*dirs, **options):
            if not changes and armed:
                continue
            # The first yield means the watch is armed: reload once to catch up with any change
            # made before that moment.
            armed = True
            change = self.reload()
            if change is not None:
                yield change

    async def arun(self, stop_event: anyio.Event | None = None) -> None:
        """Watch from async code until ``stop_event`` is set or the task is cancelled."""
        async for _ in self.achanges(stop_event):
            pass

    def __repr__(self) -> str:
        return f"ConfigWatcher(files={list(self._loader.files)!r}, generation={self._generation})"
