"""The one definition of a secret-looking *name* (attribute, header, field, query parameter, key).

Spans, HTTP error bodies and URLs, logs, audit events and configuration provenance all ask
``is_secret_name``; a name is secret when, split into words (on ``.``, ``_``, ``-``, spaces and
camelCase), one word or two adjacent words name a credential. ``llm.tokens.input`` is not secret
(``tokens`` counts tokens); ``db.password``, ``X-Api-Key``, ``clientSecret`` and ``set-cookie`` are.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Final

SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "jwt",
        "bearer",
        "apikey",
        "apikeys",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "dsn",
        "session",
        "sessionid",
        "signature",
        "privatekey",
        "otp",
        "pin",
    }
)
"""Single words that make a name secret wherever they stand in it."""

SECRET_PAIRS: Final = frozenset(
    {
        ("api", "key"),
        ("api", "keys"),
        ("private", "key"),
        ("secret", "key"),
        ("access", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("client", "secret"),
        ("set", "cookie"),
        ("access", "token"),
        ("refresh", "token"),
        ("id", "token"),
        ("auth", "token"),
        ("session", "id"),
        ("connection", "string"),
    }
)
"""Adjacent word pairs that make a name secret (``api_key``, ``set-cookie``, ``clientSecret``)."""

SECRET_NAMES: Final = frozenset({"auth", "key", "keys", "x_api_key"})
"""Whole names that are secret on their own (a bare ``key=`` query parameter, ``auth``)."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether ``name`` (an attribute, header, field, parameter or key name) names a secret.

    Example::

        >>> is_secret_name("db.password"), is_secret_name("X-Api-Key"), is_secret_name("llm.tokens.input")
        (True, True, False)
    """
    words = [w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w]
    if not words:
        return False
    if "_".join(words) in SECRET_NAMES:
        return True
    if any(word in SECRET_WORDS for word in words):
        return True
    return any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


__all__ = ["SECRET_NAMES", "SECRET_PAIRS", "SECRET_WORDS", "is_secret_name"]
