"""Nested configuration trees: deep merge, lookup, leaves, freezing.

A tree is a ``dict`` of ``str`` to values; any ``Mapping`` value is a section, anything else
(scalars, lists, ``Secret``) is a leaf. ``None`` means "not set" and never enters a tree.

Merge rule (associative, property-tested): sections merge key by key, recursively; a leaf
replaces a leaf, and a list is a leaf, so a later list replaces an earlier one wholesale; a
section meeting a leaf is a conflict (``ConfigError``) whichever comes first. Raising on that
conflict is what keeps the merge associative: "replace a section by a scalar" followed by
"merge a section in" would give different answers depending on the grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NoReturn, TypeGuard

from llm_infra.secrets import MASK, Secret

Path = tuple[str, ...]
ConflictHandler = Callable[[Path], NoReturn]

_ABSENT: Any = object()

_LEAF_TYPES = frozenset({str, int, float, bool, bytes, type(None), list, tuple})


def is_mapping(value: object) -> TypeGuard[Mapping[str, object]]:
    """``isinstance(value, Mapping)`` with a fast path for the plain types parsers produce."""
    cls = type(value)
    if cls is dict:
        return True
    if cls in _LEAF_TYPES:
        return False
    return isinstance(value, Mapping)


MAX_DEPTH = 64
"""Deepest nesting of sections and lists a configuration document may have."""


def display(path: Path) -> str:
    """Dotted display name of a path; a segment that itself contains a dot is double-quoted."""
    return ".".join(f'"{part}"' if "." in part else part for part in path)


def freeze(value: object) -> object:
    """Make a leaf immutable: lists become tuples and mappings inside them read-only views."""
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    if is_mapping(value):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    return value


def copy_tree(tree: Mapping[str, object]) -> dict[str, object]:
    """A fresh tree with fresh section dicts, frozen leaves and ``None`` leaves dropped."""
    out: dict[str, object] = {}
    for key, value in tree.items():
        if is_mapping(value):
            out[key] = copy_tree(value)
        elif value is not None:
            out[key] = freeze(value) if isinstance(value, list | tuple) else value
    return out


def merge_into(
    dst: dict[str, object], src: Mapping[str, object], on_conflict: ConflictHandler, prefix: Path = ()
) -> None:
    """Merge ``src`` over ``dst`` in place (``dst`` must own its section dicts)."""
    for key, value in src.items():
        current = dst.get(key, _ABSENT)
        if is_mapping(value):
            if current is _ABSENT:
                dst[key] = copy_tree(value)
            elif isinstance(current, dict):
                merge_into(current, value, on_conflict, (*prefix, key))
            else:
                on_conflict((*prefix, key))
        elif value is not None:
            if is_mapping(current):
                on_conflict((*prefix, key))
            dst[key] = freeze(value) if isinstance(value, list | tuple) else value


def merge_trees(trees: list[Mapping[str, object]], on_conflict: ConflictHandler) -> dict[str, object]:
    """Merge trees left to right (later wins) into a new tree."""
    out: dict[str, object] = {}
    for tree in trees:
        merge_into(out, tree, on_conflict)
    return out


def lookup(tree: Mapping[str, object], path: Path) -> object:
    """The value at ``path`` or the module's ``_ABSENT`` sentinel (see ``is_absent``)."""
    node: object = tree
    for part in path:
        if not is_mapping(node):
            return _ABSENT
        node = node.get(part, _ABSENT)
        if node is _ABSENT:
            return _ABSENT
    return node


def is_absent(value: object) -> bool:
    """True for the sentinel ``lookup`` returns when a path is not set."""
    return value is _ABSENT


def set_path(tree: dict[str, object], path: Path, value: object, on_conflict: ConflictHandler) -> None:
    """Set ``path`` to ``value`` in a tree it owns, creating sections; conflicts call ``on_conflict``."""
    node = tree
    for index, part in enumerate(path[:-1]):
        child = node.get(part, _ABSENT)
        if child is _ABSENT:
            child = {}
            node[part] = child
        elif not isinstance(child, dict):
            on_conflict(path[: index + 1])
        node = child
    last = path[-1]
    if is_mapping(value):
        current = node.get(last, _ABSENT)
        if current is _ABSENT:
            node[last] = copy_tree(value)
        elif isinstance(current, dict):
            merge_into(current, value, on_conflict, path)
        else:
            on_conflict(path)
    elif value is not None:
        if is_mapping(node.get(last)):
            on_conflict(path)
        node[last] = value


def replace_leaf(tree: dict[str, object], path: Path, value: object) -> None:
    """Overwrite an existing value at ``path`` (the sections along it must be dicts)."""
    node: Any = tree
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def iter_leaves(tree: Mapping[str, object], prefix: Path = ()) -> Iterator[tuple[Path, object]]:
    """Every leaf as ``(path, value)``, depth first in insertion order."""
    for key, value in tree.items():
        if is_mapping(value):
            yield from iter_leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def thaw(value: object, *, reveal_secrets: bool, secret: bool = False) -> object:
    """Plain Python data for ``to_dict``: dicts, lists, and masks (or revealed values) for secrets."""
    if isinstance(value, Secret):
        if not reveal_secrets:
            return MASK
        return thaw(value.reveal(), reveal_secrets=True)
    if secret and not reveal_secrets:
        return MASK
    if is_mapping(value):
        return {k: thaw(v, reveal_secrets=reveal_secrets) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v, reveal_secrets=reveal_secrets) for v in value]
    return value


def expand_dotted(data: Mapping[Any, object], on_conflict: ConflictHandler) -> dict[str, object]:
    """A tree from a mapping whose top-level keys may be dotted (``{"vector.dimensions": 3}``).

    Only top-level keys are split; nested keys are taken literally, so a key containing a dot
    (an OTel resource attribute such as ``service.name``) can still be set by nesting it.
    """
    out: dict[str, object] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"configuration keys must be non-empty strings, got {key!r}")
        path = tuple(key.split("."))
        if any(not part for part in path):
            raise TypeError(f"invalid dotted key {key!r}: empty segment")
        set_path(out, path, _check_keys(value), on_conflict)
    return out


def _check_keys(value: object) -> object:
    if is_mapping(value):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"configuration keys must be non-empty strings, got {key!r}")
            _check_keys(item)
    return value


def too_deep(tree: object, limit: int = MAX_DEPTH) -> Path | None:
    """The path of the first container nested deeper than ``limit``, or None (iterative: no recursion)."""
    stack: list[tuple[object, Path]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            return path
        if is_mapping(node):
            items: Any = node.items()
        elif isinstance(node, list | tuple):
            items = enumerate(node)
        else:
            continue
        for key, value in items:
            cls = type(value)
            if cls is dict or cls is list or cls is tuple or (cls not in _LEAF_TYPES and is_mapping(value)):
                stack.append((value, (*path, str(key))))
    return None
