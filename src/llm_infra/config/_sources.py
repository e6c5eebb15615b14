"""Configuration sources: defaults < files < environment < overrides.

Each source turns into a ``Layer``: a tree plus what is needed to say, later and only when
asked, where each value came from (file path and line, environment variable, reference).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, replace
from typing import Any, ClassVar, Literal, NoReturn, Protocol, final

from llm_infra.config import _codes as codes
from llm_infra.config._casts import reads_structure, reads_text
from llm_infra.config._key import Key, short_env_var_name
from llm_infra.config._parse import Format, Locator, decode, detect_format, parse, parse_error
from llm_infra.config._read import MAX_CONFIG_FILE_BYTES, MAX_SECRET_FILE_BYTES, read_bounded
from llm_infra.config._tree import (
    MAX_DEPTH,
    Path,
    display,
    expand_dotted,
    iter_leaves,
    merge_into,
    set_path,
    too_deep,
)
from llm_infra.errors import ConfigError
from llm_infra.secrets import Secret

OriginKind = Literal["default", "file", "env", "override", "custom"]

RANK_DEFAULTS = 0
RANK_FILE = 10
RANK_ENV = 20
RANK_OVERRIDES = 30

_REF = re.compile(r"\$?\$\{(env|file):([^}]*)\}")


@final
@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value came from.

    Attributes:
        kind: ``default``, ``file``, ``env``, ``override`` or ``custom``.
        name: the source's name (``defaults``, a file path, ``env``, ``overrides``).
        path: the file, for ``file`` origins.
        line: 1-based line of the key in the file, when it could be located.
        column: 1-based column of the key in the file.
        env_var: the environment variable, for ``env`` origins.
        reference: the ``${env:NAME}`` / ``${file:PATH}`` reference the value was read from.

    .. versionadded:: 0.1.0
    """

    kind: OriginKind
    name: str
    path: str | None = None
    line: int | None = None
    column: int | None = None
    env_var: str | None = None
    reference: str | None = None

    def __str__(self) -> str:
        if self.kind == "file":
            text = f"file {self.path}"
            if self.line is not None:
                text += f":{self.line}:{self.column}"
        elif self.kind == "env":
            text = f"env {self.env_var}"
        elif self.kind == "default":
            text = "default" if self.name == "defaults" else f"default ({self.name})"
        elif self.kind == "override":
            text = "override" if self.name == "overrides" else f"override ({self.name})"
        else:
            text = self.name
        if self.reference is not None:
            text += f" via {self.reference}"
        return text


@final
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Layer:
    """One loaded source: its tree (rooted at ``base``) and its provenance data.

    Attributes:
        kind: the kind of ``Origin`` its values have.
        name: the source's name.
        tree: the values, a nested dict.
        path: the file, for a file source.
        locator: finds a key's line and column in the file.
        env_vars: the environment variable that set each path, for an environment source.
        refs: the ``${env:...}``/``${file:...}`` reference each resolved path was read from.
        base: where ``tree`` sits in the whole configuration (a section's layer is rebased).
    """

    kind: OriginKind
    name: str
    tree: dict[str, object]
    _: KW_ONLY
    path: str | None = None
    locator: Locator | None = None
    env_vars: Mapping[Path, str] | None = None
    refs: Mapping[Path, str] | None = None
    base: Path = ()

    def rebase(self, prefix: Path, tree: dict[str, object]) -> Layer:
        """The same layer seen from a section: ``tree`` is its subtree at ``prefix``."""
        return replace(self, tree=tree, base=self.base + prefix)

    def origin(self, path: Path) -> Origin:
        """The origin of the value at ``path`` (relative to this layer's tree)."""
        full = self.base + path
        line = column = None
        if self.locator is not None:
            found = self.locator.locate(full)
            if found is not None:
                line, column = found
        env_vars = self.env_vars or {}
        env_var = None
        for end in range(len(full), 0, -1):
            env_var = env_vars.get(full[:end])
            if env_var is not None:
                break
        return Origin(
            self.kind,
            self.name,
            path=self.path,
            line=line,
            column=column,
            env_var=env_var,
            reference=(self.refs or {}).get(full),
        )

    def __repr__(self) -> str:
        return f"Layer({self.kind!r}, {self.name!r})"


@final
class EnvIndex:
    """Declared key names indexed for the environment's single-underscore rule."""

    __slots__ = ("_by_flat", "_names")

    def __init__(self, names: Iterable[str]) -> None:
        self._names = frozenset(names)
        by_flat: dict[str, list[str]] = {}
        for name in sorted(self._names):
            by_flat.setdefault(name.replace(".", "_").lower(), []).append(name)
        self._by_flat = by_flat

    def resolve(self, var: str, rest: str, prefix: str) -> Path | None:
        """The declared key an env var spells, or None to take ``__`` as the only separator.

        ``rest`` is the variable name without the prefix. The exact ``__`` spelling of a
        declared key always wins; otherwise every declared key whose name, with each ``.``
        written ``_`` or ``__``, equals ``rest`` is a candidate, and more than one is an error.
        """
        lower = rest.lower()
        literal = lower.replace("__", ".")
        if literal in self._names:
            return tuple(literal.split("."))
        candidates = self._by_flat.get(lower.replace("__", "_"))
        if not candidates:
            return None
        marked = lower.replace("__", "\0")
        matches = [name for name in candidates if _compatible(marked, name)]
        if len(matches) > 1:
            spellings = ", ".join(prefix + name.replace(".", "__").upper() for name in matches)
            raise ConfigError(
                f"environment variable {var} is ambiguous: it could set any of "
                f"{', '.join(repr(m) for m in matches)}; use the '__' spelling instead ({spellings})",
                code=codes.AMBIGUOUS_ENV,
                source=f"env {var}",
                context={"env_var": var, "candidates": matches},
                remediation=[f"rename {var} to one of: {spellings}"],
            )
        return tuple(matches[0].split(".")) if matches else None

    def is_short_form_unambiguous(self, name: str) -> bool:
        """Whether ``LLM_A_B_C`` (every ``.`` as ``_``) selects ``name`` alone."""
        return self._by_flat.get(name.replace(".", "_").lower(), []) == [name]


def _compatible(marked: str, name: str) -> bool:
    # ``marked`` has "\0" where the variable had "__": those must be dots in the key name. The
    # other characters already agree, because both flatten to the same name.
    return all(want == "." for have, want in zip(marked, name, strict=True) if have == "\0")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadContext:
    """What sources need from the loader: the environment, declared keys, secret names.

    Attributes:
        environ: the mapping ``${env:NAME}`` references and ``EnvSource(environ=None)`` read.
        keys: declared keys by name (types, secrets, the single-underscore rule).
        env_index: the declared names indexed for environment mapping.
        secret_names: last segments of secret keys, masked in quoted error lines.
    """

    environ: Mapping[str, str]
    keys: Mapping[str, Key[Any]]
    env_index: EnvIndex
    secret_names: frozenset[str]


class Source(Protocol):
    """A configuration source. ``rank`` orders sources (higher wins; ties keep call order).

    .. versionadded:: 0.1.0
    """

    @property
    def rank(self) -> int:
        """Precedence: defaults 0, files 10, environment 20, overrides 30."""
        ...

    def load(self, context: LoadContext) -> Layer | None:
        """Read the source into a layer; None when it has nothing (an optional file missing)."""
        ...


# --------------------------------------------------------------------------- secret references


def resolve_refs(tree: dict[str, object], environ: Mapping[str, str], layer_name: str) -> dict[Path, str]:
    """Replace ``${env:NAME}``/``${file:PATH}`` strings in ``tree`` by ``Secret`` values, in place.

    Returns the reference text per path, for ``explain``. ``$${...}`` escapes a literal.
    """
    refs: dict[Path, str] = {}
    _resolve_in(tree, (), environ, layer_name, refs)
    return refs


def _resolve_in(
    node: dict[str, object], prefix: Path, environ: Mapping[str, str], layer: str, refs: dict[Path, str]
) -> None:
    for key, value in node.items():
        path = (*prefix, key)
        if isinstance(value, dict):
            _resolve_in(value, path, environ, layer, refs)
        elif isinstance(value, str):
            if "${" in value:
                resolved = resolve_value(value, environ, path, layer)
                if resolved is not value:
                    node[key] = resolved
                    refs[path] = _describe_refs(value)
        elif isinstance(value, list) and any(isinstance(item, str) and "${" in item for item in value):
            items = [
                resolve_value(item, environ, path, layer) if isinstance(item, str) else item for item in value
            ]
            node[key] = items
            refs[path] = ", ".join(
                _describe_refs(item) for item in value if isinstance(item, str) and "${" in item
            )


def _describe_refs(value: str) -> str:
    return " ".join(m.group(0) for m in _REF.finditer(value) if not m.group(0).startswith("$$")) or value


def resolve_value(value: str, environ: Mapping[str, str], path: Path, layer: str) -> object:
    """Resolve the references in one string: a ``Secret`` if any, else the string unchanged."""
    found = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal found
        whole = match.group(0)
        if whole.startswith("$$"):
            return whole[1:]
        found = True
        scheme, target = match.group(1), match.group(2).strip()
        if scheme == "env":
            resolved = environ.get(target)
            if resolved is None:
                _unresolved(path, layer, f"environment variable {target} is not set", target)
            return resolved
        try:
            content = read_bounded(target, MAX_SECRET_FILE_BYTES, "secret file").decode("utf-8")
        except ConfigError as exc:  # not a regular file, or too large
            _unresolved(path, layer, exc.message, target, exc.code)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            _unresolved(path, layer, f"file {target} cannot be read ({reason})", target)
        # Secret files (Docker, Kubernetes) usually end with one newline that is not part of the value.
        return content.removesuffix("\n").removesuffix("\r")

    text = _REF.sub(substitute, value)
    if found:
        return Secret(text)
    return text if text != value else value


def _unresolved(
    path: Path, layer: str, reason: str, target: str, code: str | None = codes.SECRET_UNRESOLVED
) -> NoReturn:
    raise ConfigError(
        f"config key {display(path)!r} (from {layer}) references a secret that cannot be resolved: {reason}",
        key=display(path),
        source=layer,
        code=code,
        context={"reference": target},
        remediation=[f"provide {target}, or change the reference of {display(path)}"],
    )


def _conflict(layer: str) -> Any:
    def raise_conflict(path: Path) -> NoReturn:
        raise ConfigError(
            f"config key {display(path)!r} is both a section and a value in {layer}",
            key=display(path),
            source=layer,
            code=codes.TYPE_CONFLICT,
        )

    return raise_conflict


# --------------------------------------------------------------------------- sources


@final
class DefaultsSource:
    """Default values: from ``Key`` defaults and/or mappings (lowest precedence).

    Keys with default ``None`` or no default add nothing (``None`` means "not set"). Top-level
    dotted mapping keys are split (``{"vector.dimensions": 384}``). Every leaf of a mapping
    counts as a declared key for the environment's single-underscore rule.

    Args:
        *items: ``Key`` objects, iterables of them, or mappings of defaults.
        name: shown in ``explain``.

    .. versionadded:: 0.1.0
    """

    rank: ClassVar[int] = RANK_DEFAULTS

    def __init__(
        self, *items: Key[Any] | Iterable[Key[Any]] | Mapping[str, object], name: str = "defaults"
    ) -> None:
        keys: list[Key[Any]] = []
        mappings: list[Mapping[str, object]] = []
        for item in items:
            if isinstance(item, Key):
                keys.append(item)
            elif isinstance(item, Mapping):
                mappings.append(item)
            else:
                for key in item:
                    if not isinstance(key, Key):
                        raise ConfigError(
                            f"DefaultsSource takes Keys and mappings, got {type(key).__name__}",
                            code=codes.INVALID_SOURCE,
                        )
                    keys.append(key)
        self.keys: tuple[Key[Any], ...] = tuple(keys)
        self.name = name
        tree: dict[str, object] = {}
        on_conflict = _conflict(name)
        for key in keys:
            if key.default is not None and not key.required:
                set_path(tree, key.path, key.default, on_conflict)
        names: list[str] = []
        for mapping in mappings:
            _check_depth(mapping, name)
            try:
                expanded = expand_dotted(mapping, on_conflict)
            except TypeError as exc:
                raise ConfigError(str(exc), code=codes.INVALID_SOURCE, source=name) from None
            merge_into(tree, expanded, on_conflict)
            names.extend(".".join(path) for path, _ in iter_leaves(expanded))
        self._tree = tree
        self._mapping_names = tuple(names)

    def declared_names(self) -> tuple[str, ...]:
        """Leaf names this source declares (for the single-underscore environment rule)."""
        return self._mapping_names

    def load(self, context: LoadContext) -> Layer:
        """The defaults as a layer (a fresh copy each time)."""
        tree = _fresh(self._tree)
        refs = resolve_refs(tree, context.environ, self.name)
        return Layer("default", self.name, tree, refs=refs)

    def __repr__(self) -> str:
        return f"DefaultsSource({self.name!r}, keys={len(self.keys)})"


@final
class FileSource:
    """A TOML, JSON or YAML file (UTF-8, with or without a byte-order mark).

    Args:
        path: the file.
        format: ``"toml"``, ``"json"`` or ``"yaml"``; by default taken from the extension
            (``.toml``, ``.json``, ``.yaml``/``.yml``).
        required: when False a missing file is skipped (recorded as "tried" for error messages).

    .. versionadded:: 0.1.0
    """

    rank: ClassVar[int] = RANK_FILE

    def __init__(
        self, path: str | os.PathLike[str], *, format: str | None = None, required: bool = True
    ) -> None:
        self.path = os.fspath(path)
        self.format: Format = detect_format(self.path, format)
        self.required = required

    def load(self, context: LoadContext) -> Layer | None:
        """Read and parse the file; None when it is optional and missing."""
        try:
            data = read_bounded(self.path, MAX_CONFIG_FILE_BYTES, "configuration file")
        except FileNotFoundError:
            if not self.required:
                return None
            raise ConfigError(
                f"configuration file not found: {self.path}",
                code=codes.FILE_NOT_FOUND,
                source=self.path,
                context={"path": self.path},
                remediation=[
                    f"create {self.path}, fix the path, or pass required=False to make it optional",
                ],
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"configuration file cannot be read: {self.path} ({exc.strerror or type(exc).__name__})",
                code=codes.FILE_UNREADABLE,
                source=self.path,
                context={"path": self.path},
            ) from None
        text = decode(data, self.path, self.format, context.secret_names)
        tree = parse(text, self.path, self.format, context.secret_names)
        deep = too_deep(tree)
        if deep is not None:
            line, column = Locator(text, self.format).locate(deep) or (1, 1)
            parse_error(
                self.path,
                self.format,
                text,
                line,
                column,
                f"values nest deeper than {MAX_DEPTH} levels (under {display(deep[:3])}...)",
                context.secret_names,
                code=codes.TOO_DEEP,
            )
        refs = resolve_refs(tree, context.environ, self.path) if "${" in text else None
        return Layer("file", self.path, tree, path=self.path, locator=Locator(text, self.format), refs=refs)

    def __repr__(self) -> str:
        return f"FileSource({self.path!r}, format={self.format!r}, required={self.required})"


def parse_env_value(raw: str, key: Key[Any] | None = None) -> object:
    """The value of an environment variable.

    For a declared key whose type reads text (``int``, ``float``, ``bool``, ``str``,
    ``one_of``, ``int_range``, ``float_range``, ``list_of``, ``str_map``) the raw string is kept
    and the key's cast converts it: ``LLM_VECTOR_COLLECTION=1.0`` is the string ``"1.0"``.
    Otherwise JSON-looking values (numbers, ``true``/``false``, arrays, objects, quoted strings)
    are parsed. ``null`` is never turned into "unset": it stays the text ``"null"``.
    """
    if key is not None and reads_text(key.cast):
        return raw
    text = raw.strip()
    if not text:
        return raw
    first = text[0]
    if key is not None and reads_structure(key.cast) and first not in "[{":
        return raw
    if first in '[{"-' or first.isdigit() or text in ("true", "false"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return raw
    return raw


@final
class EnvSource:
    """Environment variables with a prefix: ``LLM_VECTOR__DIMENSIONS=1536`` sets ``vector.dimensions``.

    ``__`` separates sections. A single ``_`` also separates them when the name then spells
    exactly one declared key (``LLM_VECTOR_DIMENSIONS``); when it could spell several, loading
    fails with ``config.ambiguous_env``; otherwise ``_`` is part of the name. Names are
    lower-cased. A declared key's value is converted by the key's type (``LLM_VECTOR_COLLECTION=1.0``
    is the string ``"1.0"``); for other names, values that look like JSON (numbers, ``true``,
    ``[1, 2]``) are parsed. ``null`` is the text ``"null"``, never "unset".

    Args:
        prefix: variables without it are ignored.
        environ: the mapping to read; None reads the loader's environment (``os.environ``).

    .. versionadded:: 0.1.0
    """

    rank: ClassVar[int] = RANK_ENV

    def __init__(self, prefix: str = "LLM_", environ: Mapping[str, str] | None = None) -> None:
        if not prefix:
            raise ConfigError("EnvSource needs a non-empty prefix", code=codes.INVALID_SOURCE)
        self.prefix = prefix
        self.environ = environ

    def load(self, context: LoadContext) -> Layer:
        """Collect the prefixed variables into a layer."""
        environ = self.environ if self.environ is not None else context.environ
        prefix = self.prefix
        size = len(prefix)
        index = context.env_index
        tree: dict[str, object] = {}
        env_vars: dict[Path, str] = {}
        refs: dict[Path, str] = {}

        def conflict(path: Path) -> NoReturn:
            others = sorted(
                var for p, var in env_vars.items() if p[: len(path)] == path or path[: len(p)] == p
            )
            raise ConfigError(
                f"environment variables {', '.join(others)} set {display(path)!r} "
                "both as a section and a value",
                key=display(path),
                source="env",
                code=codes.TYPE_CONFLICT,
            )

        # Iterate names first: os.environ decodes a value only when it is looked up.
        for var in environ:
            if not var.startswith(prefix) or len(var) == size:
                continue
            raw = environ[var]
            rest = var[size:]
            path = index.resolve(var, rest, prefix)
            if path is None:
                path = tuple(rest.lower().split("__"))
                if any(not part for part in path):
                    raise ConfigError(
                        f"environment variable {var} has an empty name segment "
                        "(a leading, trailing or doubled '__')",
                        code=codes.INVALID_ENV,
                        source=f"env {var}",
                    )
            value: object
            if "${" in raw:
                value = resolve_value(raw, context.environ, path, f"env {var}")
                if isinstance(value, Secret):
                    refs[path] = _describe_refs(raw)
            else:
                value = parse_env_value(raw, context.keys.get(display(path)))
            if isinstance(value, dict | list) and too_deep(value, MAX_DEPTH - len(path)) is not None:
                raise ConfigError(
                    f"environment variable {var} holds a value nested deeper than {MAX_DEPTH} levels",
                    code=codes.TOO_DEEP,
                    source=f"env {var}",
                )
            env_vars[path] = var
            set_path(tree, path, value, conflict)
        return Layer("env", "env", tree, env_vars=env_vars, refs=refs)

    def __repr__(self) -> str:
        return f"EnvSource(prefix={self.prefix!r})"


@final
class DictSource:
    """Explicit values from a mapping (highest precedence by default): CLI flags, tests.

    Top-level dotted keys are split (``{"vector.dimensions": 1536}``); nested keys are literal.

    Args:
        data: the values.
        name: shown in ``explain``.
        rank: precedence (30, above the environment, by default).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, data: Mapping[str, object], *, name: str = "overrides", rank: int = RANK_OVERRIDES
    ) -> None:
        self.name = name
        self.rank = rank
        _check_depth(data, name)
        try:
            self._tree = expand_dotted(data, _conflict(name))
        except TypeError as exc:
            raise ConfigError(str(exc), code=codes.INVALID_SOURCE, source=name) from None

    def load(self, context: LoadContext) -> Layer:
        """The mapping as a layer (a fresh copy each time)."""
        tree = _fresh(self._tree)
        refs = resolve_refs(tree, context.environ, self.name)
        kind: OriginKind = "override" if self.rank >= RANK_OVERRIDES else "custom"
        return Layer(kind, self.name, tree, refs=refs)

    def __repr__(self) -> str:
        return f"DictSource({self.name!r})"


def _check_depth(data: Mapping[Any, object], name: str) -> None:
    deep = too_deep(data)
    if deep is not None:
        raise ConfigError(
            f"{name} nests values deeper than {MAX_DEPTH} levels (under {display(deep[:3])}...)",
            code=codes.TOO_DEEP,
            source=name,
        )


def _fresh(tree: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out[key] = _fresh(value)
        elif isinstance(value, list):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def short_env_hint(name: str, prefix: str, index: EnvIndex) -> str | None:
    """The single-underscore variable for ``name``, when it is unambiguous."""
    if "." not in name or not index.is_short_form_unambiguous(name):
        return None
    return short_env_var_name(name, prefix)
