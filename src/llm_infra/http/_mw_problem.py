"""``ProblemMiddleware``: exceptions rendered as ``application/problem+json``."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import final

from llm_infra._internal._asgi import ASGIApp, HttpMiddleware, Receive, ResponseStart, Scope, Send
from llm_infra._internal._ulid import new_ulid
from llm_infra.errors import InfraError
from llm_infra.errors._problem import send_problem
from llm_infra.http import _codes
from llm_infra.http._mw_common import request_id_of

_server_log = logging.getLogger("llm_infra.http.server")

# --- problem rendering ---------------------------------------------------------------------------


@final
class ProblemMiddleware(HttpMiddleware):
    """Render exceptions as ``application/problem+json``.

    An ``InfraError`` becomes ``error.to_problem()`` with its ``problem_status()`` (and a
    ``Retry-After`` header when it has ``retry_after``). Any other exception becomes a 500 whose
    body holds only a fresh ``error_id`` (and the request id); the traceback is logged to
    ``llm_infra.http.server`` under that id, never sent. If the response had already started,
    the exception propagates (the server closes the connection).

    For Starlette and FastAPI, install it through ``starlette_middleware`` (inside Starlette's
    own error middleware) so it sees exceptions before Starlette renders its plain-text 500.

    Args:
        app: the ASGI application.
        exempt: exception types to let through untouched (e.g. a framework's HTTP exceptions
            that it renders itself further out).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_exempt",)

    def __init__(self, app: ASGIApp, *, exempt: Collection[type[BaseException]] = ()) -> None:
        super().__init__(app)
        self._exempt = tuple(exempt)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; render its exception as problem+json if the response has not started."""
        tracked = ResponseStart(send)
        try:
            await self._app(scope, receive, tracked)
        except Exception as exc:
            if tracked.started or (self._exempt and isinstance(exc, self._exempt)):
                raise
            request_id = request_id_of(scope)
            if isinstance(exc, InfraError):
                problem = exc.to_problem()
                status = exc.problem_status()
                headers: list[tuple[bytes, bytes]] = []
                if exc.retry_after is not None:
                    headers.append((b"retry-after", str(max(0, round(exc.retry_after))).encode()))
                if status >= 500:
                    _server_log.error(
                        "request failed: %s %s (error_id=%s, request_id=%s)",
                        exc.code,
                        exc.message,
                        exc.error_id,
                        request_id,
                    )
            else:
                error_id = new_ulid()
                _server_log.error(
                    "unhandled exception (error_id=%s, request_id=%s)", error_id, request_id, exc_info=exc
                )
                status = 500
                headers = []
                problem = {
                    "type": f"urn:llm-infra:problem:{_codes.INTERNAL_ERROR}",
                    "title": "Internal server error",
                    "status": 500,
                    "code": _codes.INTERNAL_ERROR,
                    "error_id": error_id,
                }
            if request_id:
                problem["request_id"] = request_id
            await send_problem(send, problem, status=status, headers=headers)
