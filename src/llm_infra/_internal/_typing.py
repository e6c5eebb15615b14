"""Callable and JSON aliases shared across subpackages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

JsonScalar: TypeAlias = str | int | float | bool | None
JsonValue: TypeAlias = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
AnyCallable: TypeAlias = Callable[..., Any]
AsyncCallable: TypeAlias = Callable[..., Awaitable[Any]]
