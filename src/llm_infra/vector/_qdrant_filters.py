"""Exact ``MetadataFilter`` semantics on Qdrant through derived payload fields.

Qdrant's own matching differs from ``MetadataFilter.matches`` in corners (``1 == 1.0``,
``True`` vs ``1``, ``null``, present-but-null, dotted keys), so each point carries, beside its
metadata (``m``) and original id (``id``):

- ``_k``: one keyword token per (field path, scalar value) and per present path, so ``Eq``,
  ``In`` and ``Exists`` are one ``MatchValue``/``MatchAny`` on an indexed keyword field, list
  membership included;
- ``_n``: ``{path hash: [numbers]}``, so ``Range`` is a native Qdrant range (any element).

Negations map to ``must_not``, which matches points missing the field, as ``matches`` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from llm_infra.vector import _filters as filters

TOKENS: Final = "_k"
NUMBERS: Final = "_n"
_SEP: Final = "\x1f"
_NEVER: Final = "\x00never"


def path_key(path: str) -> str:
    """The ``_n`` sub-key of a field path (a hash: paths may contain dots)."""
    return "p" + hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest()[:16]


def value_token(path: str, value: object) -> str | None:
    """The token of ``path == value`` for a JSON scalar (None for lists and objects).

    Numbers are canonical (``1`` and ``1.0`` share a token); booleans and null have their own tag.
    """
    if value is None:
        tag = "z:"
    elif isinstance(value, bool):
        tag = "b:" + ("1" if value else "0")
    elif isinstance(value, int):
        tag = f"n:{value}"
    elif isinstance(value, float):
        tag = f"n:{int(value)}" if value.is_integer() else f"n:{value!r}"
    elif isinstance(value, str):
        tag = "s:" + value
    else:
        return None
    return f"{path}{_SEP}{tag}"


def _paths(meta: Mapping[str, Any], prefix: str, out: set[str]) -> None:
    for key, value in meta.items():
        path = f"{prefix}{key}"
        out.add(path)
        if isinstance(value, Mapping):
            _paths(value, f"{path}.", out)


def derive(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The derived payload (``_k`` tokens and ``_n`` numbers) of a metadata object."""
    tokens: list[str] = []
    numbers: dict[str, list[float]] = {}
    if meta:
        paths: set[str] = set()
        _paths(meta, "", paths)
        for path in sorted(paths):
            found, value = filters.extract(meta, path)
            if not found:
                continue
            tokens.append(f"{path}{_SEP}?")
            values = value if isinstance(value, list) else [value]
            nums: list[float] = []
            for v in values:
                token = value_token(path, v)
                if token is not None:
                    tokens.append(token)
                if filters.is_number(v):
                    nums.append(float(v))
            if nums:
                numbers[path_key(path)] = nums
    return {TOKENS: tokens, NUMBERS: numbers}


def to_qdrant(flt: filters.MetadataFilter, models: Any) -> Any:
    """The ``qdrant_client.models.Filter`` selecting exactly what ``flt.matches`` accepts."""
    return models.Filter(must=[_condition(flt, models)])


def _never(models: Any) -> Any:
    return models.FieldCondition(key=TOKENS, match=models.MatchValue(value=_NEVER))


def _condition(flt: filters.MetadataFilter, models: Any) -> Any:
    if isinstance(flt, filters.And):
        return models.Filter(must=[_condition(c, models) for c in flt.filters])
    if isinstance(flt, filters.Or):
        if not flt.filters:
            return models.Filter(must=[_never(models)])
        return models.Filter(should=[_condition(c, models) for c in flt.filters])
    if isinstance(flt, filters.Not):
        return models.Filter(must_not=[_condition(flt.filter, models)])
    if isinstance(flt, filters.Ne):
        return models.Filter(must_not=[_condition(filters.Eq(flt.field, flt.value), models)])
    if isinstance(flt, filters.NotIn):
        return models.Filter(must_not=[_condition(filters.In(flt.field, flt.values), models)])
    if isinstance(flt, filters.Eq):
        return models.FieldCondition(
            key=TOKENS, match=models.MatchValue(value=value_token(flt.field, flt.value))
        )
    if isinstance(flt, filters.In):
        if not flt.values:
            return _never(models)
        tokens = [value_token(flt.field, v) for v in flt.values]
        return models.FieldCondition(key=TOKENS, match=models.MatchAny(any=tokens))
    if isinstance(flt, filters.Exists):
        return models.FieldCondition(key=TOKENS, match=models.MatchValue(value=f"{flt.field}{_SEP}?"))
    if isinstance(flt, filters.Range):
        return models.FieldCondition(
            key=f"{NUMBERS}.{path_key(flt.field)}",
            range=models.Range(gt=flt.gt, gte=flt.gte, lt=flt.lt, lte=flt.lte),
        )
    raise AssertionError(f"unknown filter {flt!r}")  # pragma: no cover
