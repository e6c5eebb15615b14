"""``HttpClient``: the synchronous driver of the shared attempt flow (``_call.ClientCore.flow``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Unpack, final

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace

from llm_infra._internal._attrs import Closing
from llm_infra.http._call import Attempt, Call, ClientCore, Close, Outcome, Sleep
from llm_infra.http._options import RequestOptions, StreamOptions, client_options_from_config
from llm_infra.http._streams import ConvertingSyncStream, DeadlineSyncStream
from llm_infra.http._transport import CURRENT_DEADLINE, DeadlineTransport

__all__ = ["HttpClient"]


@final
class HttpClient(ClientCore, Closing):
    """A synchronous HTTP client: retries, per-host circuit breakers, an overall deadline, tracing.

    * Non-2xx responses raise ``HttpError`` (with the problem+json ``title``/``detail``, a masked
      body excerpt and ``retry_after`` from ``Retry-After``) unless ``raise_for_status=False``.
    * Transport failures raise a retryable ``HttpError(status=None)``; TLS failures a
      non-retryable one (code ``http.tls``); timeouts ``OperationTimeout``.
    * Retries follow ``llm_infra.resilience.RetryState``, the same state machine as ``@retry``:
      idempotent methods (or requests with an ``Idempotency-Key`` header) are retried per
      ``retry``; ``Retry-After`` (seconds or HTTP-date) is honoured up to ``max_retry_after``;
      ``set_testing(True, attempts=n)`` caps the attempts and skips the sleeps.
    * One ``Deadline`` per call (``HttpTimeout.deadline``, or the policy's if shorter), on the
      client's clock, bounds every attempt, retry sleep and the reading of the body.
    * Each attempt is one CLIENT span carrying the semantic-convention attributes, with W3C
      ``traceparent`` injected, and one ``http.client.request.duration`` measurement.

    Args:
        base_url: prefix for relative URLs.
        timeout: an ``HttpTimeout``, a number (every phase and the deadline) or None (no limits).
        headers: default headers; ``Secret`` values are revealed on the wire only and masked in errors.
        user_agent: the ``User-Agent`` header (default ``DEFAULT_USER_AGENT``).
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
        clock: time source (the deadline, ``Retry-After`` dates, breakers).
        rng: random source of the retry jitter.
        sleep: blocking sleep between retries (``clock.sleep`` if it has one, else ``time.sleep``).
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
        self._transport = transport or DeadlineTransport(self._pool)
        self._client = httpx.Client(transport=self._transport, **self.httpx_options())

    @classmethod
    def from_config(cls, cfg: Any, *, section: str = "http", **overrides: Any) -> HttpClient:
        """A client from the ``<section>.*`` keys of a ``Config`` (see ``HttpSettings``).

        With nothing set it equals ``HttpClient()`` option for option (``.options``).
        """
        return cls(**{**client_options_from_config(cfg, section=section), **overrides})

    def request(self, method: str, url: str | httpx.URL, **options: Unpack[RequestOptions]) -> httpx.Response:
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
        call = self.begin(False, method, url, **options)
        return self._run(call)

    @contextmanager
    def stream(
        self, method: str, url: str | httpx.URL, **options: Unpack[StreamOptions]
    ) -> Iterator[httpx.Response]:
        """Send a request and yield the response with its body unread (``iter_bytes()``, ...).

        Retries happen only before the response is handed over; the call's deadline still bounds
        the reading of the body inside the block, and httpx errors raised while reading it become
        llm-infra errors (as in ``AsyncHttpClient.stream``).
        """
        call = self.begin(True, method, url, **options)
        response = self._run(call)
        response.stream = ConvertingSyncStream(
            response.stream,  # type: ignore[arg-type]  # a sync client's stream
            lambda exc: self.transport_error(call, exc),
        )
        token = CURRENT_DEADLINE.set(call.deadline)
        try:
            yield response
        finally:
            CURRENT_DEADLINE.reset(token)
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

    # --- the driver ------------------------------------------------------------------------------

    def _run(self, call: Call) -> httpx.Response:
        flow = self.flow(call)
        step = next(flow)
        while True:
            result: Outcome | None = None
            try:
                if isinstance(step, Attempt):
                    result = self._attempt(call, step)
                elif isinstance(step, Sleep):
                    self._sleep(step.delay)
                else:
                    assert isinstance(step, Close)
                    step.response.close()
            except BaseException as exc:  # noqa: BLE001 - handed to the flow, which re-raises it
                step = flow.throw(exc)
                continue
            try:
                step = flow.send(result)
            except StopIteration as done:
                response: httpx.Response = done.value
                return response

    def _attempt(self, call: Call, step: Attempt) -> Outcome:
        span = step.span
        # Hooks and transports see the attempt's span as current (skipped for no-op spans: no SDK).
        token = otel_context.attach(trace.set_span_in_context(span)) if span.is_recording() else None
        deadline_token = CURRENT_DEADLINE.set(call.deadline)
        try:
            request = self.build_request(self._client, call, step)
            for hook in self._on_request:
                hook(request)
            response: httpx.Response | None = None
            try:
                response = self._client.send(request, stream=True, auth=self._auth)
                if call.deadline is not None:
                    response.stream = DeadlineSyncStream(
                        response.stream,  # type: ignore[arg-type]  # a sync client's stream
                        call.deadline,
                    )
                if not call.streaming:
                    body = response.read()
                elif self.keep_open(call, response):
                    body = b""
                else:
                    body = self._read_error_body(response)
            except httpx.HTTPError as exc:
                if response is not None:
                    response.close()
                return None, b"", exc
            for response_hook in self._on_response:
                response_hook(response)
            return response, body, None
        finally:
            CURRENT_DEADLINE.reset(deadline_token)
            if token is not None:
                otel_context.detach(token)

    def _read_error_body(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        limit = self.read_limit()
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
        response.close()
        return b"".join(chunks)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
