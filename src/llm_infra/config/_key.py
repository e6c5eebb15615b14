"""``Key[T]``: a typed, documented configuration key (name, type, default, secrecy)."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Any, Final, Generic, Literal, NoReturn, TypeVar, cast, final, overload

from llm_infra.config import _codes as codes
from llm_infra.config._casts import strict_cast, to_bool, to_float, to_int, to_str, type_name
from llm_infra.secrets import MASK, Secret

T = TypeVar("T")
V = TypeVar("V")

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""Sentinel: the key has no default (it is required)."""

_INFERRED: dict[type, Callable[[object], Any]] = {bool: to_bool, int: to_int, float: to_float, str: to_str}


def _identity(value: Any) -> Any:
    return value


_identity.type_name = "any"  # type: ignore[attr-defined]  # read by type_name()


def split_name(name: str) -> tuple[str, ...]:
    """Split a dotted key name into its path; raises ``ValueError`` on an empty segment."""
    path = tuple(name.split("."))
    if not name or any(not part for part in path):
        raise ValueError(f"invalid config key name {name!r}: empty segment")
    return path


def env_var_name(name: str, prefix: str = "LLM_") -> str:
    """The canonical environment variable of a dotted key: ``LLM_VECTOR__HNSW__M``."""
    return prefix + name.replace(".", "__").upper()


def short_env_var_name(name: str, prefix: str = "LLM_") -> str:
    """The single-underscore spelling: ``LLM_VECTOR_HNSW_M`` (valid when it is unambiguous)."""
    return prefix + name.replace(".", "_").upper()


@final
class Key(Generic[T]):
    """A typed configuration key: a dotted name, a conversion, a default and a description.

    ``cfg.get(KEY)`` returns ``T``. ``cast`` converts the raw value; the builtins ``int``,
    ``float``, ``bool`` and ``str`` are applied strictly (``"false"`` is ``False``, a bool is not
    an int, a float is not a str). Without ``cast`` the type of ``default`` is used. A key
    without ``default`` is required. ``secret=True`` wraps the value in ``Secret`` even when it
    was written literally, and masks it in ``repr``, ``to_dict``, ``explain`` and errors.

    Args:
        name: dotted name such as ``"vector.dimensions"``; segments use letters, digits, ``_``
            and ``-``.
        default: the value when no source sets the key; omit for a required key.
        cast: callable converting a raw value (``int``, ``one_of(...)``, ``int_range(...)``).
        doc: one-line description, shown in the generated key table.
        secret: wrap the value in ``Secret``.

    Example::

        >>> DIMS = Key("vector.dimensions", cast=int, doc="Vector dimensions")
        >>> DIMS.env_var()
        'LLM_VECTOR__DIMENSIONS'

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_convert", "cast", "default", "doc", "name", "path", "secret")

    name: str
    path: tuple[str, ...]
    default: object
    cast: Callable[[Any], Any]
    doc: str
    secret: bool
    _convert: Callable[[Any], Any]

    @overload
    def __init__(
        self: Key[Secret[V] | None],
        name: str,
        *,
        cast: Callable[[Any], V],
        default: None,
        doc: str = ...,
        secret: Literal[True],
    ) -> None: ...
    @overload
    def __init__(
        self: Key[Secret[V]],
        name: str,
        *,
        cast: Callable[[Any], V],
        default: V | _Missing = ...,
        doc: str = ...,
        secret: Literal[True],
    ) -> None: ...
    @overload
    def __init__(
        self: Key[V | None],
        name: str,
        *,
        cast: Callable[[Any], V],
        default: None,
        doc: str = ...,
        secret: Literal[False] = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: Key[V],
        name: str,
        *,
        cast: Callable[[Any], V],
        default: V | _Missing = ...,
        doc: str = ...,
        secret: Literal[False] = ...,
    ) -> None: ...
    @overload
    def __init__(
        self: Key[V], name: str, *, default: V, doc: str = ..., secret: Literal[False] = ...
    ) -> None: ...
    @overload
    def __init__(self, name: str, *, doc: str = ..., secret: bool = ...) -> None: ...

    def __init__(
        self,
        name: str,
        *,
        cast: Callable[[Any], Any] | None = None,
        default: object = MISSING,
        doc: str = "",
        secret: bool = False,
    ) -> None:
        from llm_infra.errors import ConfigError

        try:
            path = split_name(name)
        except ValueError as exc:
            raise ConfigError(str(exc), key=name, code=codes.INVALID_KEY) from None
        for part in path:
            if not _SEGMENT.match(part):
                raise ConfigError(
                    f"invalid config key name {name!r}: segment {part!r} "
                    "may use letters, digits, '_' and '-'",
                    key=name,
                    code=codes.INVALID_KEY,
                )
        if cast is None:
            cast = _INFERRED.get(type(default), _identity)
        setter = object.__setattr__
        setter(self, "name", name)
        setter(self, "path", path)
        setter(self, "default", default)
        setter(self, "cast", cast)
        setter(self, "doc", doc)
        setter(self, "secret", bool(secret))
        setter(self, "_convert", strict_cast(cast))

    @property
    def required(self) -> bool:
        """True when the key has no default."""
        return self.default is MISSING

    @property
    def type_name(self) -> str:
        """What the key holds, for tables and error messages (``int``, ``'a' | 'b'``)."""
        inner = type_name(self._convert)
        return f"Secret[{inner}]" if self.secret else inner

    def convert(self, value: object) -> T:
        """Convert a raw value to ``T``; wrap it in ``Secret`` when the key is secret.

        A value that arrived as a ``Secret`` (from a ``${env:...}``/``${file:...}`` reference) is
        converted inside and stays wrapped even for a non-secret key: a reference marks a secret.

        Raises:
            ValueError, TypeError: from the cast (the loader turns them into ``ConfigError``).
        """
        if isinstance(value, Secret):
            return cast("T", Secret(self._convert(value.reveal())))
        converted = self._convert(value)
        return cast("T", Secret(converted) if self.secret else converted)

    def default_value(self) -> T:
        """The default (wrapped in ``Secret`` for a secret key). Raises ``LookupError`` when required."""
        if self.default is MISSING:
            raise LookupError(self.name)
        if self.secret and self.default is not None and not isinstance(self.default, Secret):
            return Secret(self.default)  # type: ignore[return-value]
        return self.default  # type: ignore[return-value]

    def env_var(self, prefix: str = "LLM_") -> str:
        """The canonical environment variable for this key (``LLM_VECTOR__DIMENSIONS``)."""
        return env_var_name(self.name, prefix)

    def short_env_var(self, prefix: str = "LLM_") -> str:
        """The single-underscore spelling (``LLM_VECTOR_DIMENSIONS``), valid when unambiguous."""
        return short_env_var_name(self.name, prefix)

    def default_repr(self) -> str:
        """The default as shown in tables and ``explain`` (masked for a secret key)."""
        if self.default is MISSING:
            return "(required)"
        if self.secret and self.default is not None:
            return MASK
        return repr(self.default)

    def __repr__(self) -> str:
        extra = "required" if self.required else f"default={self.default_repr()}"
        secret = ", secret" if self.secret else ""
        return f"Key({self.name!r}, {self.type_name}, {extra}{secret})"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Key is immutable")
