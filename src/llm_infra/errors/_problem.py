"""The one ``application/problem+json`` sender of the layer (RFC 9457) for ASGI middleware.

Every middleware that answers on its own (the HTTP server's limits, authentication, rate limits,
the service's handlers) renders an ``InfraError`` (or a ready problem body) and sends it here, so
that content type, length, caching and connection handling agree everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from llm_infra._internal._asgi import Scope, Send
from llm_infra.errors._base import InfraError


def problem_body(
    error: InfraError | Mapping[str, object], *, scope: Scope | None = None
) -> tuple[int, dict[str, object]]:
    """The status and problem body for ``error``, with the request id of ``scope`` when known."""
    if isinstance(error, InfraError):
        status = error.problem_status()
        body = error.to_problem()
    else:
        body = dict(error)
        raw_status = body.get("status", 500)
        status = raw_status if isinstance(raw_status, int) else 500
    if scope is not None and "request_id" not in body:
        state = scope.get("state") or {}
        request_id = state.get("request_id") if isinstance(state, Mapping) else None
        if request_id:
            body["request_id"] = request_id
    return status, body


def encode_problem(
    error: InfraError | Mapping[str, object],
    *,
    scope: Scope | None = None,
    status: int | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
    close: bool = False,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The status, headers and body of the problem response for ``error`` (see ``send_problem``).

    ``send_problem`` sends them through ASGI; the HTTP server's protocol layer writes them as raw
    bytes when it must answer below ASGI (a request refused before the app runs).
    """
    default_status, body = problem_body(error, scope=scope)
    if status is None:
        status = default_status
    body["status"] = status
    payload = orjson.dumps(body)
    out = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *headers,
    ]
    if close:
        out.append((b"connection", b"close"))
    return status, out, payload


async def send_problem(
    send: Send,
    error: InfraError | Mapping[str, object],
    *,
    scope: Scope | None = None,
    status: int | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
    close: bool = False,
) -> None:
    """Send ``error`` as a complete ``application/problem+json`` response.

    Args:
        send: the ASGI ``send`` callable.
        error: an ``InfraError`` (rendered with ``to_problem()``) or a ready problem body.
        scope: the request scope; its ``state["request_id"]`` is added to the body.
        status: the HTTP status; by default the error's ``problem_status()`` or the body's ``status``.
        headers: extra response headers (``retry-after``, ``www-authenticate``, ...).
        close: ask the client to close the connection (``connection: close``).
    """
    status, out, payload = encode_problem(error, scope=scope, status=status, headers=headers, close=close)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": payload})


__all__ = ["encode_problem", "problem_body", "send_problem"]
