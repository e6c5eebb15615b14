"""Response body streams: the call's deadline bounds the body read, httpx errors become InfraErrors.

Sync and async behave the same: each chunk wait is bounded by what is left of the call's one
``Deadline`` (sync through the socket layer and a check between chunks, async through a timeout
scope), and, once a ``stream()`` response is handed to the caller, httpx errors raised while it
iterates are converted by the client's one converter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, final

import httpx

from llm_infra.errors import InfraError
from llm_infra.resilience import Deadline

__all__ = [
    "ConvertingAsyncStream",
    "ConvertingSyncStream",
    "DeadlineAsyncStream",
    "DeadlineSyncStream",
    "timeout_scope",
]

_PASSED = "the request deadline has passed"


def timeout_scope(seconds: float) -> Any:
    """``asyncio.timeout`` on asyncio (cheapest), ``anyio.fail_after`` elsewhere."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # pragma: no cover - trio through anyio; the tests run on asyncio
        import anyio

        return anyio.fail_after(seconds)
    return asyncio.timeout(seconds)


@final
class DeadlineSyncStream(httpx.SyncByteStream):
    """Raises ``httpx.ReadTimeout`` between chunks once the deadline has passed."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if self._deadline.expired():
                raise httpx.ReadTimeout(_PASSED)
            yield chunk

    def close(self) -> None:
        self._inner.close()


@final
class DeadlineAsyncStream(httpx.AsyncByteStream):
    """Bounds each chunk wait by the time left before the deadline."""

    def __init__(self, inner: httpx.AsyncByteStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    async def __aiter__(self) -> AsyncIterator[bytes]:
        iterator = self._inner.__aiter__()
        while True:
            left = self._deadline.remaining()
            if left <= 0:
                raise httpx.ReadTimeout(_PASSED)
            try:
                async with timeout_scope(left):
                    chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise httpx.ReadTimeout(_PASSED) from exc
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@final
class ConvertingSyncStream(httpx.SyncByteStream):
    """Turns httpx errors raised while a caller iterates a streamed body into llm-infra errors."""

    def __init__(self, inner: httpx.SyncByteStream, convert: Callable[[Exception], InfraError]) -> None:
        self._inner = inner
        self._convert = convert

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except httpx.HTTPError as exc:
            raise self._convert(exc) from exc

    def close(self) -> None:
        self._inner.close()


@final
class ConvertingAsyncStream(httpx.AsyncByteStream):
    """The async twin of ``ConvertingSyncStream``."""

    def __init__(self, inner: httpx.AsyncByteStream, convert: Callable[[Exception], InfraError]) -> None:
        self._inner = inner
        self._convert = convert

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.HTTPError as exc:
            raise self._convert(exc) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()
