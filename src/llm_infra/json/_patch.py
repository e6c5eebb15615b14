"""RFC 7386 merge patch, RFC 6901 JSON Pointer and structural diff over decoded JSON values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import unquote

from llm_infra.errors import NotFoundError, ValidationError
from llm_infra.json import _codes

_MISSING: Final[Any] = object()


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 (RFC 7396) JSON merge patch and return the result.

    An object patch merges member by member, ``None`` (JSON ``null``) deletes a member, and any
    other patch value replaces the target. Neither argument is modified; the result shares
    unchanged sub-values with them.

    .. versionadded:: 0.1.0
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def escape_token(token: str) -> str:
    """Escape one reference token for a JSON Pointer (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def _invalid(pointer: str, why: str) -> ValidationError:
    return ValidationError(
        f"invalid JSON Pointer {pointer!r}: {why}",
        field="pointer",
        expected="an RFC 6901 JSON Pointer such as '/a/0/b'",
        actual=pointer,
        code=_codes.INVALID_POINTER,
    )


def parse_pointer(pointer: str) -> list[str]:
    """Split an RFC 6901 pointer into unescaped reference tokens.

    Accepts the plain form (``/a/b``) and the URI fragment form (``#/a/b``, percent-decoded).

    Raises:
        ValidationError: ``json.invalid_pointer`` for a pointer not starting with ``/`` or with a
            ``~`` not followed by ``0`` or ``1``.
    """
    text = unquote(pointer[1:]) if pointer.startswith("#") else pointer
    if text == "":
        return []
    if not text.startswith("/"):
        raise _invalid(pointer, "it must be empty or start with '/'")
    tokens = text[1:].split("/")
    for token in tokens:
        index = token.find("~")
        while index != -1:
            if token[index + 1 : index + 2] not in ("0", "1"):
                raise _invalid(pointer, "'~' must be followed by '0' or '1'")
            index = token.find("~", index + 2)
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _array_index(part: str, length: int, pointer: str, *, allow_end: bool) -> int:
    if part == "-":
        if allow_end:
            return length
        raise _not_found(pointer, "'-' names the element after the last one")
    if not part.isdigit() or not part.isascii() or (len(part) > 1 and part[0] == "0"):
        raise _invalid(pointer, f"{part!r} is not an array index")
    index = int(part)
    if index > length or (index == length and not allow_end):
        raise _not_found(pointer, f"index {index} is out of range")
    return index


def _not_found(pointer: str, why: str) -> NotFoundError:
    return NotFoundError(
        f"JSON Pointer {pointer!r} does not resolve: {why}",
        resource_type="json_pointer",
        resource_id=pointer,
        code=_codes.POINTER_NOT_FOUND,
    )


def pointer_get(doc: Any, pointer: str, default: Any = _MISSING) -> Any:
    """Return the value that ``pointer`` (RFC 6901) names in ``doc``.

    Args:
        doc: a decoded JSON value (dicts and lists).
        pointer: ``""`` for the whole document, else ``/``-separated tokens (``~0``, ``~1`` escapes).
        default: returned when the pointer does not resolve; without it a ``NotFoundError`` is raised.

    Raises:
        NotFoundError: ``json.pointer_not_found`` when a member or index is missing.
        ValidationError: ``json.invalid_pointer`` for a malformed pointer or array index.

    .. versionadded:: 0.1.0
    """
    current = doc
    try:
        for token in parse_pointer(pointer):
            if isinstance(current, dict):
                if token not in current:
                    raise _not_found(pointer, f"no member {token!r}")
                current = current[token]
            elif isinstance(current, list):
                current = current[_array_index(token, len(current), pointer, allow_end=False)]
            else:
                raise _not_found(pointer, f"cannot descend into a {type(current).__name__}")
    except NotFoundError:
        if default is _MISSING:
            raise
        return default
    return current


def pointer_set(doc: Any, pointer: str, value: Any) -> Any:
    """Set the value at ``pointer`` in ``doc`` (in place) and return the document.

    Objects get the member added or replaced; in arrays an existing index is replaced and ``-``
    (or the index equal to the length) appends. The pointer ``""`` replaces the whole document,
    so always use the return value.

    Raises:
        NotFoundError: ``json.pointer_not_found`` when the parent does not exist.
        ValidationError: ``json.invalid_pointer`` for a malformed pointer or array index.

    .. versionadded:: 0.1.0
    """
    tokens = parse_pointer(pointer)
    if not tokens:
        return value
    parent = pointer_get(doc, "".join("/" + escape_token(t) for t in tokens[:-1]))
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = _array_index(last, len(parent), pointer, allow_end=True)
        if index == len(parent):
            parent.append(value)
        else:
            parent[index] = value
    else:
        raise _not_found(pointer, f"cannot set a member of a {type(parent).__name__}")
    return doc


@dataclass(frozen=True, slots=True)
class JsonChange:
    """One difference found by ``diff``: an RFC 6902 ``add``, ``remove`` or ``replace``.

    Attributes:
        op: the operation turning the old document into the new one.
        path: RFC 6901 pointer of the changed location.
        old: the previous value (None for ``add``).
        new: the new value (None for ``remove``).
    """

    op: Literal["add", "remove", "replace"]
    path: str
    old: Any = None
    new: Any = None

    def to_patch(self) -> dict[str, Any]:
        """This change as an RFC 6902 JSON Patch operation."""
        if self.op == "remove":
            return {"op": "remove", "path": self.path}
        return {"op": self.op, "path": self.path, "value": self.new}


def _same(a: Any, b: Any) -> bool:
    # JSON equality: bool is not a number, and 1 == 1.0 (one number type).
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    # Containers never get here: _diff descends into dict/dict and list/list pairs itself.
    return type(a) is type(b) and bool(a == b)


def diff(old: Any, new: Any) -> list[JsonChange]:
    """List the changes that turn ``old`` into ``new``, in an order valid as an RFC 6902 patch.

    Objects are compared member by member and arrays index by index (extra elements are added
    at the end, or removed from the end, highest index first). Applying the changes in order
    to ``old`` yields ``new``.

    .. versionadded:: 0.1.0
    """
    changes: list[JsonChange] = []
    _diff(old, new, "", changes)
    return changes


def _diff(old: Any, new: Any, path: str, out: list[JsonChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in old.items():
            sub = f"{path}/{escape_token(key)}"
            if key not in new:
                out.append(JsonChange("remove", sub, old=value))
            else:
                _diff(value, new[key], sub, out)
        out.extend(
            JsonChange("add", f"{path}/{escape_token(key)}", new=value)
            for key, value in new.items()
            if key not in old
        )
    elif isinstance(old, list) and isinstance(new, list):
        common = min(len(old), len(new))
        for index in range(common):
            _diff(old[index], new[index], f"{path}/{index}", out)
        out.extend(
            JsonChange("remove", f"{path}/{i}", old=old[i]) for i in range(len(old) - 1, common - 1, -1)
        )
        out.extend(JsonChange("add", f"{path}/{i}", new=new[i]) for i in range(common, len(new)))
    elif not _same(old, new):
        out.append(JsonChange("replace", path, old=old, new=new))
