"""The server middleware stack: which middleware, in which order, for a bare ASGI app or Starlette.

Order, outermost first: request id, tracing, access log, CORS, problem rendering, header limits,
body limit (and framing), body deadline, then rate limiting (innermost, so ids, spans, logs and
CORS headers cover 429s too). Below all of them the server's protocol enforces the head, body,
lingering-close and keep-alive timers (``llm_infra.http._protocol``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict, Unpack

from llm_infra._internal._asgi import ASGIApp, Scope
from llm_infra._internal._lazy import require
from llm_infra.http._middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    CorsMiddleware,
    DeadlineMiddleware,
    HeaderLimitMiddleware,
    ProblemMiddleware,
    RequestIdMiddleware,
    TracingMiddleware,
)
from llm_infra.http._server_config import ServerConfig
from llm_infra.ratelimit import RateLimiter, RateLimitEvent, RateLimitMiddleware

__all__ = ["RateLimitOptions", "build_middleware_stack", "middleware_specs", "starlette_middleware"]


class RateLimitOptions(TypedDict, total=False):
    """The rate-limiting keyword arguments of ``middleware_specs``, passed on by the other builders."""

    rate_limiter: RateLimiter | None
    rate_limit_key: Callable[[Scope], str | None] | None
    on_limited: Callable[[RateLimitEvent], object] | None
    exempt_paths: tuple[str, ...]


def middleware_specs(
    config: ServerConfig | None = None,
    *,
    rate_limiter: RateLimiter | None = None,
    rate_limit_key: Callable[[Scope], str | None] | None = None,
    on_limited: Callable[[RateLimitEvent], object] | None = None,
    exempt_paths: tuple[str, ...] = (),
) -> list[tuple[type[Any], dict[str, Any]]]:
    """The server middleware as ``(class, kwargs)`` pairs, outermost first.

    Order: request id, tracing, access log, CORS, problem rendering, header limits, body
    limit, body deadline, then rate limiting (innermost, so ids, spans, logs and CORS headers
    cover 429s too).

    .. versionadded:: 0.1.0
    """
    config = config or ServerConfig()
    specs: list[tuple[type[Any], dict[str, Any]]] = [
        (
            RequestIdMiddleware,
            {"header": config.request_id_header, "trust_incoming": config.trust_request_id},
        )
    ]
    if config.tracing:
        specs.append((TracingMiddleware, {}))
    if config.access_log:
        specs.append((AccessLogMiddleware, {}))
    if config.cors is not None:
        specs.append((CorsMiddleware, {"config": config.cors}))
    specs += [
        (ProblemMiddleware, {}),
        (
            HeaderLimitMiddleware,
            {
                "max_header_bytes": config.max_header_bytes,
                "max_headers": config.max_headers,
                "max_url_length": config.max_url_length,
            },
        ),
        (BodyLimitMiddleware, {"max_body_size": config.max_body_size}),
        (DeadlineMiddleware, {"body_timeout": config.body_timeout}),
    ]
    if rate_limiter is not None:
        specs.append(
            (
                RateLimitMiddleware,
                {
                    "limiter": rate_limiter,
                    "key": rate_limit_key,
                    "on_limited": on_limited,
                    "exempt_paths": exempt_paths,
                },
            )
        )
    return specs


def build_middleware_stack(
    app: ASGIApp, config: ServerConfig | None = None, **rate_limit: Unpack[RateLimitOptions]
) -> ASGIApp:
    """Wrap ``app`` in the whole server middleware stack (see ``middleware_specs``).

    For Starlette/FastAPI prefer ``starlette_middleware``: Starlette renders unexpected
    exceptions as plain-text 500s before an outer wrapper could see them.

    Example::

        app = build_middleware_stack(my_asgi_app, ServerConfig(max_body_size=65_536))

    .. versionadded:: 0.1.0
    """
    wrapped = app
    for cls, kwargs in reversed(middleware_specs(config, **rate_limit)):
        wrapped = cls(wrapped, **kwargs)
    return wrapped


def starlette_middleware(
    config: ServerConfig | None = None, **rate_limit: Unpack[RateLimitOptions]
) -> list[Any]:
    """The server middleware stack as a ``middleware=`` list for ``Starlette(...)``/``FastAPI(...)``.

    Raises:
        ConfigError: Starlette is not installed (``pip install 'llm-infra[server]'``).

    .. versionadded:: 0.1.0
    """
    middleware_cls = require("starlette.middleware", "server").Middleware
    return [middleware_cls(cls, **kwargs) for cls, kwargs in middleware_specs(config, **rate_limit)]
