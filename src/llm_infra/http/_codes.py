"""Error codes of ``llm_infra.http`` (``http.<reason>``), one constant each, with their meaning."""

from __future__ import annotations

from typing import Final

STATUS: Final = "http.status"
TRANSPORT: Final = "http.transport"
TIMEOUT: Final = "http.timeout"
DEADLINE_EXCEEDED: Final = "http.deadline_exceeded"
TLS: Final = "http.tls"
INVALID_URL: Final = "http.invalid_url"
INVALID_OPTION: Final = "http.invalid_option"
REQUEST_TIMEOUT: Final = "http.request_timeout"
HEAD_TOO_LARGE: Final = "http.head_too_large"
MALFORMED_REQUEST: Final = "http.malformed_request"
AMBIGUOUS_FRAMING: Final = "http.ambiguous_framing"
BAD_CONTENT_LENGTH: Final = "http.bad_content_length"
BODY_TOO_LARGE: Final = "http.body_too_large"
TOO_MANY_HEADERS: Final = "http.too_many_headers"
HEADERS_TOO_LARGE: Final = "http.headers_too_large"
URI_TOO_LONG: Final = "http.uri_too_long"
CORS_DENIED: Final = "http.cors_denied"
CORS_INVALID: Final = "http.cors_invalid"
INVALID_LIMIT: Final = "http.invalid_limit"
SERVER_START_FAILED: Final = "http.server_start_failed"
INTERNAL_ERROR: Final = "internal.error"

DESCRIPTIONS: Final[dict[str, str]] = {
    STATUS: "the server answered with a non-2xx status (the status and problem details are attached)",
    TRANSPORT: "the request failed on the wire (connection refused or reset, protocol error)",
    TIMEOUT: "a socket operation (connect, read, write, pool) timed out",
    DEADLINE_EXCEEDED: "the overall deadline of the call passed (attempts, retry sleeps and body read)",
    TLS: "the server's TLS certificate did not verify",
    INVALID_URL: "the URL is not an absolute http(s) URL",
    INVALID_OPTION: "a client option has the wrong type or value",
    REQUEST_TIMEOUT: "the server gave up waiting for a request head or body (408)",
    HEAD_TOO_LARGE: "the request head exceeds the parser limit (431)",
    MALFORMED_REQUEST: "the request could not be parsed as HTTP/1.1 (400)",
    AMBIGUOUS_FRAMING: "the request carries both Content-Length and Transfer-Encoding (400, closed)",
    BAD_CONTENT_LENGTH: "the Content-Length header is not a valid length (400)",
    BODY_TOO_LARGE: "the request body exceeds max_body_size (413)",
    TOO_MANY_HEADERS: "the request has more header lines than max_headers (431)",
    HEADERS_TOO_LARGE: "the request headers exceed max_header_bytes (431)",
    URI_TOO_LONG: "the request target exceeds max_url_length (414)",
    CORS_DENIED: "a CORS preflight asked for an origin, method or header that is not allowed (403)",
    CORS_INVALID: "a CorsConfig is inconsistent (a '*' origin with credentials, an origin with a path)",
    INVALID_LIMIT: "a middleware limit is not a positive number",
    SERVER_START_FAILED: "the HTTP server could not start (port in use, lifespan startup failed)",
}
"""Each ``http.*`` code and its one-line meaning (``internal.error`` belongs to ``errors``)."""
