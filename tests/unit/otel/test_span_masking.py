"""Span attributes are masked recursively with the one secret-name rule (is_secret_name)."""

from __future__ import annotations

import pytest

from llm_infra.otel import clean_attributes
from llm_infra.secrets import MASK, Secret

SECRET = "s3cr3t-value"


def test_nested_mappings_are_flattened_and_masked() -> None:
    """``{"db": {"password": ...}}`` gives ``db.password`` masked and ``db.host`` kept."""
    attrs = clean_attributes(
        {"db": {"host": "h", "password": SECRET, "options": {"api_key": SECRET, "pool": 4}}}
    )
    assert attrs == {
        "db.host": "h",
        "db.password": MASK,
        "db.options.api_key": MASK,
        "db.options.pool": 4,
    }


def test_mappings_inside_lists_are_masked_before_they_become_text() -> None:
    """A list of dicts is stringified only after its secret entries are masked."""
    attrs = clean_attributes({"hops": [{"url": "u", "cookie": SECRET}, {"token": Secret(SECRET)}]})
    assert SECRET not in repr(attrs)
    assert MASK in repr(attrs)


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "jwt",
        "bearer",
        "api_key",
        "api_keys",
        "apikey",
        "authorization",
        "cookie",
        "set-cookie",
        "credential",
        "credentials",
        "dsn",
        "session",
        "private_key",
        "http.request.header.authorization",
        "clientSecret",
    ],
)
def test_common_secret_names_are_masked_at_any_depth(name: str) -> None:
    """The common secret names of the shared rule are masked top-level and nested."""
    assert clean_attributes({name: SECRET}) == {name: MASK}
    assert clean_attributes({"outer": {name: SECRET}}) == {f"outer.{name}": MASK}


def test_deep_nesting_is_bounded() -> None:
    """A deeply nested (or self-referencing) mapping does not recurse without bound."""
    deep: dict[str, object] = {}
    node = deep
    for _ in range(50):
        child: dict[str, object] = {}
        node["k"] = child
        node = child
    node["password"] = SECRET
    assert SECRET not in repr(clean_attributes({"deep": deep}))


def test_token_counts_are_not_secrets() -> None:
    """``llm.tokens.input`` counts tokens: it stays visible."""
    assert clean_attributes({"llm": {"tokens": {"input": 12}}}) == {"llm.tokens.input": 12}
