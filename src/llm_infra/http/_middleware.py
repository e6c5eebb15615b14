"""Pure-ASGI server middleware, one module per job (this module only gathers them).

Each class wraps any ASGI 3 application (Starlette, FastAPI, a bare function) and passes
non-HTTP scopes (lifespan, websocket) through untouched. Refusals are RFC 9457
``application/problem+json`` bodies (sent by ``llm_infra.errors._problem.send_problem``) carrying
a stable ``code`` and the request id. ``llm_infra.http._stack`` assembles them in order.
"""

from __future__ import annotations

from llm_infra.http._mw_common import problem_response
from llm_infra.http._mw_cors import CorsConfig, CorsMiddleware
from llm_infra.http._mw_ids import (
    AccessLogMiddleware,
    RequestIdMiddleware,
    current_request_id,
    new_request_id,
)
from llm_infra.http._mw_limits import BodyLimitMiddleware, DeadlineMiddleware, HeaderLimitMiddleware
from llm_infra.http._mw_problem import ProblemMiddleware
from llm_infra.http._mw_tracing import TracingMiddleware

__all__ = [
    "AccessLogMiddleware",
    "BodyLimitMiddleware",
    "CorsConfig",
    "CorsMiddleware",
    "DeadlineMiddleware",
    "HeaderLimitMiddleware",
    "ProblemMiddleware",
    "RequestIdMiddleware",
    "TracingMiddleware",
    "current_request_id",
    "new_request_id",
    "problem_response",
]
