"""``ConfigLoader``: a fluent, immutable builder of layered sources; ``load_config`` for the common case."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, final

from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.config import _codes as codes
from llm_infra.config._config import Config, LoadInfo
from llm_infra.config._key import Key
from llm_infra.config._keys import DESIGN_KEYS
from llm_infra.config._sources import (
    DefaultsSource,
    DictSource,
    EnvIndex,
    EnvSource,
    FileSource,
    Layer,
    LoadContext,
    Source,
)
from llm_infra.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from llm_infra.config._watch import ConfigReload, ConfigWatcher


@final
class ConfigLoader:
    """Layered configuration sources, merged later-wins: defaults < files < environment < overrides.

    Every ``with_*`` method returns a new loader (a loader is immutable, so a watcher can
    reload it safely). Sources are ordered by rank, then by call order within a rank, so
    ``with_env(...).with_file(...)`` still lets the environment win over the file.

    Args:
        keys: declared keys: converted and checked at load, wrapped when secret, and used by
            the environment's single-underscore rule. Defaults to ``DESIGN_KEYS``.
        environ: the environment for ``${env:NAME}`` references and ``with_env(environ=None)``;
            None means ``os.environ``, read at each load.
        clock: stamps ``Config.info.loaded_at``.

    Example::

        cfg = (
            ConfigLoader()
            .with_defaults({"vector.dimensions": 384})
            .with_file("config.toml", required=False)
            .with_env(prefix="LLM_")
            .with_overrides({"vector.collection": "docs"})
            .load()
        )

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_clock", "_context_cache", "_environ", "_keys", "_sources")

    def __init__(
        self,
        *,
        keys: Iterable[Key[Any]] = DESIGN_KEYS,
        environ: Mapping[str, str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sources: Iterable[Source] = (),
    ) -> None:
        declared: dict[str, Key[Any]] = {}
        for key in keys:
            if not isinstance(key, Key):
                raise ConfigError(
                    f"keys must be Key objects, got {type(key).__name__}", code=codes.INVALID_KEY
                )
            declared[key.name] = key
        self._keys = declared
        self._environ = environ
        self._clock = clock
        self._sources: tuple[Source, ...] = tuple(sources)
        self._context_cache: tuple[EnvIndex, frozenset[str]] | None = None

    def _derive(
        self,
        *,
        sources: tuple[Source, ...] | None = None,
        keys: Iterable[Key[Any]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConfigLoader:
        return ConfigLoader(
            keys=self._keys.values() if keys is None else keys,
            environ=self._environ if environ is None else environ,
            clock=self._clock,
            sources=self._sources if sources is None else sources,
        )

    # ------------------------------------------------------------------ building

    def with_source(self, source: Source) -> ConfigLoader:
        """Add any source (its ``rank`` sets the precedence)."""
        return self._derive(sources=(*self._sources, source))

    def with_defaults(self, *items: Key[Any] | Iterable[Key[Any]] | Mapping[str, object]) -> ConfigLoader:
        """Add defaults from ``Key`` objects and/or mappings; keys given here are also declared."""
        source = DefaultsSource(*items)
        extra = [key for key in source.keys if key.name not in self._keys]
        return self._derive(sources=(*self._sources, source), keys=[*self._keys.values(), *extra])

    def with_file(
        self, path: str | os.PathLike[str], *, required: bool = True, format: str | None = None
    ) -> ConfigLoader:
        """Add a TOML/JSON/YAML file; a missing required file fails the load, an optional one is skipped."""
        return self.with_source(FileSource(path, format=format, required=required))

    def with_env(self, prefix: str = "LLM_", environ: Mapping[str, str] | None = None) -> ConfigLoader:
        """Add environment variables with ``prefix``; ``environ`` None means ``os.environ``.

        The same mapping resolves ``${env:NAME}`` references of every source.
        """
        return self._derive(sources=(*self._sources, EnvSource(prefix, environ)), environ=environ)

    def with_overrides(self, data: Mapping[str, object], *, name: str = "overrides") -> ConfigLoader:
        """Add explicit values that win over everything else (top-level dotted keys are split)."""
        return self.with_source(DictSource(data, name=name))

    def with_keys(self, *keys: Key[Any]) -> ConfigLoader:
        """Declare more keys (checked at load; secret ones wrapped; used by the env ``_`` rule)."""
        return self._derive(keys=[*self._keys.values(), *keys])

    # ------------------------------------------------------------------ reading

    @property
    def sources(self) -> tuple[Source, ...]:
        """The sources in precedence order (lowest first)."""
        return tuple(sorted(self._sources, key=lambda source: source.rank))

    @property
    def keys(self) -> Mapping[str, Key[Any]]:
        """The declared keys by name."""
        return dict(self._keys)

    @property
    def files(self) -> tuple[str, ...]:
        """Paths of the file sources (what a watcher watches)."""
        return tuple(source.path for source in self._sources if isinstance(source, FileSource))

    def environ(self) -> Mapping[str, str]:
        """The environment this loader reads (``os.environ`` unless one was given)."""
        return self._environ if self._environ is not None else os.environ

    def _context(self) -> LoadContext:
        cache = self._context_cache
        if cache is None:
            names = set(self._keys)
            for source in self._sources:
                if isinstance(source, DefaultsSource):
                    names.update(source.declared_names())
            secret_names = frozenset(key.path[-1] for key in self._keys.values() if key.secret)
            cache = (EnvIndex(names), secret_names)
            object.__setattr__(self, "_context_cache", cache)
        return LoadContext(environ=self.environ(), keys=self._keys, env_index=cache[0], secret_names=cache[1])

    def load(self) -> Config:
        """Read every source, merge, convert declared keys, and return an immutable ``Config``.

        Raises:
            ConfigError: a required file is missing (``config.file_not_found``); a file does not
                parse (``config.parse_error``, with file, line, column and the quoted line); a
                YAML document exceeds its limits (``config.yaml_limits``); a value has the wrong
                type (``config.wrong_type``, naming key, expected type and source); an env var is
                ambiguous (``config.ambiguous_env``); a secret reference cannot be resolved
                (``config.secret_unresolved``); a key is a section in one source and a value in
                another (``config.type_conflict``).
        """
        context = self._context()
        layers: list[Layer] = []
        files: list[tuple[str, bool]] = []
        prefixes: list[str] = []
        for source in self.sources:
            layer = source.load(context)
            if isinstance(source, FileSource):
                files.append((source.path, layer is not None))
            elif isinstance(source, EnvSource) and source.prefix not in prefixes:
                prefixes.append(source.prefix)
            if layer is not None:
                layers.append(layer)
        info = LoadInfo(tuple(files), tuple(prefixes), self._clock.time())
        return Config._build(tuple(layers), self._keys, info)

    def watch(
        self,
        *,
        on_change: Callable[[ConfigReload], None] | None = None,
        on_error: Callable[[ConfigError], None] | None = None,
        debounce: float = 0.2,
        validate: Callable[[Config], object] | None = None,
    ) -> ConfigWatcher:
        """A ``ConfigWatcher`` over this loader (see there)."""
        from llm_infra.config._watch import ConfigWatcher

        return ConfigWatcher(
            self, on_change=on_change, on_error=on_error, debounce=debounce, validate=validate
        )

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_context_cache"):
            raise AttributeError("ConfigLoader is immutable; use the with_* methods")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"ConfigLoader(sources={list(self.sources)!r}, keys={len(self._keys)})"


def load_config(
    *paths: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    prefix: str = "LLM_",
    keys: Iterable[Key[Any]] = DESIGN_KEYS,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Load the common stack: key defaults < each file (required) < ``prefix`` env vars < overrides.

    Args:
        *paths: configuration files (TOML, JSON or YAML), later ones win.
        environ: the environment; None means ``os.environ``.
        prefix: environment variable prefix.
        keys: declared keys, whose defaults form the lowest layer (``DESIGN_KEYS``).
        overrides: explicit values on top.

    .. versionadded:: 0.1.0
    """
    keys = tuple(keys)
    loader = ConfigLoader(keys=keys, environ=environ).with_defaults(keys)
    for path in paths:
        loader = loader.with_file(path)
    loader = loader.with_env(prefix, environ)
    if overrides:
        loader = loader.with_overrides(overrides)
    return loader.load()
