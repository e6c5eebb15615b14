"""Shared pieces of the server middleware: scope helpers, problem bodies, the body-refusal guard."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from llm_infra._internal._asgi import Message, Scope, Send
from llm_infra.errors import ConfigError
from llm_infra.errors._problem import send_problem
from llm_infra.http import _codes


def scope_state(scope: Scope) -> MutableMapping[str, Any]:
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state


def header_value(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def body_framing(scope: Scope) -> tuple[bool, bytes | None]:
    """``(may have a body, Content-Length value)`` of an HTTP/1 request.

    An HTTP/1.x request without ``Content-Length`` or ``Transfer-Encoding`` has no body, so
    body guards need not wrap its ``receive``; other HTTP versions frame bodies differently.
    """
    length = None
    chunked = False
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            length = value
        elif key == b"transfer-encoding":
            chunked = True
    if scope.get("http_version", "1.1") not in ("1.1", "1.0"):
        return True, length
    return chunked or (length is not None and length.strip() != b"0"), length


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    request_id: str | None = None,
    extra: MutableMapping[str, object] | None = None,
) -> dict[str, object]:
    """An RFC 9457 problem body shaped like ``InfraError.to_problem()``.

    .. versionadded:: 0.1.0
    """
    body: dict[str, object] = {
        "type": f"urn:llm-infra:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    if request_id:
        body["request_id"] = request_id
    return body


async def refuse(
    send: Send,
    scope: Scope,
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    close: bool = True,
) -> None:
    """Answer with a problem body (through the layer's one problem+json sender)."""
    problem = problem_response(status, title, detail, code=code, request_id=request_id_of(scope))
    await send_problem(send, problem, scope=scope, status=status, headers=headers, close=close)


def request_id_of(scope: Scope) -> str | None:
    """The request id ``RequestIdMiddleware`` stored in the scope, if any."""
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, MutableMapping) else None


def positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}", key=name, code=_codes.INVALID_LIMIT)


class Refused(Exception):
    """Raised into the application's ``receive`` when the request body is refused."""


class Guard:
    """Replaces the app's response with a refusal once its body has been refused."""

    __slots__ = ("headers", "problem", "refused", "started", "status")

    def __init__(self) -> None:
        self.started = False
        self.refused = False
        self.status = 0
        self.problem: MutableMapping[str, object] = {}
        self.headers: list[tuple[bytes, bytes]] = []

    def refuse(self, status: int, problem: MutableMapping[str, object]) -> Refused:
        self.refused = True
        self.status = status
        self.problem = problem
        return Refused(problem.get("detail"))

    async def finish(self, send: Send) -> None:
        """Send the refusal if nothing was sent yet."""
        if not self.started:
            self.started = True
            await send_problem(send, self.problem, status=self.status, headers=self.headers, close=True)

    def wrap_send(self, send: Send) -> Send:
        async def guarded_send(message: Message) -> None:
            if self.refused:
                # The app answered after its body was refused (it may have turned our error into
                # a 400 or 500): the refusal wins.
                await self.finish(send)
                return
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        return guarded_send
