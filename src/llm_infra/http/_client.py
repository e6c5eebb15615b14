"""``HttpClient`` and ``AsyncHttpClient``: httpx with retries, per-host breakers, deadlines and tracing.

Both clients share ``_BaseHttpClient``, which holds every decision and no I/O: which attempt may
start (the breaker), what an outcome means (an error, a retry after some delay, or the response),
and what is recorded (span attributes and metrics). The two subclasses only send, read, sleep and
close, in the style of httpx's own ``Client``/``AsyncClient``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Final, Literal, TypeAlias, final

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llm_infra import json as infra_json
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import CircuitOpenError, ConfigError, InfraError, OperationTimeout, ValidationError
from llm_infra.http._errors import error_from_exception, error_from_response, redact_url
from llm_infra.http._options import (
    DEFAULT_USER_AGENT,
    IDEMPOTENT_METHODS,
    BearerAuth,
    HttpTimeout,
    ssl_context_for,
)
from llm_infra.http._transport import DEADLINE, AiohttpTransport, DeadlineTransport
from llm_infra.otel import counter, get_tracer, histogram, inject
from llm_infra.otel._config import cfg_get
from llm_infra.resilience import CircuitBreaker, RetryPolicy, is_testing
from llm_infra.secrets import Secret

__all__ = ["AsyncHttpClient", "HttpClient"]

RequestHook: TypeAlias = Callable[[httpx.Request], Any]
ResponseHook: TypeAlias = Callable[[httpx.Response], Any]
BreakerOption: TypeAlias = CircuitBreaker | Callable[[str], CircuitBreaker] | bool | None
AuthOption: TypeAlias = httpx.Auth | Secret[str] | None
AsyncBackend: TypeAlias = Literal["auto", "aiohttp", "httpx"]

_UNSET: Any = object()
_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

_TRACER = get_tracer("llm_infra.http")
_DURATION = histogram(
    "http.client.request.duration",
    unit="s",
    description="Duration of HTTP client requests (one per attempt)",
    boundaries=_DURATION_BUCKETS,
)
_RETRIES = counter("llm_infra.http.client.retries", unit="{retry}", description="HTTP client retries")
_REFUSED = counter(
    "llm_infra.http.client.circuit_open", unit="{request}", description="Requests refused by an open breaker"
)


@final
class _Target:
    """A parsed absolute URL with what spans, metrics and errors need (cached per URL string)."""

    __slots__ = ("host", "port", "scheme", "text", "url")

    def __init__(self, url: httpx.URL) -> None:
        self.url = url
        self.text = redact_url(url)
        self.scheme = url.scheme
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)


@functools.lru_cache(maxsize=1024)
def _resolve_target(base: str, url: str) -> _Target:
    """Join ``url`` onto ``base`` and check it is absolute http(s); parsing is cached."""
    try:
        target = httpx.URL(url)
        if not target.is_absolute_url and base:
            target = httpx.URL(base).join(url)
    except httpx.InvalidURL as exc:
        raise ValidationError(f"invalid URL {url!r}: {exc}", field="url", code="http.invalid_url") from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise ValidationError(
            f"URL must be absolute http(s), got {redact_url(target)!r}", field="url", code="http.invalid_url"
        )
    return _Target(target)


def _replayable(content: Any, data: Any, files: Any) -> bool:
    if files is not None:
        return False
    if content is not None and not isinstance(content, bytes | str):
        return False
    return data is None or isinstance(data, Mapping)


@final
class _Call:
    """The state of one ``request()``: attempts so far, deadline, retry schedule, breaker ticket."""

    # A private record built in one place (``_begin``); positional arguments keep it cheap.

    __slots__ = (
        "attempt",
        "breaker",
        "deadline_at",
        "delays",
        "host",
        "idempotent",
        "method",
        "port",
        "raise_for_status",
        "scheme",
        "started",
        "ticket",
        "url",
        "url_text",
    )

    def __init__(  # noqa: PLR0917 - see above
        self,
        method: str,
        target: _Target,
        started: float,
        deadline_at: float | None,
        idempotent: bool,
        delays: Iterator[float],
        raise_for_status: bool,
        breaker: CircuitBreaker | None,
    ) -> None:
        self.method = method
        self.url = target.url
        self.url_text = target.text
        self.scheme = target.scheme
        self.host = target.host
        self.port = target.port
        self.started = started
        self.deadline_at = deadline_at
        self.idempotent = idempotent
        self.delays = delays
        self.raise_for_status = raise_for_status
        self.breaker = breaker
        self.attempt = 0
        self.ticket: int | None = None


class _BaseHttpClient:
    """Options, request building and every retry/breaker/telemetry decision; no I/O."""

    def __init__(
        self,
        *,
        base_url: str | httpx.URL = "",
        timeout: HttpTimeout | float | None = _UNSET,
        headers: Mapping[str, str | Secret[str]] | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        retry: RetryPolicy | None = _UNSET,
        retry_non_idempotent: bool = False,
        max_retry_after: float = 60.0,
        circuit_breaker: BreakerOption = None,
        auth: AuthOption = None,
        on_request: Sequence[RequestHook] = (),
        on_response: Sequence[ResponseHook] = (),
        raise_for_status: bool = True,
        follow_redirects: bool = True,
        verify: Any = True,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        max_error_body: int = 1024,
        propagate: bool = True,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._timeout = HttpTimeout() if timeout is _UNSET else HttpTimeout.of(timeout)
        self._retry = RetryPolicy() if retry is _UNSET else retry
        if self._retry is not None and not isinstance(self._retry, RetryPolicy):
            raise ConfigError("retry must be a RetryPolicy or None", key="http.retry")
        if max_retry_after < 0:
            raise ConfigError("max_retry_after must be >= 0", key="http.max_retry_after")
        if max_connections < 1 or max_keepalive_connections < 0:
            raise ConfigError("connection limits must be positive", key="http.max_connections")
        if not isinstance(user_agent, str) or not user_agent or "\n" in user_agent or "\r" in user_agent:
            raise ConfigError("user_agent must be a non-empty single-line string", key="http.user_agent")
        self._retry_non_idempotent = retry_non_idempotent
        self._max_retry_after = max_retry_after
        self._raise_for_status = raise_for_status
        self._follow_redirects = follow_redirects
        self._max_error_body = max_error_body
        self._propagate = propagate
        self._clock = clock
        self._rng = rng
        self._on_request = tuple(on_request)
        self._on_response = tuple(on_response)
        self._secrets: list[str] = []
        default_headers: dict[str, str] = {"User-Agent": user_agent}
        for name, value in (headers or {}).items():
            if isinstance(value, Secret):
                revealed = str(value.reveal())
                self._secrets.append(revealed)
                default_headers[name] = revealed
            else:
                default_headers[name] = value
        self._headers = default_headers
        self._auth = self._coerce_auth(auth)
        self._breaker_option = self._coerce_breaker(circuit_breaker)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._breaker_lock = threading.Lock()
        try:
            self._base_url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"invalid base_url: {exc}", key="http.base_url") from exc
        self._base_text = str(self._base_url) if self._base_url.is_absolute_url else ""
        self._phases: dict[HttpTimeout, tuple[httpx.Timeout, float]] = {}
        self._ssl_context = ssl_context_for(verify)
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive_connections

    # --- option coercion -------------------------------------------------------------------------

    def _coerce_auth(self, auth: AuthOption) -> httpx.Auth | None:
        if auth is None:
            return None
        if isinstance(auth, Secret):
            auth = BearerAuth(auth)
        if not isinstance(auth, httpx.Auth):
            raise ConfigError(
                "auth must be an httpx.Auth or a Secret[str] bearer token (plain strings are refused)",
                key="http.auth",
            )
        return auth

    def _coerce_breaker(self, option: BreakerOption) -> Callable[[str], CircuitBreaker] | None:
        if option is None or option is False:
            return None
        if option is True:
            return lambda host: CircuitBreaker(f"http:{host}", clock=self._clock)
        if isinstance(option, CircuitBreaker):
            shared = option
            return lambda _host: shared
        if callable(option):
            return option
        raise ConfigError(
            "circuit_breaker must be a CircuitBreaker, a factory, True or None", key="http.circuit_breaker"
        )

    def breaker_for(self, url: str | httpx.URL) -> CircuitBreaker | None:
        """The circuit breaker guarding ``url``'s host (created on first use), or None."""
        if self._breaker_option is None:
            return None
        return self._breaker_for_target(self._resolve_url(url))

    def _breaker_for_target(self, target: _Target) -> CircuitBreaker:
        key = f"{target.host}:{target.port}"
        breaker = self._breakers.get(key)
        if breaker is None:
            assert self._breaker_option is not None
            with self._breaker_lock:
                breaker = self._breakers.get(key)
                if breaker is None:
                    breaker = self._breaker_option(key)
                    self._breakers[key] = breaker
        return breaker

    # --- building --------------------------------------------------------------------------------

    def _secret_values(self) -> list[str]:
        values = list(self._secrets)
        if isinstance(self._auth, BearerAuth):
            values.append(self._auth.current().reveal())
        return values

    def _begin(
        self,
        method: str,
        target: _Target,
        *,
        timeout: HttpTimeout,
        idempotent: bool | None,
        replayable: bool,
        has_idempotency_key: bool,
        raise_for_status: bool | None,
    ) -> _Call:
        started = self._clock.monotonic()
        deadlines = [
            d for d in (timeout.deadline, self._retry.deadline if self._retry else None) if d is not None
        ]
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS or has_idempotency_key or self._retry_non_idempotent
        return _Call(
            method,
            target,
            started,
            started + min(deadlines) if deadlines else None,
            idempotent and replayable,
            self._retry.delays(self._rng) if self._retry is not None else iter(()),
            self._raise_for_status if raise_for_status is None else raise_for_status,
            self._breaker_for_target(target) if self._breaker_option is not None else None,
        )

    def _admit(self, call: _Call) -> None:
        if call.breaker is None:
            return
        try:
            call.ticket = call.breaker.before_call(self._clock.monotonic())
        except CircuitOpenError:
            _REFUSED.add(1, {"server.address": call.host})
            raise

    def _attempt_timeouts(self, call: _Call, timeout: HttpTimeout) -> httpx.Timeout:
        cached = self._phases.get(timeout)
        if cached is None:
            phases = timeout.as_httpx()
            values = [v for v in (phases.connect, phases.read, phases.write, phases.pool) if v is not None]
            # With a phase left unbounded, every attempt is capped at the time remaining.
            longest = max(values) if len(values) == 4 else float("inf")
            cached = self._phases[timeout] = (phases, longest)
        phases, longest = cached
        if call.deadline_at is None:
            return phases
        left = call.deadline_at - self._clock.monotonic()
        if left <= 0:
            raise OperationTimeout(
                f"deadline exceeded for {call.method} {call.url_text} before attempt {call.attempt + 1}",
                operation=f"http {call.method}",
                duration=self._clock.monotonic() - call.started,
                code="http.deadline_exceeded",
            )
        if left >= longest:
            return phases

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cap(phases.connect), read=cap(phases.read), write=cap(phases.write), pool=cap(phases.pool)
        )

    def _start_span(self, call: _Call) -> trace.Span:
        attributes: dict[str, Any] = {
            "http.request.method": call.method,
            "server.address": call.host,
            "server.port": call.port,
            "url.full": call.url_text,
            "url.scheme": call.scheme,
            "user_agent.original": self._headers.get("User-Agent", ""),
        }
        if call.attempt:
            attributes["http.request.resend_count"] = call.attempt
        return _TRACER.start_span(
            call.method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )

    def _prepare_request(self, call: _Call, request: httpx.Request, current: trace.Span) -> None:
        if self._propagate and current.get_span_context().is_valid:
            inject(request.headers, context=trace.set_span_in_context(current))

    # --- judging ---------------------------------------------------------------------------------

    def _finish_attempt(
        self,
        call: _Call,
        current: trace.Span,
        started: float,
        response: httpx.Response | None,
        error: InfraError | None,
    ) -> None:
        """Record the attempt on its span, the duration histogram and the breaker."""
        elapsed = time.perf_counter() - started
        attrs: dict[str, Any] = {
            "http.request.method": call.method,
            "server.address": call.host,
            "server.port": call.port,
            "url.scheme": call.scheme,
        }
        if response is not None:
            attrs["http.response.status_code"] = response.status_code
            version = response.http_version.removeprefix("HTTP/")
            current.set_attribute("network.protocol.version", version)
        if error is not None:
            error_type = str(response.status_code) if response is not None else error.code
            attrs["error.type"] = error_type
            current.set_attribute("error.type", error_type)
            current.set_attribute("error.code", error.code)
            current.set_attribute("error.id", error.error_id)
            current.set_status(Status(StatusCode.ERROR, error.message))
            if response is None:
                current.record_exception(error, attributes={"error.code": error.code})
        if response is not None:
            current.set_attribute("http.response.status_code", response.status_code)
        current.end()
        _DURATION.record(elapsed, attrs)
        if call.breaker is not None and call.ticket is not None:
            ok = error is None or not error.retryable
            call.breaker.record(ok, self._clock.monotonic(), call.ticket)
            call.ticket = None

    def _real_deadline(self, call: _Call) -> float | None:
        """The deadline on ``time.monotonic`` (the socket layer's clock), whatever clock was injected."""
        if call.deadline_at is None:
            return None
        return time.monotonic() + (call.deadline_at - self._clock.monotonic())

    def _release(self, call: _Call) -> None:
        if call.breaker is not None and call.ticket is not None:
            call.breaker.release(call.ticket)
            call.ticket = None

    def _status_error(self, call: _Call, response: httpx.Response, body: bytes) -> InfraError | None:
        if response.is_success:
            return None
        return error_from_response(
            response,
            body,
            method=call.method,
            url=call.url_text,
            now=self._clock.time(),
            secrets=self._secret_values(),
            max_body=self._max_error_body,
        )

    def _transport_error(self, call: _Call, exc: Exception) -> InfraError:
        now = self._clock.monotonic()
        passed = call.deadline_at is not None and now >= call.deadline_at - 1e-3
        return error_from_exception(
            exc, method=call.method, url=call.url_text, deadline_passed=passed, duration=now - call.started
        )

    def _retry_delay(self, call: _Call, error: InfraError, *, sent: bool) -> float | None:
        """Seconds to wait before the next attempt, or None to give up with ``error``."""
        policy = self._retry
        if policy is None or call.attempt + 1 >= policy.max_attempts:
            return None
        if error.code == "http.deadline_exceeded" or not policy.should_retry(error):
            return None
        # A request that never reached the server (connect failures) may be retried whatever its
        # method; one that may have been processed only when it is idempotent.
        if not (call.idempotent or not sent):
            return None
        delay: float | None = next(call.delays, None)
        if delay is None:  # pragma: no cover - the schedule has max_attempts - 1 entries
            return None
        if error.retry_after is not None:
            if error.retry_after > self._max_retry_after:
                return None
            delay = max(delay, error.retry_after)
        if call.deadline_at is not None and self._clock.monotonic() + delay >= call.deadline_at:
            return None
        call.attempt += 1
        _RETRIES.add(1, {"http.request.method": call.method, "server.address": call.host})
        return delay

    def _resolve_url(self, url: str | httpx.URL) -> _Target:
        return _resolve_target(self._base_text, url if isinstance(url, str) else str(url))

    def _encode_json(self, value: Any) -> bytes:
        return infra_json.dumps(value)

    @staticmethod
    def _is_sent_error(exc: Exception) -> bool:
        # Connect-phase failures (and pool timeouts) mean the request never left this process.
        return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)

    def _common_headers(self, headers: Mapping[str, str] | None, json_body: bool) -> dict[str, str] | None:
        if not json_body:
            return dict(headers) if headers else None
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return merged


def _has_idempotency_key(headers: Mapping[str, str] | None) -> bool:
    return bool(headers) and any(k.lower() == "idempotency-key" for k in headers or {})


# ----------------------------------------------------------------------------------------------------
# sync


@final
class _DeadlineSyncStream(httpx.SyncByteStream):
    """Checks the deadline between chunks (covers custom transports without the deadline backend)."""

    def __init__(self, inner: httpx.SyncByteStream, deadline_at: float, clock: Clock) -> None:
        self._inner = inner
        self._deadline_at = deadline_at
        self._clock = clock

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if self._clock.monotonic() > self._deadline_at:
                raise httpx.ReadTimeout("the request deadline has passed")
            yield chunk

    def close(self) -> None:
        self._inner.close()


@final
class _ConvertingSyncStream(httpx.SyncByteStream):
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
class HttpClient(_BaseHttpClient):
    """A synchronous HTTP client: retries, per-host circuit breakers, an overall deadline, tracing.

    * Non-2xx responses raise ``HttpError`` (with the problem+json ``title``/``detail``, a masked
      body excerpt and ``retry_after`` from ``Retry-After``) unless ``raise_for_status=False``.
    * Transport failures raise a retryable ``HttpError(status=None)``; TLS failures a
      non-retryable one (code ``http.tls``); timeouts ``OperationTimeout``.
    * Idempotent methods (or requests with an ``Idempotency-Key`` header) are retried per
      ``retry``; ``Retry-After`` (seconds or HTTP-date) is honoured up to ``max_retry_after``.
    * Each attempt is one CLIENT span carrying the semantic-convention attributes, with W3C
      ``traceparent`` injected, and one ``http.client.request.duration`` measurement.

    Args:
        base_url: prefix for relative URLs.
        timeout: an ``HttpTimeout``, a number (every phase and the deadline) or None (no limits).
        headers: default headers; ``Secret`` values are revealed on the wire only and masked in errors.
        user_agent: the ``User-Agent`` header.
        retry: the ``RetryPolicy`` (None disables retries).
        retry_non_idempotent: retry POST/PATCH too (only when the server deduplicates).
        max_retry_after: longest ``Retry-After`` honoured; beyond it the error is raised at once.
        circuit_breaker: True (one breaker per host), a factory ``host -> CircuitBreaker``, one
            ``CircuitBreaker`` shared by every host, or None. Give breakers the client's clock.
        auth: an ``httpx.Auth`` or a ``Secret[str]`` bearer token.
        on_request: hooks called with each attempt's request before it is sent.
        on_response: hooks called with each attempt's response (read, unless streaming).
        raise_for_status: the default of the per-call flag.
        follow_redirects: follow 3xx (cross-origin redirects drop ``Authorization``, as in httpx).
        verify: TLS verification: True, False, a CA bundle path or an ``ssl.SSLContext``.
        max_connections: pool size.
        max_keepalive_connections: idle connections kept.
        max_error_body: characters of body kept in ``HttpError.body``.
        propagate: inject W3C trace context into outgoing requests.
        clock: time source (deadlines, ``Retry-After`` dates, breakers).
        rng: random source of the retry jitter.
        sleep: blocking sleep between retries (``clock.sleep`` if it has one, else ``time.sleep``);
            skipped under ``llm_infra.resilience.set_testing()``.
        transport: an ``httpx.BaseTransport`` replacing the default (its socket operations are
            then not capped by the deadline; it is still checked between body chunks).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        sleep: Callable[[float], object] | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self._sleep = sleep or getattr(self._clock, "sleep", None) or time.sleep
        self._transport = transport or DeadlineTransport(
            ssl_context=self._ssl_context,
            max_connections=self._max_connections,
            max_keepalive_connections=self._max_keepalive,
        )
        self._client = httpx.Client(
            base_url=self._base_url,
            headers=self._headers,
            timeout=self._timeout.as_httpx(),
            follow_redirects=self._follow_redirects,
            transport=self._transport,
            trust_env=False,
        )

    @classmethod
    def from_config(cls, cfg: Any, *, section: str = "http", **overrides: Any) -> HttpClient:
        """A client from the ``http.*`` keys of a config (see ``client_options_from_config``)."""
        return cls(**{**client_options_from_config(cfg, section=section), **overrides})

    def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = _UNSET,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        timeout: HttpTimeout | float | None = _UNSET,
        raise_for_status: bool | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a request and read the response body.

        Args:
            method: the HTTP method.
            url: absolute, or relative to ``base_url``.
            params: query parameters.
            headers: extra headers for this call.
            json: a JSON body (encoded with ``llm_infra.json``; a ``Secret`` is sent masked).
            content: a raw body.
            data: a form body.
            files: multipart files (not replayable: never retried).
            timeout: overrides the client's ``HttpTimeout`` for this call.
            raise_for_status: overrides the client's default.
            idempotent: force (or forbid) retrying this call whatever its method.

        Raises:
            HttpError: a non-2xx status (unless ``raise_for_status`` is False), a transport or
                TLS failure.
            OperationTimeout: a socket timeout or the overall deadline.
            CircuitOpenError: the host's breaker is open.
            ValidationError: an invalid URL.
        """
        response, _ = self._execute(
            method,
            url,
            params,
            headers,
            json,
            content,
            data,
            files,
            timeout,
            raise_for_status,
            idempotent,
            False,
        )
        return response

    @contextmanager
    def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = _UNSET,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        timeout: HttpTimeout | float | None = _UNSET,
        raise_for_status: bool | None = None,
        idempotent: bool | None = None,
    ) -> Iterator[httpx.Response]:
        """Send a request and yield the response with its body unread (``iter_bytes()``, ...).

        Retries happen only before the response is handed over; the deadline still bounds the
        reading of the body inside the block.
        """
        response, call = self._execute(
            method,
            url,
            params,
            headers,
            json,
            content,
            data,
            None,
            timeout,
            raise_for_status,
            idempotent,
            True,
        )
        response.stream = _ConvertingSyncStream(
            response.stream,  # type: ignore[arg-type]  # a sync client's stream
            lambda exc: self._transport_error(call, exc),
        )
        token = DEADLINE.set(self._real_deadline(call))
        try:
            yield response
        finally:
            DEADLINE.reset(token)
            response.close()

    def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("GET", url, ...)``."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("HEAD", url, ...)``."""
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("POST", url, ...)`` (not retried unless idempotent)."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("PUT", url, ...)``."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("PATCH", url, ...)`` (not retried unless idempotent)."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("DELETE", url, ...)``."""
        return self.request("DELETE", url, **kwargs)

    def _execute(  # noqa: PLR0917 - private: the public methods pass everything through
        self,
        method: str,
        url: str | httpx.URL,
        params: Any,
        headers: Mapping[str, str] | None,
        json: Any,
        content: bytes | str | None,
        data: Any,
        files: Any,
        timeout: HttpTimeout | float | None,
        raise_for_status: bool | None,
        idempotent: bool | None,
        streaming: bool,
    ) -> tuple[httpx.Response, _Call]:
        method = method.upper()
        call_timeout = self._timeout if timeout is _UNSET else HttpTimeout.of(timeout)
        target = self._resolve_url(url)
        body = content if json is _UNSET else self._encode_json(json)
        request_headers = self._common_headers(headers, json is not _UNSET)
        call = self._begin(
            method,
            target,
            timeout=call_timeout,
            idempotent=idempotent,
            replayable=_replayable(body, data, files),
            has_idempotency_key=_has_idempotency_key(headers),
            raise_for_status=raise_for_status,
        )
        while True:
            phases = self._attempt_timeouts(call, call_timeout)
            self._admit(call)
            response, error, sent = self._attempt(
                call, phases, params, request_headers, body, data, files, streaming
            )
            if error is not None:
                delay = self._retry_delay(call, error, sent=sent)
                if delay is not None:
                    if response is not None:
                        response.close()
                    if delay > 0 and not is_testing():
                        self._sleep(delay)
                    continue
                if response is None or call.raise_for_status:
                    if response is not None:
                        response.close()
                    raise error
            assert response is not None
            return response, call

    def _attempt(  # noqa: PLR0917 - private
        self,
        call: _Call,
        phases: httpx.Timeout,
        params: Any,
        headers: dict[str, str] | None,
        body: bytes | str | None,
        data: Any,
        files: Any,
        streaming: bool,
    ) -> tuple[httpx.Response | None, InfraError | None, bool]:
        current = self._start_span(call)
        started = time.perf_counter()
        # Hooks and transports see the attempt's span as current (skipped for no-op spans: no SDK).
        token = otel_context.attach(trace.set_span_in_context(current)) if current.is_recording() else None
        deadline_token = DEADLINE.set(self._real_deadline(call))
        response: httpx.Response | None = None
        error: InfraError | None = None
        sent = True
        try:
            request = self._client.build_request(
                call.method,
                call.url,
                params=params,
                headers=headers,
                content=body,
                data=data,
                files=files,
                timeout=phases,
            )
            self._prepare_request(call, request, current)
            for hook in self._on_request:
                hook(request)
            try:
                response = self._client.send(request, stream=True, auth=self._auth)
                if call.deadline_at is not None:
                    response.stream = _DeadlineSyncStream(
                        response.stream,  # type: ignore[arg-type]  # a sync client's stream
                        call.deadline_at,
                        self._clock,
                    )
                if not streaming:
                    body_bytes = response.read()
                elif response.is_success or not call.raise_for_status:
                    body_bytes = b""
                else:
                    body_bytes = self._read_error_body(response)
            except httpx.HTTPError as exc:
                if response is not None:
                    response.close()
                    response = None
                sent = self._is_sent_error(exc)
                error = self._transport_error(call, exc)
            else:
                error = self._status_error(call, response, body_bytes)
                for response_hook in self._on_response:
                    response_hook(response)
        except BaseException as exc:
            self._release(call)
            if isinstance(exc, Exception):
                from llm_infra.otel import record_error

                record_error(current, exc)
            current.end()
            raise
        finally:
            DEADLINE.reset(deadline_token)
            if token is not None:
                otel_context.detach(token)
        self._finish_attempt(call, current, started, response, error)
        return response, error, sent

    def _read_error_body(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > self._max_error_body * 4:
                break
        response.close()
        return b"".join(chunks)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# ----------------------------------------------------------------------------------------------------
# async


def _timeout_scope(seconds: float) -> Any:
    """``asyncio.timeout`` on asyncio (cheapest), ``anyio.fail_after`` elsewhere."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # pragma: no cover - trio through anyio; the tests run on asyncio
        import anyio

        return anyio.fail_after(seconds)
    return asyncio.timeout(seconds)


@final
class _DeadlineAsyncStream(httpx.AsyncByteStream):
    """Bounds each chunk wait by the time left before the deadline."""

    def __init__(self, inner: httpx.AsyncByteStream, deadline_at: float, clock: Clock) -> None:
        self._inner = inner
        self._deadline_at = deadline_at
        self._clock = clock

    async def __aiter__(self) -> AsyncIterator[bytes]:
        iterator = self._inner.__aiter__()
        while True:
            left = self._deadline_at - self._clock.monotonic()
            if left <= 0:
                raise httpx.ReadTimeout("the request deadline has passed")
            try:
                async with _timeout_scope(left):
                    chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise httpx.ReadTimeout("the request deadline has passed") from exc
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@final
class _ConvertingAsyncStream(httpx.AsyncByteStream):
    """Turns httpx errors raised while a caller iterates a streamed body into llm-infra errors."""

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


@final
class _AutoTransport(httpx.AsyncBaseTransport):
    """aiohttp's pool when running on asyncio with aiohttp installed, httpx's otherwise."""

    def __init__(self, backend: AsyncBackend, ssl_context: Any, max_connections: int, keepalive: int) -> None:
        self._backend = backend
        self._ssl = ssl_context
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._inner: httpx.AsyncBaseTransport | None = None

    def _choose(self) -> httpx.AsyncBaseTransport:
        use_aiohttp = self._backend == "aiohttp"
        if self._backend == "auto":
            try:
                asyncio.get_running_loop()
                on_asyncio = True
            except RuntimeError:  # pragma: no cover - trio through anyio: httpx's transport
                on_asyncio = False
            try:
                import aiohttp  # noqa: F401 - presence check only
            except ImportError:
                use_aiohttp = False
            else:
                use_aiohttp = on_asyncio
        if use_aiohttp:
            return AiohttpTransport(ssl_context=self._ssl, max_connections=self._max_connections)
        limits = httpx.Limits(
            max_connections=self._max_connections, max_keepalive_connections=self._keepalive
        )
        return httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits)

    @property
    def chosen(self) -> str:
        """``aiohttp``, ``httpx`` or ``unset`` (before the first request)."""
        if self._inner is None:
            return "unset"
        return "aiohttp" if isinstance(self._inner, AiohttpTransport) else "httpx"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Delegate to the chosen transport (chosen on the first request)."""
        if self._inner is None:
            self._inner = self._choose()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the chosen transport."""
        if self._inner is not None:
            await self._inner.aclose()


async def _call_hook(hook: Callable[[Any], Any], value: Any) -> None:
    result = hook(value)
    if inspect.isawaitable(result):
        await result


@final
class AsyncHttpClient(_BaseHttpClient):
    """The asyncio twin of ``HttpClient`` (same options and behaviour; hooks may be async).

    Extra args:
        backend: ``"auto"`` (aiohttp's connection pool on asyncio when aiohttp is installed,
            httpx's otherwise), ``"aiohttp"`` or ``"httpx"``. httpx's async pool slows down as
            requests pile up; aiohttp's does not (see docs/benchmarks.md).
        asleep: async sleep between retries (``clock.asleep`` if it has one, else ``asyncio.sleep``).
        transport: an ``httpx.AsyncBaseTransport`` replacing the default.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        backend: AsyncBackend = "auto",
        asleep: Callable[[float], Awaitable[object]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if backend not in ("auto", "aiohttp", "httpx"):
            raise ConfigError(f"backend must be auto, aiohttp or httpx, got {backend!r}", key="http.backend")
        self._asleep = asleep or getattr(self._clock, "asleep", None) or asyncio.sleep
        self._transport = transport or _AutoTransport(
            backend, self._ssl_context, self._max_connections, self._max_keepalive
        )
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers=self._headers,
            timeout=self._timeout.as_httpx(),
            follow_redirects=self._follow_redirects,
            transport=self._transport,
            trust_env=False,
        )

    @property
    def backend(self) -> str:
        """The transport in use: ``aiohttp``, ``httpx``, ``unset`` (no request yet) or ``custom``."""
        if isinstance(self._transport, _AutoTransport):
            return self._transport.chosen
        return "custom"

    @classmethod
    def from_config(cls, cfg: Any, *, section: str = "http", **overrides: Any) -> AsyncHttpClient:
        """A client from the ``http.*`` keys of a config (see ``client_options_from_config``)."""
        return cls(**{**client_options_from_config(cfg, section=section), **overrides})

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = _UNSET,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        timeout: HttpTimeout | float | None = _UNSET,
        raise_for_status: bool | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a request and read the response body (see ``HttpClient.request``)."""
        response, _ = await self._execute(
            method,
            url,
            params,
            headers,
            json,
            content,
            data,
            files,
            timeout,
            raise_for_status,
            idempotent,
            False,
        )
        return response

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = _UNSET,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        timeout: HttpTimeout | float | None = _UNSET,
        raise_for_status: bool | None = None,
        idempotent: bool | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and yield the response with its body unread (``aiter_bytes()``, ...)."""
        response, call = await self._execute(
            method,
            url,
            params,
            headers,
            json,
            content,
            data,
            None,
            timeout,
            raise_for_status,
            idempotent,
            True,
        )
        response.stream = _ConvertingAsyncStream(
            response.stream,  # type: ignore[arg-type]  # an async client's stream
            lambda exc: self._transport_error(call, exc),
        )
        try:
            yield response
        finally:
            await response.aclose()

    async def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("HEAD", url, ...)``."""
        return await self.request("HEAD", url, **kwargs)

    async def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("POST", url, ...)`` (not retried unless idempotent)."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("PUT", url, ...)``."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("PATCH", url, ...)`` (not retried unless idempotent)."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """``request("DELETE", url, ...)``."""
        return await self.request("DELETE", url, **kwargs)

    async def _execute(  # noqa: PLR0917 - private: the public methods pass everything through
        self,
        method: str,
        url: str | httpx.URL,
        params: Any,
        headers: Mapping[str, str] | None,
        json: Any,
        content: bytes | str | None,
        data: Any,
        files: Any,
        timeout: HttpTimeout | float | None,
        raise_for_status: bool | None,
        idempotent: bool | None,
        streaming: bool,
    ) -> tuple[httpx.Response, _Call]:
        method = method.upper()
        call_timeout = self._timeout if timeout is _UNSET else HttpTimeout.of(timeout)
        target = self._resolve_url(url)
        body = content if json is _UNSET else self._encode_json(json)
        request_headers = self._common_headers(headers, json is not _UNSET)
        call = self._begin(
            method,
            target,
            timeout=call_timeout,
            idempotent=idempotent,
            replayable=_replayable(body, data, files),
            has_idempotency_key=_has_idempotency_key(headers),
            raise_for_status=raise_for_status,
        )
        while True:
            phases = self._attempt_timeouts(call, call_timeout)
            self._admit(call)
            response, error, sent = await self._attempt(
                call, phases, params, request_headers, body, data, files, streaming
            )
            if error is not None:
                delay = self._retry_delay(call, error, sent=sent)
                if delay is not None:
                    if response is not None:
                        await response.aclose()
                    if delay > 0 and not is_testing():
                        await self._asleep(delay)
                    continue
                if response is None or call.raise_for_status:
                    if response is not None:
                        await response.aclose()
                    raise error
            assert response is not None
            return response, call

    async def _attempt(  # noqa: PLR0917 - private
        self,
        call: _Call,
        phases: httpx.Timeout,
        params: Any,
        headers: dict[str, str] | None,
        body: bytes | str | None,
        data: Any,
        files: Any,
        streaming: bool,
    ) -> tuple[httpx.Response | None, InfraError | None, bool]:
        current = self._start_span(call)
        started = time.perf_counter()
        # Hooks and transports see the attempt's span as current (skipped for no-op spans: no SDK).
        token = otel_context.attach(trace.set_span_in_context(current)) if current.is_recording() else None
        response: httpx.Response | None = None
        error: InfraError | None = None
        sent = True
        try:
            request = self._client.build_request(
                call.method,
                call.url,
                params=params,
                headers=headers,
                content=body,
                data=data,
                files=files,
                timeout=phases,
            )
            self._prepare_request(call, request, current)
            for hook in self._on_request:
                await _call_hook(hook, request)
            keep_open = streaming and not call.raise_for_status
            try:
                if call.deadline_at is None:
                    response, body_bytes = await self._exchange(request, streaming, keep_open)
                else:
                    left = call.deadline_at - self._clock.monotonic()
                    try:
                        async with _timeout_scope(max(left, 0.0)):
                            response, body_bytes = await self._exchange(request, streaming, keep_open)
                    except TimeoutError as exc:
                        raise httpx.ReadTimeout("the request deadline has passed") from exc
                    if streaming:
                        response.stream = _DeadlineAsyncStream(
                            response.stream,  # type: ignore[arg-type]  # an async client's stream
                            call.deadline_at,
                            self._clock,
                        )
            except httpx.HTTPError as exc:
                sent = self._is_sent_error(exc)
                error = self._transport_error(call, exc)
            else:
                error = self._status_error(call, response, body_bytes)
                for response_hook in self._on_response:
                    await _call_hook(response_hook, response)
        except BaseException as exc:
            self._release(call)
            if isinstance(exc, Exception):
                from llm_infra.otel import record_error

                record_error(current, exc)
            current.end()
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
        self._finish_attempt(call, current, started, response, error)
        return response, error, sent

    async def _exchange(
        self, request: httpx.Request, streaming: bool, keep_open: bool
    ) -> tuple[httpx.Response, bytes]:
        response = await self._client.send(request, stream=True, auth=self._auth)
        try:
            if not streaming:
                return response, await response.aread()
            if response.is_success or keep_open:
                return response, b""
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > self._max_error_body * 4:
                    break
            await response.aclose()
            return response, b"".join(chunks)
        except BaseException:
            await response.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


# ----------------------------------------------------------------------------------------------------
# configuration


def client_options_from_config(cfg: Any, *, section: str = "http") -> dict[str, Any]:
    """Client options from the ``<section>.*`` keys of a config.

    Keys (spec defaults): ``timeout_secs`` (30: the overall deadline and the read timeout),
    ``connect_timeout_secs`` (5), ``max_retries`` (3 retries after the first attempt),
    ``retry_delay_ms`` (1000: the first backoff), ``user_agent`` (``infra-http/1.0``),
    ``base_url``, ``verify`` (true, false or a CA bundle path), ``retry_non_idempotent`` (false),
    ``headers`` (a table; ``Secret`` values stay secret), ``bearer_token`` (a secret),
    ``circuit_breaker.enabled`` (false), ``circuit_breaker.failure_threshold`` (5),
    ``circuit_breaker.reset_timeout_secs`` (30).

    Raises:
        ConfigError: a value of the wrong type, naming its key.

    .. versionadded:: 0.1.0
    """

    def get(name: str, default: Any = None) -> Any:
        return cfg_get(cfg, f"{section}.{name}", default, reveal=name != "headers")

    def number(name: str, default: float) -> float:
        value = get(name, default)
        try:
            result = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{section}.{name} must be a number, got {value!r}", key=f"{section}.{name}"
            ) from exc
        if result < 0:
            raise ConfigError(f"{section}.{name} must be >= 0", key=f"{section}.{name}")
        return result

    def flag(name: str, default: bool) -> bool:
        value = get(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{section}.{name} must be a boolean, got {value!r}", key=f"{section}.{name}")

    total = number("timeout_secs", 30.0)
    retries = int(number("max_retries", 3))
    base_delay = number("retry_delay_ms", 1000) / 1000.0
    options: dict[str, Any] = {
        "timeout": HttpTimeout(
            connect=min(number("connect_timeout_secs", 5.0), total) or None,
            read=total or None,
            write=total or None,
            pool=min(number("connect_timeout_secs", 5.0), total) or None,
            deadline=total or None,
        ),
        "retry": RetryPolicy(
            max_attempts=retries + 1, base_delay=base_delay, max_delay=max(30.0, base_delay)
        ),
        "user_agent": str(get("user_agent", "infra-http/1.0")),
        "retry_non_idempotent": flag("retry_non_idempotent", False),
    }
    base_url = get("base_url")
    if base_url:
        options["base_url"] = str(base_url)
    verify = get("verify", True)
    if isinstance(verify, str) and verify.lower() in ("true", "false"):
        verify = verify.lower() == "true"
    options["verify"] = verify
    headers = get("headers")
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise ConfigError(f"{section}.headers must be a table", key=f"{section}.headers")
        options["headers"] = {str(k): v if isinstance(v, Secret) else str(v) for k, v in headers.items()}
    token = cfg_get(cfg, f"{section}.bearer_token", reveal=False)
    if token is not None:
        options["auth"] = BearerAuth(token if isinstance(token, Secret) else Secret(str(token)))
    if flag("circuit_breaker.enabled", False):
        threshold = int(number("circuit_breaker.failure_threshold", 5))
        reset = number("circuit_breaker.reset_timeout_secs", 30.0)
        options["circuit_breaker"] = lambda host: CircuitBreaker(
            f"http:{host}", failure_threshold=threshold, reset_timeout=reset
        )
    return options
