"""Small class-building helpers: ``readonly`` attributes and ``with``/``async with`` closing."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, Never, Self, TypeVar, overload

T = TypeVar("T")


class readonly(property, Generic[T]):  # noqa: N801 - used like the builtin ``property``
    """A public read-only attribute over a private one: ``size: readonly[int] = readonly("_size", "doc")``.

    ``attr`` may be dotted (``"_spec.limit"``). It is a ``property`` (reads run at C speed, ``help()``
    shows ``doc``, assignment raises ``AttributeError``) whose type the checker knows.
    """

    def __init__(self, attr: str, doc: str) -> None:
        super().__init__(attrgetter(attr), doc=doc)
        self.__doc__ = doc  # a property subclass with a docstring would show the class's instead

    if TYPE_CHECKING:

        @overload
        def __get__(self, instance: None, owner: type[Any], /) -> Self: ...
        @overload
        def __get__(self, instance: object, owner: type[Any] | None = None, /) -> T: ...
        def __get__(self, instance: object, owner: type[Any] | None = None, /) -> T | Self: ...

        # Never: the checker refuses assignment, as it does for a property without a setter.
        def __set__(self, instance: object, value: Never, /) -> None: ...


class Closing:
    """``with obj:`` returns ``obj`` and calls ``obj.close()`` on exit."""

    __slots__ = ()

    if TYPE_CHECKING:

        def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClosing:
    """``async with obj:`` returns ``obj`` and awaits ``obj.aclose()`` on exit."""

    __slots__ = ()

    if TYPE_CHECKING:

        async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
