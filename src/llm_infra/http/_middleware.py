"""Pure-ASGI server middleware: request ids, access logs, spans, limits, deadlines, CORS, problems.

Each class wraps any ASGI 3 application (Starlette, FastAPI, a bare function) and passes
non-HTTP scopes (lifespan, websocket) through untouched. Refusals are RFC 9457
``application/problem+json`` bodies carrying a stable ``code`` and the request id.
``build_middleware_stack`` in ``llm_infra.http._server`` assembles them in the right order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, final

import orjson
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace

from llm_infra._internal._ulid import new_ulid
from llm_infra.errors import ConfigError, InfraError

try:  # the API's placeholder until an SDK meter provider is set (private, hence the fallback)
    from opentelemetry.metrics._internal import _ProxyMeterProvider
except ImportError:  # pragma: no cover - then durations are always measured
    _ProxyMeterProvider = None  # type: ignore[assignment,misc]

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

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_access_log = logging.getLogger("llm_infra.http.access")
_server_log = logging.getLogger("llm_infra.http.server")

_request_id: ContextVar[str | None] = ContextVar("llm_infra_request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


_id_prefix = os.urandom(6).hex()
_id_counter = itertools.count()


def _reseed_request_ids() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(6).hex()
    _id_counter = itertools.count()


# A forked worker must not repeat its parent's ids.
os.register_at_fork(after_in_child=_reseed_request_ids)


def new_request_id() -> str:
    """A new request id: 12 random hex digits per process, then a 10-digit hex counter.

    Unique across processes (48 random bits per process, re-drawn after ``fork``) and
    increasing within one, and far cheaper than a random id per request (no system call): the
    id exists to correlate logs, spans and responses, not to be unguessable.

    .. versionadded:: 0.1.0
    """
    return f"{_id_prefix}{next(_id_counter):010x}"


def current_request_id() -> str | None:
    """The id of the request being handled in this context (set by ``RequestIdMiddleware``)."""
    return _request_id.get()


def _state(scope: Scope) -> MutableMapping[str, Any]:
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def _body_framing(scope: Scope) -> tuple[bool, bytes | None]:
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


async def send_problem(
    send: Send,
    status: int,
    problem: MutableMapping[str, object],
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    close: bool = False,
) -> None:
    """Send ``problem`` as a complete ``application/problem+json`` response."""
    body = orjson.dumps(problem)
    out = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    if close:
        out.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


# --- request ids ---------------------------------------------------------------------------------


@final
class RequestIdMiddleware:
    """Give every request an id: the client's ``X-Request-ID`` when valid, else a new one.

    The id is stored in ``scope["state"]["request_id"]`` and a context variable
    (``current_request_id()``), and echoed in the response's ``X-Request-ID`` header. An incoming
    id must be 1-128 characters of ``[A-Za-z0-9._:@/+=-]`` (anything else is replaced, so ids
    cannot inject into logs).

    Args:
        app: the ASGI application.
        header: the header name (case-insensitive).
        trust_incoming: use a valid client-supplied id (``False``: always generate).
        generator: makes new ids (default ``new_request_id``; pass ``llm_infra.ids.ulid`` for
            ULIDs).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_app", "_generator", "_header", "_trust")

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str = "x-request-id",
        trust_incoming: bool = True,
        generator: Callable[[], str] = new_request_id,
    ) -> None:
        self._app = app
        self._header = header.lower().encode("latin-1")
        self._trust = trust_incoming
        self._generator = generator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = None
        if self._trust:
            raw = _header(scope, self._header)
            if raw is not None:
                candidate = raw.decode("latin-1")
                if _VALID_REQUEST_ID.fullmatch(candidate):
                    request_id = candidate
        if request_id is None:
            request_id = self._generator()
        _state(scope)["request_id"] = request_id
        token = _request_id.set(request_id)
        header = (self._header, request_id.encode("latin-1"))
        name = self._header

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                headers = [h for h in headers if h[0].lower() != name] if headers else []
                headers.append(header)
                message["headers"] = headers
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


# --- access log ----------------------------------------------------------------------------------


@final
class AccessLogMiddleware:
    """Log one line per request to ``llm_infra.http.access`` at INFO.

    The message is ``METHOD path status duration_ms``; the record also carries the fields as
    attributes (``http_method``, ``url_path``, ``status_code``, ``duration_ms``,
    ``response_bytes``, ``client_address``, ``request_id``). The query string is never logged
    (it may hold tokens). Costs nothing when the logger is not enabled for INFO.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_app", "_logger")

    def __init__(self, app: ASGIApp, *, logger: logging.Logger | None = None) -> None:
        self._app = app
        self._logger = logger or _access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        logger = self._logger
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self._app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        size = 0

        async def send_logged(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self._app(scope, receive, send_logged)
        finally:
            duration_ms = (time.perf_counter() - start) * 1000.0
            client = scope.get("client")
            method, path = scope.get("method", ""), scope.get("path", "")
            logger.info(
                "%s %s %d %.1fms",
                method,
                path,
                status,
                duration_ms,
                extra={
                    "http_method": method,
                    "url_path": path,
                    "status_code": status,
                    "duration_ms": round(duration_ms, 3),
                    "response_bytes": size,
                    "client_address": client[0] if client else None,
                    "request_id": (scope.get("state") or {}).get("request_id"),
                },
            )


# --- tracing -------------------------------------------------------------------------------------


def _carrier(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


@final
class TracingMiddleware:
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
        "_app",
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
        self._app = app
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
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
            if _header(scope, b"traceparent") is not None:
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
        user_agent = _header(scope, b"user-agent")
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


# --- limits --------------------------------------------------------------------------------------


@final
class HeaderLimitMiddleware:
    """Refuse requests with too many or too large headers (431) or an overlong URL (414).

    The server's parser bounds the whole request head first (``serve`` sets
    ``h11_max_incomplete_event_size``); this middleware applies the precise limits.

    Args:
        app: the ASGI application.
        max_header_bytes: total size of names and values (plus 4 bytes per line).
        max_headers: number of header lines.
        max_url_length: length of the path plus query string.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_app", "_max_bytes", "_max_count", "_max_url")

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int = 16_384,
        max_headers: int = 100,
        max_url_length: int = 8_192,
    ) -> None:
        for name, value in (
            ("max_header_bytes", max_header_bytes),
            ("max_headers", max_headers),
            ("max_url_length", max_url_length),
        ):
            _positive(name, value)
        self._app = app
        self._max_bytes = max_header_bytes
        self._max_count = max_headers
        self._max_url = max_url_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        rid = (scope.get("state") or {}).get("request_id")
        if len(headers) > self._max_count:
            await send_problem(
                send,
                431,
                problem_response(
                    431,
                    "Request header fields too large",
                    f"at most {self._max_count} header fields are accepted",
                    code="http.too_many_headers",
                    request_id=rid,
                ),
                close=True,
            )
            return
        size = sum(len(k) + len(v) + 4 for k, v in headers)
        if size > self._max_bytes:
            await send_problem(
                send,
                431,
                problem_response(
                    431,
                    "Request header fields too large",
                    f"request headers may total at most {self._max_bytes} bytes",
                    code="http.headers_too_large",
                    request_id=rid,
                ),
                close=True,
            )
            return
        url_length = len(scope.get("raw_path") or scope.get("path", "")) + len(scope.get("query_string", b""))
        if url_length > self._max_url:
            await send_problem(
                send,
                414,
                problem_response(
                    414,
                    "URI too long",
                    f"the request target may be at most {self._max_url} bytes",
                    code="http.uri_too_long",
                    request_id=rid,
                ),
                close=True,
            )
            return
        await self._app(scope, receive, send)


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}", key=name, code="http.invalid_limit")


class _Refused(Exception):
    """Raised into the application's ``receive`` when the request body is refused."""


class _Guard:
    """Replaces the app's response with a refusal once its body has been refused."""

    __slots__ = ("headers", "problem", "refused", "started", "status")

    def __init__(self) -> None:
        self.started = False
        self.refused = False
        self.status = 0
        self.problem: MutableMapping[str, object] = {}
        self.headers: list[tuple[bytes, bytes]] = []

    def refuse(self, status: int, problem: MutableMapping[str, object]) -> _Refused:
        self.refused = True
        self.status = status
        self.problem = problem
        return _Refused(problem.get("detail"))

    async def finish(self, send: Send) -> None:
        """Send the refusal if nothing was sent yet."""
        if not self.started:
            self.started = True
            await send_problem(send, self.status, self.problem, self.headers, close=True)

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


@final
class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_body_size`` bytes with 413.

    A ``Content-Length`` over the limit is refused before a byte of body is read; a chunked or
    lying body is counted as it is received, and the application's ``receive`` raises once the
    limit is passed. Whatever the application does with that error, the client gets the 413.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_app", "_max")

    def __init__(self, app: ASGIApp, *, max_body_size: int = 1_048_576) -> None:
        _positive("max_body_size", max_body_size)
        self._app = app
        self._max = max_body_size

    def _problem(self, scope: Scope) -> dict[str, object]:
        return problem_response(
            413,
            "Content too large",
            f"the request body may be at most {self._max} bytes",
            code="http.body_too_large",
            request_id=(scope.get("state") or {}).get("request_id"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        has_body, length = _body_framing(scope)
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await send_problem(
                    send,
                    400,
                    problem_response(
                        400,
                        "Bad request",
                        "Content-Length is not a valid length",
                        code="http.bad_content_length",
                        request_id=(scope.get("state") or {}).get("request_id"),
                    ),
                    close=True,
                )
                return
            if declared > self._max:
                await send_problem(send, 413, self._problem(scope), close=True)
                return
        if not has_body:
            await self._app(scope, receive, send)
            return
        guard = _Guard()
        received = 0
        limit = self._max

        async def counted_receive() -> Message:
            nonlocal received
            if guard.refused:
                raise _Refused("request body refused")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise guard.refuse(413, self._problem(scope))
            return message

        with contextlib.suppress(_Refused):
            await self._app(scope, counted_receive, guard.wrap_send(send))
        if guard.refused:
            await guard.finish(send)


@final
class DeadlineMiddleware:
    """Give a request ``body_timeout`` seconds to deliver its whole body; then answer 408 and close.

    Slow (or stalled) uploads cannot hold a worker forever. The clock starts when the request
    head has arrived (the server's ``header_timeout`` covers the head itself, see ``serve``).
    Once the body is complete, ``receive`` is not bounded (streaming responses wait on it for
    the disconnect).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_app", "_timeout")

    def __init__(self, app: ASGIApp, *, body_timeout: float = 30.0) -> None:
        _positive("body_timeout", body_timeout)
        self._app = app
        self._timeout = float(body_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if not _body_framing(scope)[0]:
            await self._app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        guard = _Guard()
        body_done = False
        timeout = self._timeout

        async def timed_receive() -> Message:
            nonlocal body_done
            if guard.refused:
                raise _Refused("request body timed out")
            if body_done:
                return await receive()
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    message = await receive()
            except TimeoutError:
                raise guard.refuse(
                    408,
                    problem_response(
                        408,
                        "Request timeout",
                        f"the request body was not received within {timeout:g} s",
                        code="http.request_timeout",
                        request_id=(scope.get("state") or {}).get("request_id"),
                    ),
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        with contextlib.suppress(_Refused):
            await self._app(scope, timed_receive, guard.wrap_send(send))
        if guard.refused:
            await guard.finish(send)


# --- CORS ----------------------------------------------------------------------------------------

_SAFE_METHODS = ("GET", "HEAD", "POST")


@dataclass(frozen=True, slots=True, kw_only=True)
class CorsConfig:
    """Cross-origin resource sharing, off unless you build one of these.

    Args:
        allow_origins: exact origins (``"https://app.example"``) or ``("*",)`` for any.
        allow_methods: methods a preflight may ask for.
        allow_headers: request headers a preflight may ask for (case-insensitive), or ``("*",)``.
        expose_headers: response headers scripts may read.
        allow_credentials: allow cookies/authorization; refused together with a ``*`` origin.
        max_age: seconds a browser may cache a preflight answer.

    Raises:
        ConfigError: ``*`` with credentials, or an origin that is not ``scheme://host[:port]``.

    .. versionadded:: 0.1.0
    """

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: tuple[str, ...] = ("authorization", "content-type", "x-request-id")
    expose_headers: tuple[str, ...] = (
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
    )
    allow_credentials: bool = False
    max_age: int = 600

    def __post_init__(self) -> None:
        for name in ("allow_origins", "allow_methods", "allow_headers", "expose_headers"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(f"{name} must be a tuple of strings, not a string", key=f"cors.{name}")
            object.__setattr__(self, name, tuple(value))
        if "*" in self.allow_origins and self.allow_credentials:
            raise ConfigError(
                "allow_credentials cannot be combined with the '*' origin",
                key="cors.allow_credentials",
                code="http.cors_invalid",
            )
        for origin in self.allow_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ConfigError(
                    f"CORS origin {origin!r} must be scheme://host[:port] with no path",
                    key="cors.allow_origins",
                    code="http.cors_invalid",
                )
        object.__setattr__(self, "allow_methods", tuple(m.upper() for m in self.allow_methods))
        object.__setattr__(self, "allow_headers", tuple(h.lower() for h in self.allow_headers))

    def origin_allowed(self, origin: str) -> bool:
        """Whether ``origin`` may read responses."""
        return "*" in self.allow_origins or origin in self.allow_origins


@final
class CorsMiddleware:
    """Answer CORS preflights and add ``Access-Control-*`` headers for allowed origins.

    A preflight for a disallowed origin, method or header gets 403 problem+json; a simple
    request from a disallowed origin is served without CORS headers (so the browser hides the
    response).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_app", "_config", "_simple_headers")

    def __init__(self, app: ASGIApp, config: CorsConfig) -> None:
        self._app = app
        self._config = config
        simple: list[tuple[bytes, bytes]] = []
        if config.allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if config.expose_headers:
            simple.append((b"access-control-expose-headers", ", ".join(config.expose_headers).encode()))
        self._simple_headers = simple

    def _origin_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        any_origin = "*" in self._config.allow_origins
        return [
            (b"access-control-allow-origin", b"*" if any_origin else origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        raw_origin = _header(scope, b"origin")
        if raw_origin is None:
            await self._app(scope, receive, send)
            return
        origin = raw_origin.decode("latin-1")
        config = self._config
        requested = _header(scope, b"access-control-request-method")
        if scope.get("method") == "OPTIONS" and requested is not None:
            await self._preflight(scope, send, origin, requested.decode("latin-1"))
            return
        if not config.origin_allowed(origin):
            await self._app(scope, receive, send)
            return
        extra = [*self._origin_headers(origin), *self._simple_headers]

        async def send_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self._app(scope, receive, send_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: str, method: str) -> None:
        config = self._config
        raw = _header(scope, b"access-control-request-headers")
        asked = [h.strip().lower() for h in (raw or b"").decode("latin-1").split(",") if h.strip()]
        header_ok = "*" in config.allow_headers or all(h in config.allow_headers for h in asked)
        if not config.origin_allowed(origin) or method.upper() not in config.allow_methods or not header_ok:
            await send_problem(
                send,
                403,
                problem_response(
                    403,
                    "CORS preflight refused",
                    "this origin, method or header is not allowed",
                    code="http.cors_denied",
                    request_id=(scope.get("state") or {}).get("request_id"),
                ),
            )
            return
        headers = [
            *self._origin_headers(origin),
            (b"access-control-allow-methods", ", ".join(config.allow_methods).encode()),
            (b"access-control-max-age", str(config.max_age).encode()),
        ]
        if asked:
            headers.append((b"access-control-allow-headers", ", ".join(asked).encode("latin-1")))
        if config.allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


# --- problem rendering ---------------------------------------------------------------------------


@final
class ProblemMiddleware:
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

    __slots__ = ("_app", "_exempt")

    def __init__(self, app: ASGIApp, *, exempt: Collection[type[BaseException]] = ()) -> None:
        self._app = app
        self._exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, send_tracked)
        except Exception as exc:
            if started or (self._exempt and isinstance(exc, self._exempt)):
                raise
            request_id = (scope.get("state") or {}).get("request_id")
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
                    "type": "urn:llm-infra:problem:internal.error",
                    "title": "Internal server error",
                    "status": 500,
                    "code": "internal.error",
                    "error_id": error_id,
                }
            if request_id:
                problem["request_id"] = request_id
            await send_problem(send, status, problem, headers)
