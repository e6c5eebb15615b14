"""The sans-I/O heart of both HTTP clients: options, decisions and the one attempt flow.

``ClientCore`` holds every decision and no I/O. ``ClientCore.flow(call)`` is a generator (in
the style of httpx's ``Auth.auth_flow``) that yields what must happen next, an ``Attempt`` to
send, a ``Sleep`` between attempts or a ``Close`` of a discarded response, and receives each
attempt's outcome. ``HttpClient`` and ``AsyncHttpClient`` are thin drivers of the same flow:
which attempt may start (the breaker), what an outcome means (``RetryState`` from
``llm_infra.resilience``), the call's one ``Deadline`` and what is recorded (spans, metrics).
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Final, TypeAlias, Unpack, final

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llm_infra import json as infra_json
from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import CircuitOpenError, ConfigError, InfraError, OperationTimeout, ValidationError
from llm_infra.http import _codes
from llm_infra.http._errors import error_from_response, httpx_error, redact_url
from llm_infra.http._options import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_ERROR_BODY,
    DEFAULT_MAX_KEEPALIVE,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
    IDEMPOTENT_METHODS,
    BearerAuth,
    ClientOptions,
    HttpTimeout,
    PoolLimits,
    RequestOptions,
    StreamOptions,
    ssl_context_for,
)
from llm_infra.otel import counter, get_tracer, histogram, inject, record_error
from llm_infra.resilience import CircuitBreaker, Deadline, RetryPolicy, RetryState
from llm_infra.secrets import Secret

__all__ = ["UNSET", "Attempt", "Call", "ClientCore", "Close", "Outcome", "Sleep"]

RequestHook: TypeAlias = Callable[[httpx.Request], Any]
ResponseHook: TypeAlias = Callable[[httpx.Response], Any]
BreakerOption: TypeAlias = CircuitBreaker | Callable[[str], CircuitBreaker] | bool | None
AuthOption: TypeAlias = httpx.Auth | Secret[str] | None
Outcome: TypeAlias = tuple[httpx.Response | None, bytes, Exception | None]
"""What a driver reports for an attempt: the response, the bytes read, or the httpx error."""

UNSET: Any = object()
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
        raise ValidationError(f"invalid URL {url!r}: {exc}", field="url", code=_codes.INVALID_URL) from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise ValidationError(
            f"URL must be absolute http(s), got {redact_url(target)!r}", field="url", code=_codes.INVALID_URL
        )
    return _Target(target)


def replayable(content: Any, data: Any, files: Any) -> bool:
    """Whether a request body can be sent again (bytes, str, a form mapping; no streams or files)."""
    if files is not None:
        return False
    if content is not None and not isinstance(content, bytes | str):
        return False
    return data is None or isinstance(data, Mapping)


def has_idempotency_key(headers: Mapping[str, str] | None) -> bool:
    """Whether the caller sent an ``Idempotency-Key`` (the server deduplicates)."""
    return bool(headers) and any(k.lower() == "idempotency-key" for k in headers or {})


@final
class Call:
    """The state of one ``request()``: target, deadline, retry state, breaker ticket, request parts."""

    __slots__ = (
        "body",
        "breaker",
        "data",
        "deadline",
        "files",
        "headers",
        "host",
        "method",
        "params",
        "port",
        "raise_for_status",
        "resends",
        "retry",
        "scheme",
        "started",
        "streaming",
        "ticket",
        "timeout",
        "url",
        "url_text",
    )

    def __init__(self, method: str, target: _Target, started: float) -> None:
        self.method = method
        self.url = target.url
        self.url_text = target.text
        self.scheme = target.scheme
        self.host = target.host
        self.port = target.port
        self.started = started
        self.deadline: Deadline | None = None
        self.retry: RetryState | None = None
        self.raise_for_status = True
        self.breaker: CircuitBreaker | None = None
        self.ticket: int | None = None
        self.resends = 0
        self.timeout = DEFAULT_TIMEOUT
        self.streaming = False
        self.params: Any = None
        self.headers: dict[str, str] | None = None
        self.body: bytes | str | None = None
        self.data: Any = None
        self.files: Any = None


@final
class Attempt:
    """Flow step: send one attempt with these per-phase timeouts under this span."""

    __slots__ = ("phases", "span")

    def __init__(self, phases: httpx.Timeout, span: trace.Span) -> None:
        self.phases = phases
        self.span = span


@final
class Sleep:
    """Flow step: wait ``delay`` seconds before the next attempt."""

    __slots__ = ("delay",)

    def __init__(self, delay: float) -> None:
        self.delay = delay


@final
class Close:
    """Flow step: close a response that is discarded (retried or raised)."""

    __slots__ = ("response",)

    def __init__(self, response: httpx.Response) -> None:
        self.response = response


Step: TypeAlias = Attempt | Sleep | Close


class ClientCore:
    """Options, request building and every retry/breaker/deadline/telemetry decision; no I/O."""

    def __init__(
        self,
        *,
        base_url: str | httpx.URL = "",
        timeout: HttpTimeout | float | None = UNSET,
        headers: Mapping[str, str | Secret[str]] | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        retry: RetryPolicy | None = UNSET,
        retry_non_idempotent: bool = False,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        circuit_breaker: BreakerOption = None,
        auth: AuthOption = None,
        on_request: Sequence[RequestHook] = (),
        on_response: Sequence[ResponseHook] = (),
        raise_for_status: bool = True,
        follow_redirects: bool = True,
        verify: Any = True,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE,
        max_error_body: int = DEFAULT_MAX_ERROR_BODY,
        propagate: bool = True,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        timeout = DEFAULT_TIMEOUT if timeout is UNSET else HttpTimeout.of(timeout)
        retry = DEFAULT_RETRY if retry is UNSET else retry
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError("retry must be a RetryPolicy or None", key="http.retry")
        if max_retry_after < 0:
            raise ConfigError("max_retry_after must be >= 0", key="http.max_retry_after")
        if max_connections < 1 or max_keepalive_connections < 0:
            raise ConfigError("connection limits must be positive", key="http.max_connections")
        if not isinstance(user_agent, str) or not user_agent or "\n" in user_agent or "\r" in user_agent:
            raise ConfigError("user_agent must be a non-empty single-line string", key="http.user_agent")
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
        self._phases: dict[HttpTimeout, tuple[httpx.Timeout, float]] = {}
        self._pool = PoolLimits(
            ssl_context=ssl_context_for(verify),
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
        )
        self._options = ClientOptions(
            base_url=str(self._base_url) if self._base_url.is_absolute_url else "",
            timeout=timeout,
            retry=retry,
            user_agent=user_agent,
            retry_non_idempotent=retry_non_idempotent,
            max_retry_after=max_retry_after,
            verify=verify,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            max_error_body=max_error_body,
            follow_redirects=follow_redirects,
            raise_for_status=raise_for_status,
            propagate=propagate,
            circuit_breaker=self._breaker_option is not None,
            auth=self._auth is not None,
            headers=tuple(sorted(k.lower() for k in self._headers)),
        )

    options: readonly[ClientOptions] = readonly(
        "_options", "The resolved options (equal for equally configured clients, whatever the construction)."
    )

    def httpx_options(self) -> dict[str, Any]:
        """The keyword arguments of the driver's ``httpx.Client``/``AsyncClient``, but its transport."""
        return {
            "base_url": self._base_url,
            "headers": self._headers,
            "timeout": self._options.timeout.as_httpx(),
            "follow_redirects": self._options.follow_redirects,
            "trust_env": False,
        }

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

    def _resolve_url(self, url: str | httpx.URL) -> _Target:
        return _resolve_target(self._options.base_url, url if isinstance(url, str) else str(url))

    def _secret_values(self) -> list[str]:
        values = list(self._secrets)
        if isinstance(self._auth, BearerAuth):
            values.append(self._auth.current().reveal())
        return values

    def begin(
        self, streaming: bool, method: str, url: str | httpx.URL, /, **options: Unpack[RequestOptions]
    ) -> Call:
        """The state of a new call: its one deadline, its retry state, its request parts.

        Raises:
            TypeError: an option that ``request()`` (``stream()`` when streaming) does not take.
        """
        allowed = StreamOptions.__optional_keys__ if streaming else RequestOptions.__optional_keys__
        if not options.keys() <= allowed:
            unknown = min(options.keys() - allowed)
            caller = "stream" if streaming else "request"
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown!r}")
        defaults = self._options
        method = method.upper()
        target = self._resolve_url(url)
        call = Call(method, target, self._clock.monotonic())
        timeout = options.get("timeout", UNSET)
        call.timeout = call_timeout = defaults.timeout if timeout is UNSET else HttpTimeout.of(timeout)
        call.streaming = streaming
        call.params = options.get("params")
        call.data = data = options.get("data")
        call.files = files = options.get("files")
        headers = options.get("headers")
        json = options.get("json", UNSET)
        if json is UNSET:
            call.body = options.get("content")
            call.headers = dict(headers) if headers else None
        else:
            call.body = infra_json.dumps(json)
            call.headers = {"Content-Type": "application/json", **(headers or {})}
        policy = defaults.retry
        seconds = call_timeout.deadline
        if policy is not None and policy.deadline is not None:
            seconds = policy.deadline if seconds is None else min(seconds, policy.deadline)
        if seconds is not None:
            call.deadline = Deadline(seconds, clock=self._clock)
        if policy is not None:
            idempotent = options.get("idempotent")
            if idempotent is None:
                idempotent = (
                    method in IDEMPOTENT_METHODS
                    or has_idempotency_key(headers)
                    or defaults.retry_non_idempotent
                )
            call.retry = RetryState(
                policy,
                clock=self._clock,
                rng=self._rng,
                max_retry_after=defaults.max_retry_after,
                idempotent=idempotent and replayable(call.body, data, files),
                deadline_at=call.deadline.at if call.deadline is not None else None,
                start=call.started,
            )
        raise_for_status = options.get("raise_for_status")
        call.raise_for_status = defaults.raise_for_status if raise_for_status is None else raise_for_status
        if self._breaker_option is not None:
            call.breaker = self._breaker_for_target(target)
        return call

    def build_request(
        self, client: httpx.Client | httpx.AsyncClient, call: Call, step: Attempt
    ) -> httpx.Request:
        """The httpx request of one attempt, with trace context injected."""
        request = client.build_request(
            call.method,
            call.url,
            params=call.params,
            headers=call.headers,
            content=call.body,
            data=call.data,
            files=call.files,
            timeout=step.phases,
        )
        span = step.span
        if self._options.propagate and span.get_span_context().is_valid:
            inject(request.headers, context=trace.set_span_in_context(span))
        return request

    def keep_open(self, call: Call, response: httpx.Response) -> bool:
        """Whether a streamed response is handed over unread (else its error body is read)."""
        return response.is_success or not call.raise_for_status

    # --- the attempt flow ------------------------------------------------------------------------

    def flow(self, call: Call) -> Generator[Step, Outcome | None, httpx.Response]:
        """Yield the steps of ``call`` until it returns the response or raises its error."""
        while True:
            phases = self._attempt_timeouts(call)
            self._admit(call)
            span = self._start_span(call)
            started = time.perf_counter()
            try:
                outcome = yield Attempt(phases, span)
            except BaseException as exc:
                self._release(call)
                if isinstance(exc, Exception):
                    record_error(span, exc)
                span.end()
                raise
            assert outcome is not None
            response, body, failure = outcome
            sent = True
            if failure is not None:
                sent = not isinstance(failure, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                error: InfraError | None = self.transport_error(call, failure)
            else:
                assert response is not None
                error = self._status_error(call, response, body)
            self._finish_attempt(call, span, started, response, error)
            if error is None:
                assert response is not None
                return response
            delay = self._retry_delay(call, error, sent)
            if delay is not None:
                if response is not None:
                    yield Close(response)
                if delay > 0:
                    yield Sleep(delay)
                continue
            if response is None or call.raise_for_status:
                if response is not None:
                    yield Close(response)
                raise error
            return response

    def _retry_delay(self, call: Call, error: InfraError, sent: bool) -> float | None:
        state = call.retry
        if state is None:
            return None
        if error.code == _codes.DEADLINE_EXCEEDED:
            state.give_up(error, "the deadline passed")
            return None
        delay = state.on_error(error, self._clock.monotonic(), sent=sent)
        if delay is not None:
            call.resends += 1
            _RETRIES.add(1, {"http.request.method": call.method, "server.address": call.host})
        return delay

    def _attempt_timeouts(self, call: Call) -> httpx.Timeout:
        """The per-phase timeouts of the next attempt, capped at what is left of the deadline."""
        timeout = call.timeout
        cached = self._phases.get(timeout)
        if cached is None:
            phases = timeout.as_httpx()
            values = [v for v in (phases.connect, phases.read, phases.write, phases.pool) if v is not None]
            # With a phase left unbounded, every attempt is capped at the time remaining.
            longest = max(values) if len(values) == 4 else float("inf")
            cached = self._phases[timeout] = (phases, longest)
        phases, longest = cached
        if call.deadline is None:
            return phases
        left = call.deadline.remaining()
        if left <= 0:
            error = OperationTimeout(
                f"deadline exceeded for {call.method} {call.url_text} before attempt {call.resends + 1}",
                operation=f"http {call.method}",
                duration=self._clock.monotonic() - call.started,
                code=_codes.DEADLINE_EXCEEDED,
            )
            if call.retry is not None:
                call.retry.give_up(error, "the deadline passed")
            raise error
        if left >= longest * 0.99:
            # Within 1% of the longest phase: no cap (the socket layer and the async timeout
            # scope enforce the deadline exactly), and no new httpx.Timeout per attempt.
            return phases

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cap(phases.connect), read=cap(phases.read), write=cap(phases.write), pool=cap(phases.pool)
        )

    def _admit(self, call: Call) -> None:
        if call.breaker is None:
            return
        try:
            call.ticket = call.breaker.before_call(self._clock.monotonic())
        except CircuitOpenError:
            _REFUSED.add(1, {"server.address": call.host})
            raise

    def _release(self, call: Call) -> None:
        if call.breaker is not None and call.ticket is not None:
            call.breaker.release(call.ticket)
            call.ticket = None

    # --- telemetry -------------------------------------------------------------------------------

    def _start_span(self, call: Call) -> trace.Span:
        attributes: dict[str, Any] = {
            "http.request.method": call.method,
            "server.address": call.host,
            "server.port": call.port,
            "url.full": call.url_text,
            "url.scheme": call.scheme,
            "user_agent.original": self._options.user_agent,
        }
        if call.resends:
            attributes["http.request.resend_count"] = call.resends
        return _TRACER.start_span(
            call.method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )

    def _finish_attempt(
        self,
        call: Call,
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

    # --- judging ---------------------------------------------------------------------------------

    def _status_error(self, call: Call, response: httpx.Response, body: bytes) -> InfraError | None:
        if response.is_success:
            return None
        return error_from_response(
            response,
            body,
            method=call.method,
            url=call.url_text,
            now=self._clock.time(),
            secrets=self._secret_values(),
            max_body=self._options.max_error_body,
        )

    def transport_error(self, call: Call, exc: Exception) -> InfraError:
        """The llm-infra error for an httpx failure of ``call`` (the one converter)."""
        passed = call.deadline is not None and call.deadline.remaining() <= 1e-3
        return httpx_error(
            exc,
            method=call.method,
            url=call.url_text,
            deadline_passed=passed,
            duration=self._clock.monotonic() - call.started,
        )

    def read_limit(self) -> int:
        """Bytes of an error body read from a streamed response (enough for the excerpt)."""
        return self._options.max_error_body * 4
