"""``Config``: an immutable snapshot of merged configuration, with provenance."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar, final, overload

from llm_infra._internal._attrs import readonly
from llm_infra.config import _codes as codes
from llm_infra.config._casts import CastError, describe_value
from llm_infra.config._key import Key, env_var_name, split_name
from llm_infra.config._sources import EnvIndex, Layer, Origin, short_env_hint
from llm_infra.config._tree import (
    Path,
    display,
    is_absent,
    iter_leaves,
    lookup,
    merge_trees,
    replace_leaf,
    thaw,
)
from llm_infra.errors import ConfigError
from llm_infra.secrets import Secret, is_secret_name

T = TypeVar("T")
D = TypeVar("D")
M = TypeVar("M")

_NO_DEFAULT: Any = object()


@final
@dataclass(frozen=True, slots=True)
class LoadInfo:
    """What a load looked at, for error messages: files tried and environment prefixes read.

    Attributes:
        files: ``(path, found)`` for every file source, in order.
        env_prefixes: prefixes of the environment sources read.
        loaded_at: wall-clock time of the load (seconds since the epoch).

    .. versionadded:: 0.1.0
    """

    files: tuple[tuple[str, bool], ...] = ()
    env_prefixes: tuple[str, ...] = ()
    loaded_at: float = 0.0

    def combine(self, other: LoadInfo) -> LoadInfo:
        """Both loads' files and prefixes (for ``Config.merge``)."""
        prefixes = self.env_prefixes + tuple(p for p in other.env_prefixes if p not in self.env_prefixes)
        return LoadInfo(self.files + other.files, prefixes, max(self.loaded_at, other.loaded_at))


@final
@dataclass(frozen=True, slots=True)
class Explanation:
    """Where a configuration value came from (``Config.explain``).

    Attributes:
        key: the dotted key.
        value: the value as plain data, with secrets masked; None when not set.
        origin: the source that set it (None when not set and without a default).
        shadowed: sources that also set it and were overridden, most recent first.
        secret: whether the value is a secret.
        hint: for a key that is not set, where it could be set.

    .. versionadded:: 0.1.0
    """

    key: str
    value: object
    origin: Origin | None
    shadowed: tuple[Origin, ...] = ()
    secret: bool = False
    hint: str | None = None

    @property
    def is_set(self) -> bool:
        """True when a source (or a key default) provides the value."""
        return self.origin is not None

    def __str__(self) -> str:
        if self.origin is None:
            return f"{self.key}: not set" + (f" ({self.hint})" if self.hint else "")
        text = f"{self.key} = {self.value!r}  [{self.origin}]"
        if self.shadowed:
            text += " overrides " + ", ".join(str(origin) for origin in self.shadowed)
        return text


@final
@dataclass(frozen=True, slots=True)
class _Problem:
    key: str
    message: str
    source: str | None = None
    remediation: tuple[str, ...] = field(default=())


@final
class Config:
    """An immutable configuration snapshot: merged values, typed access, provenance.

    Build one with ``ConfigLoader``/``load_config``, or from a mapping with ``Config(data)``.
    Values are read by dotted name (``cfg.get("vector.dimensions")``) or by typed ``Key``
    (``cfg.get(VECTOR_DIMENSIONS)`` returns ``int``). Nothing in it can be changed: lists come
    back as tuples, sections as fresh dicts, and a reload produces a new ``Config``.

    Args:
        data: values for a one-layer config (top-level dotted keys are split).
        name: the layer's name in ``explain``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_base", "_info", "_keys", "_layers", "_tree")

    _tree: dict[str, object]
    _layers: tuple[Layer, ...]
    _keys: Mapping[str, Key[Any]]
    _info: LoadInfo
    _base: Path

    def __new__(cls, data: Mapping[str, object] | None = None, *, name: str = "mapping") -> Config:
        from llm_infra.config._sources import DictSource, EnvIndex, LoadContext

        layer = DictSource(data or {}, name=name).load(
            LoadContext(environ={}, keys={}, env_index=EnvIndex(()), secret_names=frozenset())
        )
        return cls._build((layer,), {}, LoadInfo())

    @classmethod
    def _make(
        cls,
        tree: dict[str, object],
        layers: tuple[Layer, ...],
        keys: Mapping[str, Key[Any]],
        info: LoadInfo,
        base: Path = (),
    ) -> Config:
        """The one constructor: every ``Config`` (``Config(data)`` too) is built here."""
        self = object.__new__(cls)
        state = {"_tree": tree, "_layers": layers, "_keys": keys, "_info": info, "_base": base}
        for name, value in state.items():
            object.__setattr__(self, name, value)
        return self

    @classmethod
    def _build(
        cls, layers: tuple[Layer, ...], keys: Mapping[str, Key[Any]], info: LoadInfo, base: Path = ()
    ) -> Config:
        """Merge layers (later wins), convert declared keys, and freeze the result."""

        def on_conflict(path: Path) -> NoReturn:
            _raise_conflict(layers, path, base)

        tree = merge_trees([layer.tree for layer in layers], on_conflict)
        problems: list[_Problem] = []
        for key in keys.values():
            rel = _relative(key.path, base)
            if rel is None:
                continue
            value = lookup(tree, rel)
            if is_absent(value):
                continue
            try:
                converted = key.convert(value)
            except (ValueError, TypeError, LookupError, ConfigError) as exc:
                problems.append(_wrong_type(key, value, exc, _winner(layers, rel)))
                continue
            if converted is not value:
                replace_leaf(tree, rel, converted)
        if problems:
            _raise_problems(problems, "config.wrong_type")
        return cls._make(tree, layers, keys, info, base)

    # ------------------------------------------------------------------ reading

    @overload
    def get(self, key: Key[T]) -> T: ...
    @overload
    def get(self, key: Key[T], default: D) -> T | D: ...
    @overload
    def get(self, key: str) -> Any: ...
    @overload
    def get(self, key: str, default: Any) -> Any: ...

    def get(self, key: Key[Any] | str, default: Any = _NO_DEFAULT) -> Any:
        """The value of a key.

        With a ``Key``: the converted value; when unset, ``default`` if given, else the key's
        default, else ``ConfigError(code=codes.MISSING_KEY)``. With a dotted name: the raw
        value (a section comes back as a fresh dict); when unset, ``default`` or None.
        """
        if isinstance(key, Key):
            return self._get_key(key, default)
        value = lookup(self._tree, self._path(key))
        if is_absent(value):
            return None if default is _NO_DEFAULT else default
        if isinstance(value, Mapping):
            return _plain_section(value)
        return value

    def _get_key(self, key: Key[Any], default: Any) -> Any:
        rel = self._key_path(key)
        value = lookup(self._tree, rel)
        if is_absent(value):
            if default is not _NO_DEFAULT:
                return default
            if not key.required:
                return key.default_value()
            self._missing(rel, key)
        if self._keys.get(key.name) is key:
            return value
        try:
            return key.convert(value)
        except (ValueError, TypeError, LookupError, ConfigError) as exc:
            problem = _wrong_type(key, value, exc, _winner(self._layers, rel))
            _raise_problems([problem], "config.wrong_type")

    def require(self, name: str) -> Any:
        """The value of a dotted key; raises ``ConfigError(code=codes.MISSING_KEY)`` when unset."""
        rel = self._path(name)
        value = lookup(self._tree, rel)
        if is_absent(value):
            self._missing(rel, self._keys.get(display(self._base + rel)))
        return _plain_section(value) if isinstance(value, Mapping) else value

    def __getitem__(self, name: str) -> Any:
        return self.require(name)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, Key):
            path = _relative(key.path, self._base)
            return path is not None and not is_absent(lookup(self._tree, path))
        if isinstance(key, str):
            try:
                return not is_absent(lookup(self._tree, self._path(key)))
            except ConfigError:
                return False
        return False

    def keys(self) -> list[str]:
        """Dotted names of every value (leaf), in load order."""
        return [display(path) for path, _ in iter_leaves(self._tree)]

    def section(self, name: str) -> Config:
        """The sub-configuration under ``name`` (empty when unset), keeping provenance.

        ``Key`` names stay absolute: ``cfg.section("vector").get(VECTOR_DIMENSIONS)`` works.

        Raises:
            ConfigError: ``config.not_a_section`` when ``name`` holds a value.
        """
        rel = self._path(name)
        value = lookup(self._tree, rel)
        if is_absent(value):
            tree: dict[str, object] = {}
        elif isinstance(value, Mapping):
            tree = value if isinstance(value, dict) else dict(value)
        else:
            full = display(self._base + rel)
            raise ConfigError(
                f"config key {full!r} is a value, not a section", key=full, code=codes.NOT_A_SECTION
            )
        layers = []
        for layer in self._layers:
            sub = lookup(layer.tree, rel)
            if isinstance(sub, dict):
                layers.append(layer.rebase(rel, sub))
        return Config._make(tree, tuple(layers), self._keys, self._info, self._base + rel)

    def bind(self, model: type[M], section: str | None = None) -> M:
        """Validate a section (or the whole config) into a pydantic model or a dataclass.

        All problems are reported at once in one ``ConfigError(code=codes.VALIDATION)``,
        each naming the key, what was expected and where the value came from. Secret values are
        passed as ``Secret``; type such fields ``Secret[str]`` (or ``pydantic.SecretStr``,
        which receives the revealed value).
        """
        from llm_infra.config._bind import bind

        target = self.section(section) if section else self
        return bind(target, model)

    def to_dict(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        """Plain nested data (dicts, lists); secrets are masked unless ``reveal_secrets``."""
        result = thaw(self._tree, reveal_secrets=reveal_secrets)
        assert isinstance(result, dict)
        return result

    # ------------------------------------------------------------------ provenance

    def explain(self, key: Key[Any] | str) -> Explanation:
        """Which source set ``key`` (file path and line, env var, default, override) and what it shadows."""
        if isinstance(key, Key):
            rel = self._key_path(key)
            declared: Key[Any] | None = key
        else:
            rel = self._path(key)
            declared = self._keys.get(display(self._base + rel))
        name = display(self._base + rel)
        value = lookup(self._tree, rel)
        # A declared secret key, or an undeclared one whose name looks secret (is_secret_name).
        secret = bool(declared.secret) if declared is not None else is_secret_name(name.rsplit(".", 1)[-1])
        if is_absent(value):
            if declared is not None and not declared.required:
                default = declared.default_value()
                return Explanation(
                    name,
                    thaw(default, reveal_secrets=False, secret=secret),
                    Origin("default", "key default"),
                    secret=secret,
                )
            return Explanation(name, None, None, secret=secret, hint="; ".join(self._hints(rel)))
        holders = [layer for layer in self._layers if not is_absent(lookup(layer.tree, rel))]
        origins = [layer.origin(rel) for layer in reversed(holders)]
        secret = secret or isinstance(value, Secret)
        shown = thaw(value, reveal_secrets=False, secret=secret)
        origin = origins[0] if origins else Origin("custom", "unknown")
        return Explanation(name, shown, origin, tuple(origins[1:]), secret=secret)

    def explain_all(self) -> list[Explanation]:
        """An ``Explanation`` for every value, in load order."""
        return [self.explain(display(self._base + path)) for path, _ in iter_leaves(self._tree)]

    @property
    def sources(self) -> tuple[str, ...]:
        """Names of the loaded layers, lowest precedence first."""
        return tuple(layer.name for layer in self._layers)

    info: readonly[LoadInfo] = readonly("_info", "Files tried, environment prefixes and load time.")

    declared_keys: readonly[Mapping[str, Key[Any]]] = readonly(
        "_keys", "The keys declared to the loader, by name."
    )

    # ------------------------------------------------------------------ combining

    def merge(self, other: Config) -> Config:
        """A new config with ``other`` over ``self`` (deep merge; ``other`` wins).

        Sections merge key by key; a value (including a list) replaces a value wholesale; a
        section meeting a value is a ``config.type_conflict`` error. The merge is associative.
        """
        keys = {**self._keys, **other._keys}
        return Config._build(self._layers + other._layers, keys, self._info.combine(other._info), self._base)

    def changed_keys(self, other: Config) -> frozenset[str]:
        """Dotted names whose value differs between ``self`` and ``other`` (added, removed, changed)."""
        mine = dict(iter_leaves(self._tree))
        theirs = dict(iter_leaves(other._tree))
        changed = {path for path in mine.keys() | theirs.keys() if mine.get(path) != theirs.get(path)}
        return frozenset(display(self._base + path) for path in changed)

    def validate(self, *keys: Key[Any]) -> None:
        """Check that every given key is set (or has a default) and converts; report all problems.

        Raises:
            ConfigError: ``config.invalid`` listing each problem.
        """
        problems: list[_Problem] = []
        for key in keys:
            rel = self._key_path(key)
            value = lookup(self._tree, rel)
            if is_absent(value):
                if key.required:
                    hints = tuple(self._hints(rel))
                    problems.append(_Problem(key.name, f"{key.name}: missing (required)", None, hints))
                continue
            if self._keys.get(key.name) is key:
                continue
            try:
                key.convert(value)
            except (ValueError, TypeError, LookupError, ConfigError) as exc:
                problems.append(_wrong_type(key, value, exc, _winner(self._layers, rel)))
        if problems:
            _raise_problems(problems, codes.INVALID)

    # ------------------------------------------------------------------ dunder

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self._tree == other._tree

    __hash__ = None  # type: ignore[assignment]  # equality is by content, which is mutable-typed

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Config is immutable; load or merge a new one")

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return sum(1 for _ in iter_leaves(self._tree))

    # ------------------------------------------------------------------ helpers

    def _path(self, name: str) -> Path:
        try:
            return split_name(name)
        except ValueError as exc:
            raise ConfigError(str(exc), key=name, code=codes.INVALID_KEY) from None

    def _key_path(self, key: Key[Any]) -> Path:
        rel = _relative(key.path, self._base)
        if rel is None:
            base = display(self._base)
            raise ConfigError(
                f"key {key.name!r} is outside this section ({base!r})",
                key=key.name,
                code=codes.KEY_OUTSIDE_SECTION,
            )
        return rel

    def _hints(self, rel: Path) -> list[str]:
        name = display(self._base + rel)
        hints: list[str] = []
        files = self._info.files
        if files:
            tried = ", ".join(f"{path} ({'loaded' if found else 'not found'})" for path, found in files)
            hints.append(f"set {name} in a configuration file; files tried: {tried}")
        else:
            hints.append(
                f"no configuration file was loaded; add one with ConfigLoader().with_file('config.toml') "
                f"and set {name} in it"
            )
        prefixes = self._info.env_prefixes
        index = EnvIndex(self._keys)
        for prefix in prefixes or ("LLM_",):
            text = f"set the environment variable {env_var_name(name, prefix)}"
            short = short_env_hint(name, prefix, index)
            if short is not None:
                text += f" (or {short})"
            if not prefixes:
                text += " and read it with .with_env(prefix='LLM_')"
            hints.append(text)
        known = [display(self._base + path) for path, _ in iter_leaves(self._tree)]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.75)
        if close:
            hints.append("check the key name; did you mean " + " or ".join(repr(c) for c in close) + "?")
        return hints

    def _missing(self, rel: Path, key: Key[Any] | None) -> NoReturn:
        name = display(self._base + rel)
        hints = self._hints(rel)
        hints.append(f"run cfg.explain({name!r}) or `llm-infra config show --explain` to see every source")
        raise ConfigError(
            f"Missing required config key {name!r}"
            + (f" ({key.doc})" if key is not None and key.doc else ""),
            key=name,
            code=codes.MISSING_KEY,
            remediation=hints,
        )


def _relative(path: Path, base: Path) -> Path | None:
    if not base:
        return path
    if path[: len(base)] != base or len(path) == len(base):
        return None
    return path[len(base) :]


def _plain_section(value: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, item in value.items():
        out[key] = _plain_section(item) if isinstance(item, Mapping) else item
    return out


def _winner(layers: Iterable[Layer], rel: Path) -> Origin | None:
    holders = [layer for layer in layers if not is_absent(lookup(layer.tree, rel))]
    return holders[-1].origin(rel) if holders else None


def _wrong_type(key: Key[Any], value: object, exc: BaseException, origin: Origin | None) -> _Problem:
    expected = key.type_name
    if key.secret or isinstance(value, Secret):
        got = "a value that does not convert (not shown: secret)"
    else:
        got = describe_value(value)
        detail = exc.detail if isinstance(exc, CastError) else str(exc)
        if detail and not detail.startswith("expected"):
            got += f" ({detail})"
    where = f" from {origin}" if origin is not None else ""
    message = f"config key {key.name!r}: expected {expected}, got {got}{where}"
    remediation = (f"set {key.name} to a {expected} value{where}",)
    return _Problem(key.name, message, None if origin is None else str(origin), remediation)


def _raise_problems(problems: list[_Problem], code: str) -> NoReturn:
    if len(problems) == 1:
        problem = problems[0]
        raise ConfigError(
            problem.message,
            key=problem.key,
            source=problem.source,
            code=code,
            remediation=problem.remediation,
            context={"errors": [{"key": problem.key, "message": problem.message, "source": problem.source}]},
        )
    lines = "\n".join(f"  - {problem.message}" for problem in problems)
    raise ConfigError(
        f"{len(problems)} configuration problems:\n{lines}",
        code=code,
        remediation=[step for problem in problems for step in problem.remediation],
        context={"errors": [{"key": p.key, "message": p.message, "source": p.source} for p in problems]},
    )


def _raise_conflict(layers: tuple[Layer, ...], rel: Path, base: Path) -> NoReturn:
    name = display(base + rel)
    sections: list[str] = []
    values: list[str] = []
    for layer in layers:
        found = lookup(layer.tree, rel)
        if is_absent(found):
            continue
        (sections if isinstance(found, Mapping) else values).append(str(layer.origin(rel)))
    raise ConfigError(
        f"config key {name!r} is a section in {', '.join(sections) or 'one source'} "
        f"but a value in {', '.join(values) or 'another'}",
        key=name,
        code=codes.TYPE_CONFLICT,
        source=values[-1] if values else None,
        remediation=[f"make {name} either a section or a value in every source"],
    )
