"""``create_app``: the FastAPI application with the layer's whole middleware stack."""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from llm_infra._internal._asgi import ASGIApp, HttpMiddleware, Receive, ResponseStart, Scope, Send
from llm_infra.auth import AuthMiddleware, Identity
from llm_infra.errors import ConfigError, InfraError, NotFoundError, OperationTimeout, ValidationError
from llm_infra.errors._problem import problem_body
from llm_infra.http import ServerConfig
from llm_infra.http._stack import starlette_middleware
from llm_infra.json import dumps
from llm_infra.otel import ExporterConfig, OtelConfig, OtelGuard, counter, init_otel, metrics_exposition
from llm_infra.ratelimit import RateLimitMiddleware
from llm_infra.server import _codes
from llm_infra.server._routes import JSON, router
from llm_infra.server._security import tenant_of
from llm_infra.server._service import Service
from llm_infra.server._settings import ServiceSettings

_log = logging.getLogger("llm_infra.server")

STATIC = ("index.html", "app.js", "style.css")
PUBLIC_PATHS = (
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/favicon.ico",
    *(f"/static/{name}" for name in STATIC),
)
"""Paths served without credentials (the status page's data comes from the authenticated /v1/status)."""

_MEDIA = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css"}


class RequestTimeoutMiddleware(HttpMiddleware):
    """Bound each request's handling to ``timeout`` seconds; a late request answers 504 problem+json."""

    __slots__ = ("_timeout",)

    def __init__(self, app: ASGIApp, *, timeout: float) -> None:
        super().__init__(app)
        self._timeout = timeout

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app under the timeout; a timeout before the response started is a 504."""
        tracked = ResponseStart(send)
        try:
            with anyio.fail_after(self._timeout):
                await self._app(scope, receive, tracked)
        except TimeoutError:
            if tracked.started:
                raise
            raise OperationTimeout(
                f"the request did not finish within {self._timeout:g} s",
                operation="request",
                duration=self._timeout,
                code=_codes.REQUEST_TIMEOUT,
            ) from None


class CountingMiddleware(HttpMiddleware):
    """Count requests (the status page's request rate and the ``server.requests`` metric)."""

    __slots__ = ("_requests", "_service")

    def __init__(self, app: ASGIApp, *, service: Service) -> None:
        super().__init__(app)
        self._service = service
        self._requests = counter("server.requests", unit="{request}", description="Requests to /v1")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count a request to ``/v1``, then run the app."""
        if str(scope.get("path", "")).startswith("/v1/"):
            self._service.rate.hit()
            self._requests.add(1, {"method": str(scope.get("method", ""))})
        await self._app(scope, receive, send)


def _identity_key(scope: Scope) -> str | None:
    identity = scope.get("identity")
    if not isinstance(identity, Identity):
        return None
    return "id:" + identity.subject


def _tenant_key(default: str) -> Any:
    def key(scope: Scope) -> str | None:
        identity = scope.get("identity")
        if not isinstance(identity, Identity):
            return None
        return "tenant:" + tenant_of(identity, default)

    return key


def server_config(settings: ServiceSettings) -> ServerConfig:
    """The HTTP limits of the service."""
    return ServerConfig(
        host=settings.host,
        port=settings.port,
        max_body_size=settings.max_body_bytes,
        body_timeout=max(30.0, settings.request_timeout),
        access_log=settings.access_log,
    )


def _otel(settings: ServiceSettings) -> OtelGuard | None:
    """Telemetry: exported only when ``otel.enabled``; Prometheus ``/metrics`` always."""
    try:
        if settings.otel and settings.config is not None:
            config = OtelConfig.from_config(settings.config, prometheus=True)
        else:
            config = OtelConfig(service_name="llm-infra-server", exporter=ExporterConfig(kind="none"))
        return init_otel(config)
    except ConfigError as err:
        _log.warning("telemetry is off: %s (%s)", err, err.code)
        return None


def _problem_response(error: InfraError | dict[str, object], request: Request) -> Response:
    status, body = problem_body(error, scope=request.scope)
    return Response(dumps(body), status_code=status, media_type="application/problem+json")


def create_app(settings: ServiceSettings | None = None, *, service: Service | None = None) -> FastAPI:
    """The retrieval service as an ASGI app (FastAPI), with its ``Service`` in ``app.state.service``.

    The middleware is the layer's (request ids, spans, access log, problem+json, header and body
    limits, body deadline) plus a request deadline, authentication (API keys, JWTs), per-identity
    and per-tenant rate limits. Stores open now; they are flushed and closed on shutdown.

    Args:
        settings: the service settings (the embedded defaults when None).
        service: an already built ``Service`` (tests); built from ``settings`` otherwise.

    .. versionadded:: 0.1.0
    """
    settings = settings or ServiceSettings()
    svc = service or Service(settings)
    security = svc.security
    guard_box: list[OtelGuard | None] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        guard_box.append(_otel(settings))
        async with anyio.create_task_group() as tg:
            if svc.consumer_enabled:
                tg.start_soon(svc.run_consumer)
            try:
                yield
            finally:
                svc.stop()
                tg.cancel_scope.cancel()
        await svc.aclose()
        guard = guard_box.pop() if guard_box else None
        if guard is not None:
            guard.shutdown()

    middleware = starlette_middleware(server_config(settings))
    middleware += [
        Middleware(RequestTimeoutMiddleware, timeout=settings.request_timeout),
        Middleware(
            AuthMiddleware,
            authenticator=security.authenticator,
            audit=security.audit,
            exempt_paths=PUBLIC_PATHS,
        ),
        Middleware(
            RateLimitMiddleware,
            limiter=security.identity_limiter,
            key=_identity_key,
            on_limited=security.on_limited,
            exempt_paths=PUBLIC_PATHS,
        ),
        Middleware(
            RateLimitMiddleware,
            limiter=security.tenant_limiter,
            key=_tenant_key(settings.default_tenant),
            on_limited=security.on_limited,
            exempt_paths=PUBLIC_PATHS,
        ),
        Middleware(CountingMiddleware, service=svc),
    ]
    app = FastAPI(
        title="llm-infra retrieval service",
        version=_version(),
        description="Collections, points, search, documents, jobs and API keys; every /v1 route needs a key.",
        middleware=middleware,
        lifespan=lifespan,
        default_response_class=JSON,
    )
    app.state.service = svc
    app.state.server_config = server_config(settings)
    app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors()[:20]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            problems.append(f"{loc}: {err.get('msg', 'invalid')}")
        field = ".".join(str(p) for p in exc.errors()[0].get("loc", ())) if exc.errors() else None
        error = ValidationError(
            "; ".join(problems) or "invalid request", field=field, code=_codes.INVALID_REQUEST
        )
        return _problem_response(error, request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _problem_response(NotFoundError("no such route", resource_type="route"), request)
        body: dict[str, object] = {
            "type": "about:blank",
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "code": f"http.status_{exc.status_code}",
        }
        response = _problem_response(body, request)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSON:
        """Liveness: the process answers."""
        return JSON({"status": "ok"})

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSON:
        """Readiness of each dependency; ``degraded`` (200) when a fallback is in use, 503 when unhealthy."""
        health, caps, checks = await anyio.to_thread.run_sync(svc.readiness)
        body = {
            **health.to_dict(),
            "capabilities": caps.to_dict(),
            "checks": checks,
            "backend": svc.collections.backend,
        }
        return JSON(body, status_code=503 if health.is_unhealthy else 200)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        """Prometheus exposition of the service's metrics."""
        data, content_type = metrics_exposition()
        return Response(data, media_type=content_type)

    def static(name: str) -> Response:
        data = importlib.resources.files("llm_infra.server").joinpath("static", name).read_bytes()
        return Response(
            data,
            media_type=_MEDIA[name.rsplit(".", 1)[-1]],
            headers={
                "cache-control": "no-cache",
                "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
            },
        )

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def assets(name: str) -> Response:
        if name not in STATIC:
            raise NotFoundError("no such file", resource_type="static")
        return static(name)

    return app


def _version() -> str:
    from llm_infra import __version__

    return __version__
