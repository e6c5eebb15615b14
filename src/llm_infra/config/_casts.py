"""Strict value conversions for typed keys and dataclass binding.

``bool("false")`` is ``True`` and ``int(True)`` is ``1``: the builtins are too lenient for
configuration, so ``Key(cast=int)`` goes through ``strict_cast(int)`` instead. Environment values
arrive JSON-parsed (``"1536"`` is already ``1536``); strings are still accepted where a plain
reading is unambiguous (``"true"``, ``" 42 "``), because YAML/TOML users quote numbers too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar, final

T = TypeVar("T")
N = TypeVar("N", int, float)

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class CastError(ValueError):
    """A value does not convert to the expected type; ``expected`` names that type."""

    def __init__(self, expected: str, detail: str = "") -> None:
        super().__init__(detail or f"expected {expected}")
        self.expected = expected
        self.detail = detail


def describe_value(value: object) -> str:
    """``str 'abc'`` / ``int 3``: the type and a short repr of a (non-secret) value.

    A section is described by its key names only: it may hold secrets not wrapped yet.
    """
    if isinstance(value, Mapping):
        names = ", ".join(str(k) for k in list(value)[:5])
        return f"a section ({names}{', ...' if len(value) > 5 else ''})"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def to_int(value: object) -> int:
    """An ``int`` from an int or a decimal string; never from a bool or a float."""
    if isinstance(value, bool):
        raise CastError("int")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            raise CastError("int") from None
    raise CastError("int")


def to_float(value: object) -> float:
    """A ``float`` from an int, a float or a numeric string; never from a bool."""
    if isinstance(value, bool):
        raise CastError("float")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise CastError("float") from None
    raise CastError("float")


def to_bool(value: object) -> bool:
    """A ``bool`` from a bool, 0/1, or true/false/yes/no/on/off (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CastError("bool")


def to_str(value: object) -> str:
    """A ``str`` from a str only: ``version = 1.10`` would silently become ``"1.1"``."""
    if isinstance(value, str):
        return value
    raise CastError("str", f"expected str, got {type(value).__name__} (quote the value)")


_STRICT: dict[object, Callable[[object], Any]] = {int: to_int, float: to_float, bool: to_bool, str: to_str}


def strict_cast(cast: Callable[[Any], T]) -> Callable[[Any], T]:
    """Replace the lenient builtins ``int``/``float``/``bool``/``str`` by their strict versions."""
    for builtin, strict in _STRICT.items():
        if cast is builtin:
            return strict
    return cast


def type_name(cast: object) -> str:
    """The human name of what a cast produces (``int``, ``'a' | 'b'``, ``list[str]``)."""
    name = getattr(cast, "type_name", None)
    if isinstance(name, str):
        return name
    if any(cast is f for f in (to_int, to_float, to_bool, to_str)):
        return getattr(cast, "__name__", "value").removeprefix("to_")
    qual = getattr(cast, "__name__", None)
    return qual if isinstance(qual, str) else repr(cast)


@final
@dataclass(frozen=True, slots=True)
class OneOf:
    """Accept one of a fixed set of strings (case-insensitive), with optional aliases.

    Example: ``one_of("cosine", "l2", "dot", aliases={"euclidean": "l2"})``.
    """

    choices: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        """``'cosine' | 'l2' | 'dot'``."""
        return " | ".join(repr(c) for c in self.choices)

    def __call__(self, value: object) -> str:
        if isinstance(value, str):
            text = value.strip().lower()
            for choice in self.choices:
                if choice.lower() == text:
                    return choice
            alias = self.aliases.get(text)
            if alias is not None:
                return alias
        raise CastError(self.type_name, f"expected one of {self.type_name}")


def one_of(*choices: str, aliases: Mapping[str, str] | None = None) -> OneOf:
    """A cast accepting one of ``choices`` (case-insensitive); ``aliases`` map extra spellings."""
    if not choices:
        raise ValueError("one_of() needs at least one choice")
    return OneOf(tuple(choices), dict(aliases or {}))


def _outside(number: float, lo: float | None, hi: float | None) -> bool:
    return (lo is not None and number < lo) or (hi is not None and number > hi)


@final
@dataclass(frozen=True, slots=True)
class Range(Generic[N]):
    """An ``int`` or a non-NaN ``float`` (``kind``) within ``[min, max]`` (either bound optional)."""

    kind: type[N]
    min: N | None = None
    max: N | None = None

    @property
    def type_name(self) -> str:
        """``int in [1, 65536]``, ``float in [-inf, 1.0]``: an open bound is shown as infinite."""
        lo = "-inf" if self.min is None else repr(self.kind(self.min))
        hi = "inf" if self.max is None else repr(self.kind(self.max))
        return f"{self.kind.__name__} in [{lo}, {hi}]"

    def __call__(self, value: object) -> N:
        number: N = _STRICT[self.kind](value)
        if (isinstance(number, float) and math.isnan(number)) or _outside(number, self.min, self.max):
            raise CastError(self.type_name, f"expected {self.type_name}, got {number!r}")
        return number


def int_range(min: int | None = None, max: int | None = None) -> Range[int]:
    """A cast accepting an ``int`` within ``[min, max]``."""
    return Range(int, min, max)


def float_range(min: float | None = None, max: float | None = None) -> Range[float]:
    """A cast accepting a non-NaN ``float`` within ``[min, max]``."""
    return Range(float, min, max)


@final
@dataclass(frozen=True, slots=True)
class ListOf(Generic[T]):
    """A tuple of items, each converted by ``item``; a string is split on commas."""

    item: Callable[[Any], T]

    @property
    def type_name(self) -> str:
        """``list[int]``."""
        return f"list[{type_name(strict_cast(self.item))}]"

    def __call__(self, value: object) -> tuple[T, ...]:
        if isinstance(value, str):
            items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise CastError(self.type_name)
        convert = strict_cast(self.item)
        out: list[T] = []
        for index, element in enumerate(items):
            try:
                out.append(convert(element))
            except (ValueError, TypeError) as exc:
                raise CastError(self.type_name, f"item {index}: {exc}") from None
        return tuple(out)


def list_of(item: Callable[[Any], T]) -> ListOf[T]:
    """A cast accepting a list (or a comma-separated string) of ``item`` values, returned as a tuple."""
    return ListOf(item)


@final
@dataclass(frozen=True, slots=True)
class StrMap:
    """A read-only ``str -> str`` mapping; a string ``"k=v,k2=v2"`` (the OTel env format) is parsed."""

    @property
    def type_name(self) -> str:
        """``map[str, str]``."""
        return "map[str, str]"

    def __call__(self, value: object) -> Mapping[str, str]:
        out: dict[str, str] = {}
        if isinstance(value, str):
            for part in value.split(","):
                if not part.strip():
                    continue
                name, sep, item = part.partition("=")
                if not sep or not name.strip():
                    raise CastError(self.type_name, "expected comma-separated key=value pairs")
                out[name.strip()] = item.strip()
        elif isinstance(value, Mapping):
            for name, item in value.items():
                if not isinstance(item, str | int | float | bool):
                    raise CastError(self.type_name, f"value of {str(name)!r} is not a scalar")
                out[str(name)] = str(item).lower() if isinstance(item, bool) else str(item)
        else:
            raise CastError(self.type_name)
        return MappingProxyType(out)


str_map = StrMap()
"""A cast accepting a ``str -> str`` mapping or ``"k=v,k2=v2"``; returns a read-only mapping."""


def reads_text(cast: object) -> bool:
    """Whether ``cast`` converts text itself (a scalar type): environment values then stay strings."""
    if isinstance(cast, OneOf | Range):
        return True
    # Identity, not hashing: a cast may be an unhashable object.
    return any(cast is known for pair in _STRICT.items() for known in pair)


def reads_structure(cast: object) -> bool:
    """Whether ``cast`` takes a list or a mapping (``list_of``, ``str_map``) as well as text."""
    return isinstance(cast, ListOf | StrMap)
