"""Tests of llm_infra.validation: each type accepts valid values and rejects others with details."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.errors import ValidationError
from llm_infra.validation import BoundedString, Dimensions, Email, NonEmptyString, Url


def test_non_empty_string() -> None:
    """A non-blank string is kept as a str subclass; blank ones are refused."""
    value = NonEmptyString(" x ", field="name")
    assert value == " x "
    assert isinstance(value, str)
    assert value.value == " x "
    assert type(value.value) is str


@pytest.mark.parametrize(("raw", "actual"), [("", "empty string"), ("  \t\n", "whitespace only")])
def test_non_empty_string_rejects_blank(raw: str, actual: str) -> None:
    """Empty and whitespace-only strings raise validation.empty with field/expected/actual."""
    with pytest.raises(ValidationError) as info:
        NonEmptyString(raw, field="name")
    err = info.value
    assert (err.field, err.expected, err.actual, err.code) == (
        "name",
        "non-empty string",
        actual,
        "validation.empty",
    )
    assert not err.retryable


@pytest.mark.parametrize("cls", [NonEmptyString, Email, Url])
@pytest.mark.parametrize("raw", [None, 5, b"bytes"])
def test_string_types_reject_non_strings(cls: type, raw: object) -> None:
    """Non-str input raises validation.type naming the type."""
    with pytest.raises(ValidationError) as info:
        cls(raw)
    assert info.value.code == "validation.type"
    assert info.value.actual == type(raw).__name__


def test_bounded_string_counts_characters_not_bytes() -> None:
    """Five accented characters (ten bytes) fit a 5-character bound."""
    assert BoundedString("ééééé", 5) == "ééééé"
    assert BoundedString("", 5).value == ""
    with pytest.raises(ValidationError) as info:
        BoundedString("éééééé", 5, field="title")
    err = info.value
    assert (err.field, err.expected, err.actual, err.code) == (
        "title",
        "<= 5 characters",
        "6 characters",
        "validation.too_long",
    )
    assert "éé" not in err.message


def test_bounded_string_min_length() -> None:
    """min_length is enforced as well."""
    with pytest.raises(ValidationError) as info:
        BoundedString("ab", 10, min_length=3)
    assert info.value.code == "validation.too_short"
    assert info.value.expected == ">= 3 characters"
    with pytest.raises(ValidationError) as info:
        BoundedString(3, 10)
    assert info.value.code == "validation.type"


@given(st.text(max_size=30), st.integers(0, 30))
@settings(max_examples=100)
def test_bounded_string_property(text: str, limit: int) -> None:
    """BoundedString accepts exactly the strings of at most max_length characters."""
    if len(text) <= limit:
        assert BoundedString(text, limit) == text
    else:
        with pytest.raises(ValidationError) as info:
            BoundedString(text, limit)
        assert info.value.code == "validation.too_long"


@pytest.mark.parametrize(
    "raw",
    ["a@b.co", "first.last+tag@sub.example.org", "x@localhost", "o'neil@example.com", "A_B@EXAMPLE.COM"],
)
def test_valid_emails(raw: str) -> None:
    """Ordinary addresses are accepted and split into local part and domain."""
    email = Email(raw)
    assert email == raw
    assert f"{email.local}@{email.domain}" == raw
    assert email.value == raw


@pytest.mark.parametrize(
    "raw",
    [
        "@@@",
        "a@",
        "@b.co",
        "a b@c.d",
        "a@b..c",
        "a@-b.c",
        "a@b-.c",
        "a@b@c",
        "é@x.org",
        "a@" + "b" * 64 + ".c",
        "l" * 65 + "@x.org",
        "a@" + ".".join(["b" * 60] * 5),
    ],
    ids=repr,
)
def test_invalid_emails(raw: str) -> None:
    """Malformed or over-long addresses raise validation.invalid_email without echoing them."""
    with pytest.raises(ValidationError) as info:
        Email(raw)
    err = info.value
    assert err.code == "validation.invalid_email"
    assert err.field == "email"
    assert err.expected is not None
    assert raw not in (err.actual or "")


@pytest.mark.parametrize(
    "raw",
    [
        "https://example.com",
        "http://127.0.0.1:8080/path?q=1#f",
        "https://[::1]:443/",
        "HTTPS://Example.COM/a",
    ],
)
def test_valid_urls(raw: str) -> None:
    """Absolute http(s) URLs with hosts are accepted; parts are exposed."""
    url = Url(raw)
    assert url == raw
    assert url.scheme in ("http", "https")
    assert url.host
    assert url.value == raw


def test_url_parts() -> None:
    """scheme, host, port and path come from urlsplit."""
    url = Url("https://Example.com:8443/v1/x")
    assert (url.scheme, url.host, url.port, url.path) == ("https", "example.com", 8443, "/v1/x")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("example.com", "no scheme"),
        ("ftp://example.com", "not allowed"),
        ("https://", "no host"),
        ("https://exa mple.com", "whitespace"),
        ("https://example.com:99999", "Port out of range"),
        ("https://example.com:0", "port 0"),
        ("https://[::1", "Invalid IPv6"),
        ("https://example.com/" + "a" * 3000, "longer than"),
    ],
)
def test_invalid_urls(raw: str, why: str) -> None:
    """Relative, wrong-scheme, hostless or malformed URLs raise validation.invalid_url."""
    with pytest.raises(ValidationError) as info:
        Url(raw)
    assert info.value.code == "validation.invalid_url"
    assert why in info.value.message


def test_url_custom_schemes_and_credentials_redacted() -> None:
    """Custom schemes are allowed on request, and userinfo never appears in errors."""
    assert Url("redis://localhost:6379/0", schemes=("redis",)).port == 6379
    with pytest.raises(ValidationError) as info:
        Url("ftp://user:hunter2@host/x")
    assert info.value.code == "validation.invalid_url"
    assert "hunter2" not in str(info.value.actual)
    assert "hunter2" not in info.value.message
    assert info.value.actual == "ftp://***@host"


@pytest.mark.parametrize("raw", [1, 384, 65536, np.int64(1536)])
def test_dimensions_valid(raw: int) -> None:
    """Integers in 1..65536 (numpy ints too) are accepted as int subclasses."""
    dims = Dimensions(raw)
    assert dims == int(raw)
    assert dims.value == int(raw)
    assert type(dims.value) is int


@pytest.mark.parametrize("raw", [0, -1, 65537, 10**9])
def test_dimensions_out_of_range(raw: int) -> None:
    """Out-of-range counts raise validation.out_of_range with expected 1-65536."""
    with pytest.raises(ValidationError) as info:
        Dimensions(raw)
    err = info.value
    assert (err.field, err.expected, err.actual, err.code) == (
        "dimensions",
        "1-65536",
        str(raw),
        "validation.out_of_range",
    )


@pytest.mark.parametrize("raw", [True, 3.0, "384", None])
def test_dimensions_wrong_type(raw: object) -> None:
    """bool, float, str and None are not dimension counts."""
    with pytest.raises(ValidationError) as info:
        Dimensions(raw)
    assert info.value.code == "validation.type"


def test_pydantic_fields() -> None:
    """The types work as pydantic field types and their errors become pydantic errors."""

    class Model(pydantic.BaseModel):
        name: NonEmptyString
        email: Email
        url: Url
        dims: Dimensions

    m = Model(name="n", email="a@b.co", url="https://x.org", dims=3)
    assert isinstance(m.email, Email)
    assert isinstance(m.dims, Dimensions)
    with pytest.raises(pydantic.ValidationError) as info:
        Model(name=" ", email="a@b.co", url="https://x.org", dims=3)
    assert [_cause_code(e) for e in info.value.errors()] == ["validation.empty"]
    with pytest.raises(pydantic.ValidationError) as info:
        Model(name="n", email="a@b.co", url="https://x.org", dims=0)
    assert [_cause_code(e) for e in info.value.errors()] == ["validation.out_of_range"]


def _cause_code(error: Any) -> str:
    """The code of the ``ValidationError`` that pydantic wrapped into one of its error entries."""
    cause = error["ctx"]["error"]
    assert isinstance(cause, ValidationError)
    return cause.code
