"""``Secret[T]``: a value that masks itself everywhere except ``.reveal()``.

The wrapped value is not an attribute of the ``Secret``: the instance holds only an opaque
handle (a bare ``object()``), and the value lives in a module-level store keyed by that handle.
Format strings can follow attributes and index with ints or strings only, so
``"{0._value}".format(s)``, ``"{0.__dict__}"`` or ``"{0.reveal.__globals__[...]}"`` reach the
handle or the masked store, never the value.
"""

from __future__ import annotations

import hmac
from typing import Any, Generic, NoReturn, TypeVar, final

T = TypeVar("T")

MASK = "**********"


@final
class _Store(dict[object, Any]):
    """The values of live secrets, keyed by their handles; it never shows its content."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<secret store: {len(self)} values>"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("the secret store cannot be pickled")


_VALUES = _Store()


@final
class Secret(Generic[T]):
    """Wrap a sensitive value so that it never reaches logs, reprs, errors or JSON by accident.

    ``repr`` and ``str`` give ``Secret('**********')``; formatting, logging and
    ``llm_infra.json.dumps`` give the mask; pickling and copying to text raise. Equality
    between two secrets of ``str``/``bytes`` runs in constant time. Read the value with
    ``.reveal()``, as late as possible.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_handle",)

    def __init__(self, value: T) -> None:
        handle = object()
        _VALUES[handle] = value  # one dict operation: atomic, and no lock a finalizer could wait on
        object.__setattr__(self, "_handle", handle)

    def reveal(self) -> T:
        """Return the wrapped value. Call it at the point of use only."""
        value: T = _VALUES[object.__getattribute__(self, "_handle")]
        return value

    def __del__(self, _values: _Store = _VALUES) -> None:
        try:
            handle = object.__getattribute__(self, "_handle")
        except AttributeError:  # __init__ did not finish
            return
        _values.pop(handle, None)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, format_spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = self.reveal(), other.reveal()
        if isinstance(mine, str) and isinstance(theirs, str):
            return hmac.compare_digest(mine.encode(), theirs.encode())
        if isinstance(mine, bytes | bytearray) and isinstance(theirs, bytes | bytearray):
            return hmac.compare_digest(bytes(mine), bytes(theirs))
        return bool(mine == theirs)

    def __hash__(self) -> int:
        # Hash of the type only: a hash of the value would leak information about it.
        return hash(Secret)

    def __bool__(self) -> bool:
        return bool(self.reveal())

    def __len__(self) -> NoReturn:
        raise TypeError("len() of a Secret is not available; use len(secret.reveal())")

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; reveal() it explicitly if you must serialize it")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; reveal() it explicitly if you must serialize it")

    def __copy__(self) -> Secret[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret[T]:
        return self


def reveal(value: object) -> object:
    """Reveal ``value`` when it is a ``Secret``; return anything else unchanged."""
    return value.reveal() if isinstance(value, Secret) else value
