"""``readonly`` attributes and the ``Closing``/``AsyncClosing`` mixins."""

from __future__ import annotations

import pydoc

import pytest

from llm_infra._internal._attrs import AsyncClosing, Closing, readonly


class _Spec:
    def __init__(self, limit: int) -> None:
        self.limit = limit


class _Thing(Closing, AsyncClosing):
    __slots__ = ("_closes", "_size", "_spec")

    size: readonly[int] = readonly("_size", "How many.")
    limit: readonly[int] = readonly("_spec.limit", "The spec's limit.")
    closes: readonly[list[str]] = readonly("_closes", "Close calls, in order.")

    def __init__(self, size: int) -> None:
        self._size = size
        self._spec = _Spec(size * 2)
        self._closes: list[str] = []

    def close(self) -> None:
        self._closes.append("close")

    async def aclose(self) -> None:
        self._closes.append("aclose")


def test_readonly_reads_the_live_private_attribute() -> None:
    thing = _Thing(3)
    assert (thing.size, thing.limit) == (3, 6)
    thing._size = 5
    thing._spec.limit = 7
    assert (thing.size, thing.limit) == (5, 7)


def test_readonly_refuses_assignment_and_deletion() -> None:
    thing = _Thing(3)
    with pytest.raises(AttributeError):
        thing.size = 4  # type: ignore[assignment]  # the point of the test
    with pytest.raises(AttributeError):
        del thing.size
    assert thing.size == 3


def test_readonly_is_documented_like_a_property() -> None:
    assert isinstance(_Thing.size, property)
    assert _Thing.size.__doc__ == "How many."
    assert "The spec's limit." in pydoc.render_doc(_Thing, renderer=pydoc.plaintext)


def test_closing_returns_self_and_closes_on_exit_even_on_error() -> None:
    thing = _Thing(1)
    with pytest.raises(RuntimeError, match="boom from _Thing"), thing as entered:
        raise RuntimeError(f"boom from {type(entered).__name__}")
    assert thing.closes == ["close"]


@pytest.mark.anyio
async def test_async_closing_returns_self_and_acloses_on_exit() -> None:
    thing = _Thing(1)
    async with thing as entered:
        assert entered is thing
    assert thing.closes == ["aclose"]
