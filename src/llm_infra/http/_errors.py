"""From httpx outcomes to llm-infra errors: status errors with problem+json, transport, TLS, timeouts.

Nothing secret leaves here: URLs lose their userinfo and secret-looking query values, body
excerpts are bounded and have known secret values, bearer tokens and secret-looking JSON fields
masked.
"""

from __future__ import annotations

import math
import re
import ssl
import time
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from llm_infra import json as infra_json
from llm_infra.errors import HttpError, InfraError, OperationTimeout, SerializationError, ValidationError
from llm_infra.http import _codes
from llm_infra.secrets import MASK, is_secret_name

# Secret-looking names are decided by ``llm_infra.secrets.is_secret_name`` (the one rule); these
# patterns only find the name/value pairs to ask it about.
_JSON_FIELD = re.compile(r'("([^"\\]{1,128})"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_HEADER_LINE = re.compile(r"(?im)^([A-Za-z][A-Za-z0-9_-]{0,63})(\s*:\s*)([^\s{}\"][^{}\"\r\n]*)")
_FORM_PAIR = re.compile(r"(?<![\w.-])([A-Za-z][\w.-]{0,63})=([^&\s\"']+)")
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
        query = urlencode([(k, MASK if is_secret_name(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _mask_json_field(match: re.Match[str]) -> str:
    if is_secret_name(match.group(2)):
        return f"{match.group(1)}{MASK}{match.group(4)}"
    return match.group(0)


def _mask_header_line(match: re.Match[str]) -> str:
    if is_secret_name(match.group(1)):
        return f"{match.group(1)}{match.group(2)}{MASK}"
    return match.group(0)


def _mask_form_pair(match: re.Match[str]) -> str:
    if is_secret_name(match.group(1)):
        return f"{match.group(1)}={MASK}"
    return match.group(0)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values, bearer/basic credentials and secret-named fields.

    Fields are JSON members (``"password": "..."``), header lines (``Cookie: ...``) and form or
    query pairs (``api_key=...``) whose name ``is_secret_name`` calls secret.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _JSON_FIELD.sub(_mask_json_field, text)
    text = _HEADER_LINE.sub(_mask_header_line, text)
    return _FORM_PAIR.sub(_mask_form_pair, text)


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


def _request_of(exc: BaseException) -> httpx.Request | None:
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # httpx raises when the request was never set
        return None
    return request if isinstance(request, httpx.Request) else None


def httpx_error(
    exc: BaseException,
    *,
    method: str | None = None,
    url: str | None = None,
    deadline_passed: bool = False,
    duration: float | None = None,
    max_body: int = 1024,
) -> InfraError:
    """THE conversion of an httpx error into an ``InfraError`` (``to_infra_error`` uses it too).

    Timeouts become ``OperationTimeout`` (``http.timeout``, or ``http.deadline_exceeded`` when the
    call's deadline passed), TLS failures a non-retryable ``HttpError`` (``http.tls``), invalid
    URLs a ``ValidationError`` (``http.invalid_url``), ``HTTPStatusError`` an ``HttpError`` with
    the status (``http.status``) and anything else a retryable ``HttpError`` (``http.transport``).
    URLs are always redacted (no userinfo, secret-named query values masked).
    """
    request = _request_of(exc)
    if method is None and request is not None:
        method = request.method
    if url is None and request is not None:
        url = redact_url(request.url)
    where = f"{method} {url}" if method and url else (method or url or "request")
    name = type(exc).__name__
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        try:
            body = response.content
        except httpx.ResponseNotRead:
            body = b""
        return error_from_response(
            response, body, method=method or "", url=url or "", now=time.time(), secrets=(), max_body=max_body
        )
    took = f" after {duration:.3g} s" if duration is not None else ""
    if isinstance(exc, httpx.TimeoutException):
        if deadline_passed:
            return OperationTimeout(
                f"deadline exceeded for {where}{took}",
                operation=f"http {method}" if method else "http",
                duration=duration,
                code=_codes.DEADLINE_EXCEEDED,
            )
        return OperationTimeout(
            f"{name} for {where}{took}",
            operation=f"http {method}" if method else "http",
            duration=duration,
            code=_codes.TIMEOUT,
        )
    tls = _find_ssl_error(exc)
    if tls is not None:
        return HttpError(
            f"TLS failure for {where}: {tls}",
            method=method,
            url=url,
            code=_codes.TLS,
            retryable=False,
            remediation=[
                "The server's certificate did not verify: check its chain, host name and expiry.",
                "For a private CA pass verify='/path/to/ca.pem' (or an ssl.SSLContext);"
                " never disable verification in production.",
            ],
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ValidationError(
            f"invalid URL for {method or 'request'}: {exc}", field="url", code=_codes.INVALID_URL
        )
    detail = mask_text(str(exc)) or name
    return HttpError(f"{name}: {detail} ({where})", method=method, url=url, code=_codes.TRANSPORT)
