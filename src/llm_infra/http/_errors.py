"""From httpx outcomes to llm-infra errors: status errors with problem+json, transport, TLS, timeouts.

Nothing secret leaves here: URLs lose their userinfo and secret-looking query values, body
excerpts are bounded and have known secret values, bearer tokens and secret-looking JSON fields
masked.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from llm_infra import json as infra_json
from llm_infra.errors import HttpError, InfraError, OperationTimeout, SerializationError, ValidationError
from llm_infra.secrets import MASK

_SECRET_NAME = re.compile(
    r"(?:^|[._-])(?:password|passwd|pwd|secret|api[_-]?key|apikey|key|token|access[_-]?token|"
    r"refresh[_-]?token|auth|authorization|signature|sig|session|client[_-]?secret|code)(?:$|[._-])",
    re.IGNORECASE,
)
_SECRET_JSON_FIELD = re.compile(
    r'("(?:[A-Za-z0-9_.-]*[._-])?(?:password|passwd|secret|api[_-]?key|apikey|token|access[_-]?token|'
    r'refresh[_-]?token|authorization|client[_-]?secret)"\s*:\s*")((?:[^"\\]|\\.)*)(")',
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_PROBLEM_FIELDS = ("type", "title", "detail", "instance", "code", "error_id")
_MAX_PROBLEM_BYTES = 64 * 1024


def redact_url(url: httpx.URL | str) -> str:
    """The URL without userinfo, with the values of secret-looking query parameters masked."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_NAME.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values, bearer/basic credentials and secret-looking JSON fields."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _SECRET_JSON_FIELD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)


def body_excerpt(body: bytes, limit: int, secrets: Iterable[str] = ()) -> str | None:
    """At most ``limit`` characters of a response body, decoded leniently and masked."""
    if not body or limit <= 0:
        return None
    text = body[: limit * 4].decode("utf-8", errors="replace")
    text = mask_text(text, secrets)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110).

    Args:
        value: the header value.
        now: the current wall-clock time (seconds since the epoch).

    Returns:
        Non-negative seconds, or None when absent or malformed.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def parse_problem(response: httpx.Response, body: bytes) -> dict[str, Any] | None:
    """The RFC 9457 problem document of an error response, if it carries one."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/problem+json", "application/json") or not body:
        return None
    try:
        document = infra_json.loads(body, max_depth=32, max_bytes=_MAX_PROBLEM_BYTES)
    except SerializationError:
        return None
    if not isinstance(document, dict):
        return None
    if content_type == "application/json" and not ({"title", "detail"} & document.keys()):
        return None
    problem: dict[str, Any] = {}
    for field in _PROBLEM_FIELDS:
        value = document.get(field)
        if isinstance(value, str):
            problem[field] = value[:500]
    for field in ("status", "retry_after"):
        value = document.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            problem[field] = value
    if isinstance(document.get("retryable"), bool):
        problem["retryable"] = document["retryable"]
    return problem


def error_from_response(
    response: httpx.Response,
    body: bytes,
    *,
    method: str,
    url: str,
    now: float,
    secrets: Iterable[str],
    max_body: int,
) -> HttpError:
    """An ``HttpError`` for a non-2xx response, with problem+json details and ``Retry-After``."""
    secrets = tuple(secrets)
    status = response.status_code
    reason = response.reason_phrase or ""
    message = f"HTTP {status} {reason}".rstrip() + f" for {method} {url}"
    problem = parse_problem(response, body)
    context: dict[str, object] = {}
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if problem:
        problem = {k: mask_text(v, secrets) if isinstance(v, str) else v for k, v in problem.items()}
        summary = ": ".join(str(problem[k]) for k in ("title", "detail") if k in problem)
        if summary:
            message = f"{message}: {summary}"
        context["problem"] = problem
        if retry_after is None and isinstance(problem.get("retry_after"), int | float):
            retry_after = max(0.0, float(problem["retry_after"]))
    return HttpError(
        message,
        status=status,
        url=url,
        method=method,
        body=body_excerpt(body, max_body, secrets),
        retry_after=retry_after,
        context=context,
    )


def _find_ssl_error(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError | ssl.CertificateError):
            return current
        text = str(current)
        if "CERTIFICATE_VERIFY_FAILED" in text or "SSL:" in text or "certificate verify failed" in text:
            return current
        current = current.__cause__ or current.__context__
    return None


def error_from_exception(
    exc: Exception, *, method: str, url: str, deadline_passed: bool, duration: float
) -> InfraError:
    """An ``InfraError`` for a failed send: timeout, TLS, invalid URL or transport failure."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        if deadline_passed:
            return OperationTimeout(
                f"deadline exceeded for {method} {url} after {duration:.3g} s",
                operation=f"http {method}",
                duration=duration,
                code="http.deadline_exceeded",
            )
        return OperationTimeout(
            f"{name} for {method} {url} after {duration:.3g} s",
            operation=f"http {method}",
            duration=duration,
            code="http.timeout",
        )
    tls = _find_ssl_error(exc)
    if tls is not None:
        return HttpError(
            f"TLS failure for {method} {url}: {tls}",
            method=method,
            url=url,
            code="http.tls",
            retryable=False,
            remediation=[
                "The server's certificate did not verify: check its chain, host name and expiry.",
                "For a private CA pass verify='/path/to/ca.pem' (or an ssl.SSLContext);"
                " never disable verification in production.",
            ],
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ValidationError(f"invalid URL for {method}: {exc}", field="url", code="http.invalid_url")
    detail = str(exc) or name
    return HttpError(f"{name}: {detail} ({method} {url})", method=method, url=url, code="http.transport")
