"""``TracingMiddleware``: one OpenTelemetry SERVER span and duration measurement per request."""

from __future__ import annotations

import time
from typing import Any, final

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace

from llm_infra._internal._asgi import ASGIApp, HttpMiddleware, Message, Receive, Scope, Send
from llm_infra.errors import InfraError
from llm_infra.http._mw_common import header_value

try:  # the API's placeholder until an SDK meter provider is set (private, hence the fallback)
    from opentelemetry.metrics._internal import _ProxyMeterProvider
except ImportError:  # pragma: no cover - then durations are always measured
    _ProxyMeterProvider = None  # type: ignore[assignment,misc]


def _carrier(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


@final
class TracingMiddleware(HttpMiddleware):
    """One ``SERVER`` span per request, continuing the caller's W3C trace context.

    The span is named ``"{method} {route}"`` (``"{method}"`` until a router sets
    ``scope["route"]``) and carries the stable HTTP semantic-convention attributes
    (``http.request.method``, ``url.path``, ``url.scheme``, ``server.address``/``server.port``,
    ``client.address``, ``network.protocol.version``, ``user_agent.original``,
    ``http.response.status_code``, ``http.route``; ``error.type`` on failures). 5xx responses and
    exceptions mark the span as an error; an ``InfraError`` adds ``error.code`` and ``error.id``.
    Durations go to the ``http.server.request.duration`` histogram (seconds). The query string
    is not recorded.

    Until an OpenTelemetry SDK is installed (``llm_infra.otel.init_otel``) spans would be
    no-ops, so none is built: the caller's trace context is only made current (so outgoing
    calls still propagate it), which saves most of the cost. Likewise durations are measured
    only once a meter provider is installed.

    Args:
        app: the ASGI application.
        tracer_provider: default the global one.
        meter_provider: default the global one.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_duration",
        "_global_meter",
        "_global_provider",
        "_meter_seen",
        "_sdk_seen",
        "_tracer",
    )

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        super().__init__(app)
        self._tracer = trace.get_tracer("llm_infra.http", tracer_provider=tracer_provider)
        self._global_provider = tracer_provider is None
        self._sdk_seen = False
        self._global_meter = meter_provider is None
        self._meter_seen = False
        meter = metrics.get_meter("llm_infra.http", meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "http.server.request.duration", unit="s", description="Duration of HTTP server requests"
        )

    def _recording(self) -> bool:
        if self._sdk_seen or not self._global_provider:
            return True
        # A global provider, once set, cannot be replaced: remember it and stop checking.
        self._sdk_seen = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        return self._sdk_seen

    def _measuring(self) -> bool:
        if self._meter_seen or not self._global_meter:
            return True
        self._meter_seen = _ProxyMeterProvider is None or not isinstance(
            metrics.get_meter_provider(), _ProxyMeterProvider
        )
        return self._meter_seen

    def _record_duration(
        self, start: float, method: str, scope: Scope, status: int, error_type: str | None
    ) -> str | None:
        route_path = getattr(scope.get("route"), "path", None)
        labels: dict[str, Any] = {"http.request.method": method, "url.scheme": scope.get("scheme", "http")}
        if status:
            labels["http.response.status_code"] = status
        if route_path:
            labels["http.route"] = route_path
        if error_type is not None:
            labels["error.type"] = error_type
        self._duration.record(time.perf_counter() - start, labels)
        return route_path

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app under a SERVER span (or only the caller's context) and measure it."""
        start = time.perf_counter()
        method = scope.get("method", "GET")
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if not self._recording():
            token = None
            if header_value(scope, b"traceparent") is not None:
                token = otel_context.attach(propagate.extract(_carrier(scope)))
            if not self._measuring():
                # Nothing installed to record spans or metrics: only keep the caller's context.
                try:
                    await self._app(scope, receive, send)
                finally:
                    if token is not None:
                        otel_context.detach(token)
                return
            error_type: str | None = None
            try:
                await self._app(scope, receive, send_traced)
            except BaseException as exc:
                error_type = type(exc).__qualname__
                raise
            finally:
                if token is not None:
                    otel_context.detach(token)
                if error_type is None and status >= 500:
                    error_type = str(status)
                self._record_duration(start, method, scope, status, error_type)
            return

        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        server = scope.get("server")
        if server:
            attributes["server.address"] = server[0]
            if server[1] is not None:
                attributes["server.port"] = server[1]
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        user_agent = header_value(scope, b"user-agent")
        if user_agent:
            attributes["user_agent.original"] = user_agent.decode("latin-1")
        parent = propagate.extract(_carrier(scope))
        with self._tracer.start_as_current_span(
            method, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes, end_on_exit=True
        ) as span:
            error_type = None
            try:
                await self._app(scope, receive, send_traced)
            except BaseException as exc:
                error_type = type(exc).__qualname__
                span.record_exception(exc)
                if isinstance(exc, InfraError):
                    span.set_attribute("error.code", exc.code)
                    span.set_attribute("error.id", exc.error_id)
                raise
            finally:
                if status:
                    span.set_attribute("http.response.status_code", status)
                if error_type is None and status >= 500:
                    error_type = str(status)
                if error_type is not None:
                    span.set_attribute("error.type", error_type)
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
                route_path = self._record_duration(start, method, scope, status, error_type)
                if route_path:
                    span.set_attribute("http.route", route_path)
                    span.update_name(f"{method} {route_path}")
