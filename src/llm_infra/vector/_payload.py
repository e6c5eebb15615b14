"""The payload index: per-field columns over metadata, evaluated to boolean masks with numpy.

One ``_Column`` per indexed field path holds, per slot, the code of a scalar value (or a marker
for missing / list / object values), the value as float64 when it is a number, and presence.
List-valued slots are kept in small posting sets (membership semantics). Evaluating a filter
yields a boolean mask over all slots in a handful of vectorised operations; its popcount is the
filter's exact selectivity, which the planner uses to pick an exact scan or a graph search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from llm_infra.vector._filters import (
    And,
    Eq,
    Exists,
    In,
    MetadataFilter,
    Ne,
    Not,
    NotIn,
    Or,
    Range,
    extract,
    is_number,
    scalar_key,
)

BoolArray = npt.NDArray[np.bool_]

ABSENT: Final = object()
"""Marks a slot whose metadata lacks the field (``bulk`` input)."""

_MISSING_CODE: Final = -1
_LIST_CODE: Final = -2
_OBJECT_CODE: Final = -3


def grow(arr: np.ndarray, size: int, fill: Any) -> np.ndarray:
    """``arr`` with room for ``size`` entries (doubling)."""
    if size <= arr.shape[0]:
        return arr
    new = np.full(max(size, 2 * arr.shape[0], 64), fill, dtype=arr.dtype)
    new[: arr.shape[0]] = arr
    return new


class _Column:
    """Per-slot values of one field path."""

    __slots__ = (
        "_list_arrays",
        "_pairs",
        "codes",
        "list_keys",
        "list_post",
        "nums",
        "present",
        "value_to_code",
    )

    def __init__(self) -> None:
        self.codes = np.full(64, _MISSING_CODE, dtype=np.int32)
        self.nums = np.full(64, np.nan, dtype=np.float64)
        self.present = np.zeros(64, dtype=np.bool_)
        self.value_to_code: dict[tuple[str, Any], int] = {}
        self.list_post: dict[int, set[int]] = {}
        self.list_keys: dict[int, tuple[int, ...]] = {}
        self._list_arrays: dict[int, np.ndarray] = {}
        self._pairs: tuple[np.ndarray, np.ndarray] | None = None

    def _code(self, key: tuple[str, Any]) -> int:
        code = self.value_to_code.get(key)
        if code is None:
            code = len(self.value_to_code)
            self.value_to_code[key] = code
        return code

    def reserve(self, size: int) -> None:
        self.codes = grow(self.codes, size, _MISSING_CODE)
        self.nums = grow(self.nums, size, np.nan)
        self.present = grow(self.present, size, False)

    def set(self, slot: int, found: bool, value: Any) -> None:
        """Record the value of the field for ``slot`` (replacing any previous one)."""
        old = self.list_keys.pop(slot, None)
        if old is not None:
            for code in old:
                self.list_post[code].discard(slot)
                self._list_arrays.pop(code, None)
            self._pairs = None
        self.present[slot] = found
        self.nums[slot] = np.nan
        if not found:
            self.codes[slot] = _MISSING_CODE
            return
        key = scalar_key(value)
        if key is not None:
            self.codes[slot] = self._code(key)
            if is_number(value):
                self.nums[slot] = float(value)
            return
        if isinstance(value, list):
            self.codes[slot] = _LIST_CODE
            codes: list[int] = []
            for v in value:
                k = scalar_key(v)
                if k is None:
                    continue
                code = self._code(k)
                if code not in codes:
                    codes.append(code)
                self.list_post.setdefault(code, set()).add(slot)
                self._list_arrays.pop(code, None)
                if is_number(v):
                    self._pairs = None
            self.list_keys[slot] = tuple(codes)
            return
        self.codes[slot] = _OBJECT_CODE

    def bulk(self, values: list[Any]) -> None:
        """Index slots ``[0, len(values))`` of a fresh column in one pass (``ABSENT`` = missing).

        The per-value work is a type dispatch and a dict lookup; arrays are built at the end.
        """
        n = len(values)
        codes: list[int] = [_MISSING_CODE] * n
        nums: list[float] = [np.nan] * n
        present: list[bool] = [False] * n
        v2c = self.value_to_code
        for slot, value in enumerate(values):
            if value is ABSENT:
                continue
            present[slot] = True
            kind = type(value)
            if kind is str:
                key: tuple[str, Any] = ("s", value)
            elif kind is int or kind is float:
                key = ("n", value)
                nums[slot] = float(value)
            elif kind is bool:
                key = ("b", value)
            elif value is None:
                key = ("z", None)
            elif kind is list:
                self.set(slot, True, value)
                codes[slot] = _LIST_CODE
                continue
            else:
                codes[slot] = _OBJECT_CODE
                continue
            code = v2c.get(key)
            if code is None:
                code = v2c[key] = len(v2c)
            codes[slot] = code
        size = max(n, self.codes.shape[0])
        self.codes = np.full(size, _MISSING_CODE, dtype=np.int32)
        self.nums = np.full(size, np.nan, dtype=np.float64)
        self.present = np.zeros(size, dtype=np.bool_)
        self.codes[:n] = codes
        self.nums[:n] = nums
        self.present[:n] = present

    def _list_slots(self, code: int) -> np.ndarray | None:
        members = self.list_post.get(code)
        if not members:
            return None
        arr = self._list_arrays.get(code)
        if arr is None:
            arr = np.fromiter(members, dtype=np.int64, count=len(members))
            self._list_arrays[code] = arr
        return arr

    def _numeric_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(slots, values) of every numeric list element, rebuilt after list changes."""
        if self._pairs is None:
            number_codes = {c: float(k[1]) for k, c in self.value_to_code.items() if k[0] == "n"}
            slots: list[int] = []
            vals: list[float] = []
            for code, val in number_codes.items():
                for slot in self.list_post.get(code, ()):
                    slots.append(slot)
                    vals.append(val)
            self._pairs = (np.asarray(slots, dtype=np.int64), np.asarray(vals, dtype=np.float64))
        return self._pairs

    def eq_mask(self, values: Iterable[object], n: int) -> BoolArray:
        codes = [c for c in (self.value_to_code.get(scalar_key(v)) for v in values) if c is not None]  # type: ignore[arg-type]  # keys are hashable
        if not codes:
            return np.zeros(n, dtype=np.bool_)
        view = self.codes[:n]
        mask = view == codes[0] if len(codes) == 1 else np.isin(view, np.asarray(codes, dtype=np.int32))
        for code in codes:
            slots = self._list_slots(code)
            if slots is not None:
                mask[slots[slots < n]] = True
        return mask

    def range_mask(self, f: Range, n: int) -> BoolArray:
        lo, lo_inc, hi, hi_inc = f.bounds()
        view = self.nums[:n]
        mask = np.ones(n, dtype=np.bool_)
        # NaN (missing, non-numeric) compares False in every comparison below.
        if lo != -np.inf or not lo_inc:
            mask &= view >= lo if lo_inc else view > lo
        if hi != np.inf or not hi_inc:
            mask &= view <= hi if hi_inc else view < hi
        else:
            mask &= ~np.isnan(view)
        slots, vals = self._numeric_pairs()
        if slots.size:
            sel = (vals >= lo if lo_inc else vals > lo) & (vals <= hi if hi_inc else vals < hi) & (slots < n)
            mask[slots[sel]] = True
        return mask


class PayloadIndex:
    """Columns for the indexed field paths and filter evaluation to masks.

    ``source(slot)`` returns the decoded metadata of a slot (or None); it backfills a column
    the first time a filter uses a field that is not indexed yet.
    """

    __slots__ = ("_columns", "_size")

    def __init__(self, fields: Iterable[str] = ()) -> None:
        self._columns: dict[str, _Column] = {f: _Column() for f in fields}
        self._size = 0

    @property
    def fields(self) -> tuple[str, ...]:
        """The indexed field paths."""
        return tuple(self._columns)

    def reserve(self, size: int) -> None:
        """Make room for slots ``[0, size)``."""
        self._size = max(self._size, size)
        for col in self._columns.values():
            col.reserve(size)

    def set(self, slot: int, metadata: dict[str, Any] | None) -> None:
        """Index (or re-index) one slot's metadata."""
        for path, col in self._columns.items():
            found, value = extract(metadata, path)
            col.set(slot, found, value)

    def ensure(self, paths: Iterable[str], n: int, source: Callable[[int], dict[str, Any] | None]) -> None:
        """Create and backfill columns for field paths used by a filter."""
        new = [p for p in paths if p not in self._columns]
        if new:
            self._columns.update(_build(new, [source(slot) for slot in range(n)], max(n, self._size)))

    def rebuild(self, metas: list[dict[str, Any] | None]) -> None:
        """Re-index every column from scratch over ``metas`` (one entry per slot)."""
        self._size = max(self._size, len(metas))
        if self._columns:
            self._columns = _build(list(self._columns), metas, self._size)

    def evaluate(self, f: MetadataFilter, n: int) -> BoolArray:
        """The mask of slots ``[0, n)`` whose metadata passes ``f`` (dead slots not removed)."""
        if isinstance(f, And):
            mask = np.ones(n, dtype=np.bool_)
            for child in f.filters:
                mask &= self.evaluate(child, n)
            return mask
        if isinstance(f, Or):
            mask = np.zeros(n, dtype=np.bool_)
            for child in f.filters:
                mask |= self.evaluate(child, n)
            return mask
        if isinstance(f, Not):
            return ~self.evaluate(f.filter, n)
        if isinstance(f, Eq):
            return self._columns[f.field].eq_mask((f.value,), n)
        if isinstance(f, Ne):
            return ~self._columns[f.field].eq_mask((f.value,), n)
        if isinstance(f, In):
            return self._columns[f.field].eq_mask(f.values, n)
        if isinstance(f, NotIn):
            return ~self._columns[f.field].eq_mask(f.values, n)
        if isinstance(f, Range):
            return self._columns[f.field].range_mask(f, n)
        if isinstance(f, Exists):
            return self._columns[f.field].present[:n].copy()
        # Custom MetadataFilter subclasses fall back to their own matches().
        raise TypeError(type(f).__name__)

    def memory_bytes(self) -> int:
        """Approximate bytes held by the columns."""
        total = 0
        for col in self._columns.values():
            total += col.codes.nbytes + col.nums.nbytes + col.present.nbytes
            total += 64 * len(col.value_to_code) + 40 * sum(len(s) for s in col.list_post.values())
        return total


def _build(paths: list[str], metas: list[dict[str, Any] | None], size: int) -> dict[str, _Column]:
    columns: dict[str, _Column] = {}
    for path in paths:
        values: list[Any] = []
        append = values.append
        for meta in metas:
            if meta is None:
                append(ABSENT)
            elif path in meta:
                append(meta[path])
            else:
                found, value = extract(meta, path)
                append(value if found else ABSENT)
        col = _Column()
        col.reserve(size)
        col.bulk(values)
        columns[path] = col
    return columns
