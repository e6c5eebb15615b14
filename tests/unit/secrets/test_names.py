"""The one table of secret names, shared by spans, HTTP errors, logs and config."""

from __future__ import annotations

import pytest

from llm_infra.secrets import is_secret_name

SECRET = [
    "password",
    "db.password",
    "DB_PASSWORD",
    "passwd",
    "pwd",
    "pass",
    "user.pass",
    "passphrase",
    "secret",
    "client_secret",
    "clientSecret",
    "token",
    "access_token",
    "refresh-token",
    "jwt",
    "bearer",
    "api_key",
    "api_keys",
    "apikey",
    "X-Api-Key",
    "apiKey",
    "authorization",
    "Authorization",
    "cookie",
    "Cookie",
    "set-cookie",
    "Set-Cookie",
    "credential",
    "credentials",
    "dsn",
    "database.dsn",
    "session",
    "session_id",
    "sessionId",
    "private_key",
    "privateKey",
    "signing_key",
    "key",
    "auth",
    "http.request.header.authorization",
    "aws_secret_access_key",
    "signature",
]
PUBLIC = [
    "llm.tokens.input",
    "llm.tokens.output",
    "user",
    "username",
    "cache.key",
    "key_id",
    "http.method",
    "vector.k",
    "author",
    "passage",
    "tokenizer",
    "code",
    "error.code",
    "keyspace",
    "monkey",
    "",
    "...",
]


@pytest.mark.parametrize("name", SECRET)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names(name: str) -> None:
    assert not is_secret_name(name)
