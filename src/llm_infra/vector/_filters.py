"""Metadata filters: objects, the Mongo-like dict form, and the reference ``matches`` semantics.

Semantics (shared by ``matches`` and the store's payload index):

- A field path is a top-level key, or, when no such key exists, a dotted path into nested
  objects (``"author.name"``).
- ``Eq(f, v)`` matches when the field's value equals ``v``; when the value is a list, when any
  element equals ``v``. Values are JSON scalars; numbers compare numerically (``1 == 1.0``),
  booleans are not numbers, ``None`` matches an explicit ``null`` only.
- ``In(f, vs)`` is ``Or(Eq(f, v) for v in vs)``; ``Ne`` and ``NotIn`` are their negations, so
  they match records where the field is missing.
- ``Range(f, gt=, gte=, lt=, lte=)`` matches numeric values (any numeric element of a list) in
  the interval, compared as float64. Missing and non-numeric values never match.
- ``Exists(f)`` matches when the field is present (even when ``null``).
- ``And()`` matches everything, ``Or()`` nothing.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

from llm_infra.errors import ValidationError
from llm_infra.vector import _codes

Scalar: TypeAlias = str | int | float | bool | None
FilterLike: TypeAlias = "MetadataFilter | Mapping[str, Any]"

_MISSING: Final = object()
_FLOAT_MAX: Final = int(sys.float_info.max)
MAX_FILTER_DEPTH: Final = 32
"""How deeply ``$and``/``$or``/``$not`` may nest (deeper filters are a ``ValidationError``)."""


def _invalid(
    path: str, message: str, *, expected: str | None = None, actual: object = _MISSING
) -> ValidationError:
    return ValidationError(
        f"invalid filter at {path}: {message}",
        field=path,
        expected=expected,
        actual=None if actual is _MISSING else repr(actual)[:200],
        code=_codes.INVALID_FILTER,
    )


def scalar_key(value: object) -> tuple[str, Any] | None:
    """The equality key of a JSON scalar (None for lists, objects and non-JSON values).

    Booleans get their own tag so that ``True`` never equals ``1``.
    """
    if value is None:
        return ("z", None)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return None


def is_number(value: object) -> bool:
    """True for ints and floats, False for booleans."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def extract(metadata: Mapping[str, Any] | None, path: str) -> tuple[bool, Any]:
    """``(found, value)`` of a field path in a metadata object (see the module docstring)."""
    if metadata is None:
        return False, None
    if path in metadata:
        return True, metadata[path]
    if "." not in path:
        return False, None
    cur: Any = metadata
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def _check_field(path: str, field: object) -> str:
    if not isinstance(field, str) or not field:
        raise _invalid(path, "a field name must be a non-empty string", expected="field name", actual=field)
    return field


def _check_scalar(path: str, value: object) -> Scalar:
    if isinstance(value, int) and not isinstance(value, bool) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        raise _invalid(
            path, "numbers must lie within the float range", expected="finite number", actual=value
        )
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(path, "numbers must be finite", expected="finite number", actual=value)
        return value
    raise _invalid(
        path, "expected a JSON scalar (string, number, boolean or null)", expected="scalar", actual=value
    )


def _check_bound(path: str, value: object) -> float | int | None:
    if value is None:
        return None
    if not is_number(value):
        raise _invalid(path, "range bounds must be numbers", expected="number", actual=value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(path, "range bounds must be finite", expected="finite number", actual=value)
    if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        raise _invalid(
            path, "range bounds must lie within the float range", expected="finite number", actual=value
        )
    return value  # type: ignore[return-value]  # is_number narrowed it


class MetadataFilter:
    """Base of every metadata filter; combine with ``&``, ``|`` and ``~``.

    Every place that takes a filter also takes the Mongo-like dict form
    (``{"category": "tech", "year": {"$gte": 2020}, "tags": {"$in": ["rust", "wasm"]}}``);
    ``MetadataFilter.from_dict`` converts it, and the result equals the object form.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()
    op: ClassVar[str] = ""

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:  # pragma: no cover - abstract
        """Whether a record with this metadata passes the filter (the reference semantics)."""
        raise AssertionError("abstract")

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """The canonical dict form; ``from_dict(f.to_dict()) == f``."""
        raise AssertionError("abstract")

    def fields(self) -> frozenset[str]:  # pragma: no cover - abstract
        """Every field path the filter reads."""
        raise AssertionError("abstract")

    @staticmethod
    def from_dict(data: FilterLike) -> MetadataFilter:
        """Parse the dict form (a ``MetadataFilter`` is returned unchanged).

        Raises:
            ValidationError: code ``vector.invalid_filter``; ``field`` names the offending path.
        """
        return parse_filter(data)

    def __and__(self, other: MetadataFilter) -> MetadataFilter:
        return And(self, other)

    def __or__(self, other: MetadataFilter) -> MetadataFilter:
        return Or(self, other)

    def __invert__(self) -> MetadataFilter:
        return Not(self)


@dataclass(frozen=True, slots=True)
class _FieldFilter(MetadataFilter):
    """A test of one field's value; a ``negated`` kind matches where the field is missing too."""

    field: str

    negated: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_field("field", self.field)

    def _test(self, value: Any) -> bool:  # pragma: no cover - abstract
        """Whether the field's (present) value passes."""
        raise AssertionError("abstract")

    def _operand(self) -> Any:  # pragma: no cover - abstract
        """The operator's argument in the dict form."""
        raise AssertionError("abstract")

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        found, value = extract(metadata, self.field)
        return (found and self._test(value)) != self.negated

    def to_dict(self) -> dict[str, Any]:
        return {self.field: {self.op: self._operand()}}

    def fields(self) -> frozenset[str]:
        return frozenset((self.field,))


@dataclass(frozen=True, slots=True)
class _ScalarFilter(_FieldFilter):
    value: Scalar

    def __post_init__(self) -> None:
        _check_field("field", self.field)
        _check_scalar(self.field, self.value)

    def _test(self, value: Any) -> bool:
        return _eq_any(value, scalar_key(self.value))

    def _operand(self) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class Eq(_ScalarFilter):
    """The field equals ``value`` (a list-valued field: contains it)."""

    op: ClassVar[str] = "$eq"


@dataclass(frozen=True, slots=True)
class Ne(_ScalarFilter):
    """Not ``Eq``: matches records where the field is missing too."""

    op: ClassVar[str] = "$ne"
    negated: ClassVar[bool] = True


def _as_values(path: str, values: object) -> tuple[Scalar, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise _invalid(path, "expected a list of values", expected="list", actual=values)
    return tuple(_check_scalar(f"{path}[{i}]", v) for i, v in enumerate(values))


@dataclass(frozen=True, slots=True)
class _ValuesFilter(_FieldFilter):
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        _check_field("field", self.field)
        object.__setattr__(self, "values", _as_values(self.field, self.values))

    def _test(self, value: Any) -> bool:
        return _in_any(value, self.values)

    def _operand(self) -> Any:
        return list(self.values)


@dataclass(frozen=True, slots=True)
class In(_ValuesFilter):
    """The field equals (or, for a list, contains) any of ``values``; ``In(f, [])`` matches nothing."""

    op: ClassVar[str] = "$in"


@dataclass(frozen=True, slots=True)
class NotIn(_ValuesFilter):
    """Not ``In``: matches records where the field is missing too."""

    op: ClassVar[str] = "$nin"
    negated: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Range(_FieldFilter):
    """A numeric interval; give at least one bound (``gt`` or ``gte``, ``lt`` or ``lte``)."""

    gt: float | int | None = None
    gte: float | int | None = None
    lt: float | int | None = None
    lte: float | int | None = None

    op: ClassVar[str] = "$range"

    def __post_init__(self) -> None:
        _check_field("field", self.field)
        for name in ("gt", "gte", "lt", "lte"):
            _check_bound(f"{self.field}.${name}", getattr(self, name))
        if self.gt is None and self.gte is None and self.lt is None and self.lte is None:
            raise _invalid(self.field, "a range needs at least one bound", expected="$gt/$gte/$lt/$lte")
        if self.gt is not None and self.gte is not None:
            raise _invalid(self.field, "give $gt or $gte, not both")
        if self.lt is not None and self.lte is not None:
            raise _invalid(self.field, "give $lt or $lte, not both")

    def bounds(self) -> tuple[float, bool, float, bool]:
        """``(low, low_inclusive, high, high_inclusive)`` as floats (infinite when absent)."""
        lo, lo_inc = -math.inf, True
        hi, hi_inc = math.inf, True
        if self.gt is not None:
            lo, lo_inc = float(self.gt), False
        elif self.gte is not None:
            lo = float(self.gte)
        if self.lt is not None:
            hi, hi_inc = float(self.lt), False
        elif self.lte is not None:
            hi = float(self.lte)
        return lo, lo_inc, hi, hi_inc

    def _test(self, value: Any) -> bool:
        lo, lo_inc, hi, hi_inc = self.bounds()

        def inside(x: object) -> bool:
            if not is_number(x):
                return False
            f = float(x)  # type: ignore[arg-type]  # is_number narrowed it
            return (f >= lo if lo_inc else f > lo) and (f <= hi if hi_inc else f < hi)

        if isinstance(value, list):
            return any(inside(v) for v in value)
        return inside(value)

    def to_dict(self) -> dict[str, Any]:
        ops = {f"${name}": getattr(self, name) for name in ("gt", "gte", "lt", "lte")}
        return {self.field: {k: v for k, v in ops.items() if v is not None}}


@dataclass(frozen=True, slots=True)
class Exists(_FieldFilter):
    """The field is present (possibly ``null``); ``{"f": {"$exists": False}}`` is ``Not(Exists(f))``."""

    op: ClassVar[str] = "$exists"

    def _test(self, value: Any) -> bool:
        return True

    def _operand(self) -> Any:
        return True


def _flatten(cls: type[_Group], filters: Sequence[object]) -> tuple[MetadataFilter, ...]:
    if len(filters) == 1 and not isinstance(filters[0], MetadataFilter | Mapping):
        items = filters[0]
        if not isinstance(items, Iterable):
            raise _invalid(cls.op, "expected filters", actual=items)
        filters = list(items)
    out: list[MetadataFilter] = []
    for i, f in enumerate(filters):
        parsed = parse_filter(f, f"{cls.op}[{i}]")
        if type(parsed) is cls:
            out.extend(parsed.filters)
        else:
            out.append(parsed)
    return tuple(out)


@dataclass(frozen=True, slots=True, init=False)
class _Group(MetadataFilter):
    """A combination of sub-filters (``And``/``Or``); nested groups of the same kind are flattened."""

    filters: tuple[MetadataFilter, ...]

    def __init__(self, *filters: MetadataFilter | Mapping[str, Any] | Iterable[MetadataFilter]) -> None:
        object.__setattr__(self, "filters", _flatten(type(self), filters))

    def to_dict(self) -> dict[str, Any]:
        return {self.op: [f.to_dict() for f in self.filters]}

    def fields(self) -> frozenset[str]:
        return frozenset().union(*(f.fields() for f in self.filters))


@dataclass(frozen=True, slots=True, init=False)
class And(_Group):
    """Every sub-filter matches; ``And(a, b)`` or ``And([a, b])``; nested ``And``s are flattened."""

    op: ClassVar[str] = "$and"

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        return all(f.matches(metadata) for f in self.filters)


@dataclass(frozen=True, slots=True, init=False)
class Or(_Group):
    """Any sub-filter matches; ``Or()`` matches nothing; nested ``Or``s are flattened."""

    op: ClassVar[str] = "$or"

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        return any(f.matches(metadata) for f in self.filters)


@dataclass(frozen=True, slots=True)
class Not(MetadataFilter):
    """The sub-filter does not match."""

    filter: MetadataFilter

    op: ClassVar[str] = "$not"

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter", parse_filter(self.filter, "$not"))

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        return not self.filter.matches(metadata)

    def to_dict(self) -> dict[str, Any]:
        return {"$not": self.filter.to_dict()}

    def fields(self) -> frozenset[str]:
        return self.filter.fields()


def _eq_any(value: object, key: tuple[str, Any] | None) -> bool:
    if isinstance(value, list):
        return any(scalar_key(v) == key for v in value)
    return scalar_key(value) == key


def _in_any(value: object, values: tuple[Scalar, ...]) -> bool:
    keys = {scalar_key(v) for v in values}
    if isinstance(value, list):
        return any(scalar_key(v) in keys for v in value)
    return scalar_key(value) in keys


_RANGE_OPS: Final = ("$gt", "$gte", "$lt", "$lte")
_FIELD_OPS: Final = frozenset({"$eq", "$ne", "$in", "$nin", "$exists", *_RANGE_OPS})


def _parse_field(field: str, spec: object, path: str) -> MetadataFilter:
    if isinstance(spec, Mapping):
        if not spec:
            raise _invalid(path, "an operator object needs at least one operator", expected="{$op: value}")
        parts: list[MetadataFilter] = []
        range_args: dict[str, Any] = {}
        range_pos = -1
        for op, arg in spec.items():
            op_path = f"{path}.{op}"
            if op not in _FIELD_OPS:
                if isinstance(op, str) and not op.startswith("$"):
                    raise _invalid(
                        op_path,
                        "nested objects are not matched as values; use a dotted field path",
                        expected="operator",
                        actual=op,
                    )
                raise _invalid(op_path, "unknown operator", expected=", ".join(sorted(_FIELD_OPS)), actual=op)
            if op == "$eq":
                parts.append(Eq(field, _check_scalar(op_path, arg)))
            elif op == "$ne":
                parts.append(Ne(field, _check_scalar(op_path, arg)))
            elif op == "$in":
                parts.append(In(field, _as_values(op_path, arg)))
            elif op == "$nin":
                parts.append(NotIn(field, _as_values(op_path, arg)))
            elif op == "$exists":
                if not isinstance(arg, bool):
                    raise _invalid(op_path, "$exists takes true or false", expected="bool", actual=arg)
                parts.append(Exists(field) if arg else Not(Exists(field)))
            else:
                range_args[op[1:]] = _check_bound(op_path, arg)
                if range_pos < 0:
                    range_pos = len(parts)
                    parts.append(Exists(field))  # placeholder, replaced below
        if range_pos >= 0:
            try:
                parts[range_pos] = Range(field, **range_args)
            except ValidationError as exc:
                raise _invalid(path, exc.message.split(": ", 1)[-1]) from None
        return parts[0] if len(parts) == 1 else And(*parts)
    if isinstance(spec, list | tuple):
        raise _invalid(path, "a list is not a value; use {'$in': [...]} to match any of several values")
    return Eq(field, _check_scalar(path, spec))


def parse_filter(data: object, path: str = "filter") -> MetadataFilter:
    """Parse the Mongo-like dict form; ``MetadataFilter`` instances pass through.

    Operators: ``$eq $ne $in $nin $gt $gte $lt $lte $exists`` on a field; ``$and $or`` (lists)
    and ``$not`` (an object) at any level. Several keys in one object are ANDed.

    Raises:
        ValidationError: code ``vector.invalid_filter``; ``field`` names the offending path
            (for example ``filter.$or[1].year.$gte``).

    .. versionadded:: 0.1.0
    """
    if isinstance(data, MetadataFilter):
        if isinstance(data, And | Or | Not):
            check_depth(data, path)
        return data
    if _depth(path) > MAX_FILTER_DEPTH:
        raise _invalid(
            path, f"filters nest deeper than {MAX_FILTER_DEPTH} levels", expected="shallower filter"
        )
    if not isinstance(data, Mapping):
        raise _invalid(path, "a filter must be a MetadataFilter or a dict", expected="dict", actual=data)
    parts: list[MetadataFilter] = []
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise _invalid(path, "keys must be non-empty strings", actual=key)
        sub = f"{path}.{key}"
        if key in ("$and", "$or"):
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
                raise _invalid(sub, f"{key} takes a list of filters", expected="list", actual=value)
            children = [parse_filter(v, f"{sub}[{i}]") for i, v in enumerate(value)]
            parts.append(And(*children) if key == "$and" else Or(*children))
        elif key == "$not":
            if not isinstance(value, Mapping | MetadataFilter):
                raise _invalid(sub, "$not takes one filter object", expected="dict", actual=value)
            parts.append(Not(parse_filter(value, sub)))
        elif key.startswith("$"):
            raise _invalid(sub, "unknown top-level operator", expected="$and, $or, $not", actual=key)
        else:
            parts.append(_parse_field(key, value, sub))
    if len(parts) == 1:
        return parts[0]
    return And(*parts)


def _depth(path: str) -> int:
    return path.count("$and") + path.count("$or") + path.count("$not")


def check_depth(flt: MetadataFilter, path: str = "filter") -> None:
    """Refuse a filter object nested deeper than ``MAX_FILTER_DEPTH`` (checked without recursion)."""
    stack: list[tuple[MetadataFilter, int]] = [(flt, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise _invalid(
                path, f"filters nest deeper than {MAX_FILTER_DEPTH} levels", expected="shallower filter"
            )
        if isinstance(node, And | Or):
            stack.extend((child, depth + 1) for child in node.filters)
        elif isinstance(node, Not):
            stack.append((node.filter, depth + 1))


def iter_leaves(f: MetadataFilter) -> Iterator[MetadataFilter]:
    """Every leaf filter (not And/Or/Not) of a filter tree."""
    if isinstance(f, And | Or):
        for child in f.filters:
            yield from iter_leaves(child)
    elif isinstance(f, Not):
        yield from iter_leaves(f.filter)
    else:
        yield f
