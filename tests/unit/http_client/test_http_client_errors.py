"""Pure helpers: URL redaction, masking, Retry-After parsing, problem+json and exception mapping."""

from __future__ import annotations

import ssl

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.errors import HttpError, OperationTimeout, ValidationError
from llm_infra.http import parse_retry_after
from llm_infra.http._errors import body_excerpt, httpx_error, mask_text, parse_problem, redact_url
from llm_infra.secrets import MASK

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("Sun, 15 Jan 2027 08:00:10 GMT", None),  # computed below
        ("not a date", None),
        ("Mon, 99 Foo 2027 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delta-seconds, HTTP-dates (relative to now) and garbage."""
    if value and value.startswith("Sun"):
        from email.utils import parsedate_to_datetime

        expected = max(0.0, parsedate_to_datetime(value).timestamp() - NOW)
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_dates_in_the_past_and_without_zone() -> None:
    """A past date means retry now; a date without a zone is read as GMT."""
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 -0000", 0.0) == 10.0


def test_redact_url() -> None:
    """Userinfo goes, secret-looking query values are masked, others kept; IPv6 hosts survive."""
    url = "https://user:pw@api.example.com:8443/v1/x?token=abc&page=2&client_secret=s#frag"
    redacted = redact_url(url)
    assert redacted == f"https://api.example.com:8443/v1/x?token={MASK}&page=2&client_secret={MASK}"
    assert redact_url(httpx.URL("http://[::1]:8080/a")) == "http://[::1]:8080/a"
    assert redact_url("http://host/a") == "http://host/a"


@settings(max_examples=60)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=20))
def test_redacted_urls_never_contain_secret_values(secret: str) -> None:
    """Whatever the value of a secret-looking parameter, it is not in the redacted URL."""
    redacted = redact_url(f"http://h/p?api_key={secret}&x=1")
    assert f"api_key={MASK}" in redacted
    assert f"={secret}" not in redacted


def test_mask_text_and_excerpts() -> None:
    """Known secrets, bearer credentials and secret JSON fields are masked; excerpts are bounded."""
    text = 'Authorization: Bearer abc.def-123 {"password": "p\\"w", "name": "ok", "api_key":"k"} s3cr3t'
    masked = mask_text(text, ["s3cr3t", "ab"])
    assert "abc.def-123" not in masked
    assert '"password": "' + MASK + '"' in masked
    assert '"api_key":"' + MASK + '"' in masked
    assert '"name": "ok"' in masked
    assert "s3cr3t" not in masked
    assert body_excerpt(b"", 10) is None
    assert body_excerpt(b"x" * 50, 10) == "x" * 10 + "…"
    assert body_excerpt(b"\xff\xfeok", 10) == "\ufffd\ufffdok"


def _response(status: int, content_type: str, body: bytes) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": content_type}, content=body)


def test_parse_problem_variants() -> None:
    """problem+json and title/detail JSON are parsed; other bodies are not."""
    body = b'{"title":"T","detail":"D","status":400,"code":"c","retryable":false,"retry_after":3,"extra":1}'
    problem = parse_problem(_response(400, "application/problem+json", body), body)
    assert problem == {
        "title": "T",
        "detail": "D",
        "code": "c",
        "status": 400,
        "retry_after": 3,
        "retryable": False,
    }
    assert parse_problem(_response(400, "application/json", b'{"error":"x"}'), b'{"error":"x"}') is None
    assert parse_problem(_response(400, "application/json", b'{"detail":"x"}'), b'{"detail":"x"}') == {
        "detail": "x"
    }
    assert parse_problem(_response(400, "application/json", b"[1]"), b"[1]") is None
    assert parse_problem(_response(400, "application/json", b"{bad"), b"{bad") is None
    assert parse_problem(_response(400, "text/plain", b"oops"), b"oops") is None
    assert parse_problem(_response(400, "application/json", b""), b"") is None


def test_retry_after_from_the_problem_document() -> None:
    """Without a header, a problem's retry_after is used."""
    from llm_infra.http._errors import error_from_response

    body = b'{"title":"Busy","retry_after":4}'
    error = error_from_response(
        _response(503, "application/problem+json", body),
        body,
        method="GET",
        url="http://h/",
        now=NOW,
        secrets=[],
        max_body=100,
    )
    assert error.retry_after == 4.0
    assert error.message.endswith(": Busy")


def test_exception_mapping() -> None:
    """Timeouts, deadline, TLS, invalid URLs and other transport failures map onto their errors."""

    def convert(exc: Exception, deadline: bool = False) -> object:
        return httpx_error(exc, method="GET", url="http://h/", deadline_passed=deadline, duration=1.0)

    timeout = convert(httpx.ReadTimeout("slow"))
    assert isinstance(timeout, OperationTimeout)
    assert timeout.code == "http.timeout"
    deadline = convert(httpx.ReadTimeout("slow"), deadline=True)
    assert isinstance(deadline, OperationTimeout)
    assert deadline.code == "http.deadline_exceeded"
    tls_exc = httpx.ConnectError("boom")
    tls_exc.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    tls = convert(tls_exc)
    assert isinstance(tls, HttpError)
    assert tls.code == "http.tls"
    assert not tls.retryable
    assert isinstance(convert(httpx.UnsupportedProtocol("ftp")), ValidationError)
    other = convert(httpx.RemoteProtocolError(""))
    assert isinstance(other, HttpError)
    assert other.retryable
    assert "RemoteProtocolError" in other.message


def test_to_infra_error_uses_the_one_httpx_converter_and_redacts_urls() -> None:
    """to_infra_error and the clients share one converter: same codes, URL redacted."""
    from llm_infra.errors import to_infra_error

    request = httpx.Request("GET", "https://user:pw@api.example/v1?api_key=SECRET1&page=2")
    transport = to_infra_error(httpx.ConnectError("refused", request=request))
    assert transport.code == "http.transport"
    timeout = to_infra_error(httpx.ReadTimeout("slow", request=request))
    assert isinstance(timeout, OperationTimeout)
    assert timeout.code == "http.timeout"
    response = httpx.Response(503, request=request, content=b'{"token": "SECRET2"}')
    status = to_infra_error(httpx.HTTPStatusError("503", request=request, response=response))
    assert isinstance(status, HttpError)
    assert status.code == "http.status"
    assert status.status == 503
    for error in (transport, timeout, status):
        text = f"{error} {error.to_dict()}"
        assert "SECRET1" not in text
        assert "SECRET2" not in text
        assert "pw@" not in text
    assert status.url is not None
    assert "page=2" in status.url
    bare = to_infra_error(httpx.ConnectError("refused"))
    assert bare.code == "http.transport"


@pytest.mark.parametrize(
    "field", ["cookie", "set-cookie", "password", "api_key", "session", "client_secret", "dsn", "jwt"]
)
def test_error_bodies_mask_every_secret_name(field: str) -> None:
    """Error bodies follow llm_infra.secrets.is_secret_name: JSON members, header lines, form pairs."""
    value = "v4lue-0f-the-secret"
    for text in (f'{{"{field}": "{value}"}}', f"{field}: {value}\n", f"a=1&{field}={value}"):
        masked = mask_text(text)
        assert value not in masked, text
        assert MASK in masked


def test_non_secret_names_are_kept() -> None:
    assert mask_text('{"name": "ok", "tokens_used": 5}') == '{"name": "ok", "tokens_used": 5}'
    assert mask_text("page=2&sort=asc") == "page=2&sort=asc"


_SECRET_FIELDS = st.sampled_from(
    ["password", "api_key", "apiKey", "X-Api-Key", "cookie", "set-cookie", "client_secret", "access_token"]
)
_VALUES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=8, max_size=40)


@given(field=_SECRET_FIELDS, value=_VALUES)
def test_masked_bodies_never_contain_secret_field_values(field: str, value: str) -> None:
    """A secret-named field's value never survives mask_text, in JSON, header or form shape."""
    for text in (
        f'{{"user": "ann", "{field}": "{value}", "n": 1}}',
        f"Host: example\n{field}: {value}\nAccept: */*",
        f"user=ann&{field}={value}&n=1",
    ):
        assert value not in mask_text(text)


@given(field=_SECRET_FIELDS, value=_VALUES)
def test_redacted_urls_never_contain_secret_field_values(field: str, value: str) -> None:
    assert value not in redact_url(f"https://h/p?page=2&{field}={value}")


def test_converted_status_errors_keep_a_masked_body_excerpt() -> None:
    from llm_infra.errors import to_infra_error

    request = httpx.Request("POST", "https://api.example/v1")
    body = b'{"title": "Busy", "detail": "try later", "password": "hunter22"}'
    response = httpx.Response(
        503, request=request, content=body, headers={"content-type": "application/problem+json"}
    )
    error = to_infra_error(httpx.HTTPStatusError("503", request=request, response=response))
    assert error.code == "http.status"
    assert isinstance(error, HttpError)
    assert error.body is not None
    assert "hunter22" not in error.body
    assert "Busy: try later" in error.message
    unread = httpx.Response(503, request=request, stream=httpx.ByteStream(body))
    assert (
        to_infra_error(httpx.HTTPStatusError("503", request=request, response=unread)).code == "http.status"
    )
