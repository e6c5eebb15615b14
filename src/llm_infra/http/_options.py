"""Client options: ``HttpTimeout``, ``BearerAuth`` and the shared constants."""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import final

import httpx

from llm_infra import __version__
from llm_infra.errors import ConfigError
from llm_infra.secrets import Secret

DEFAULT_USER_AGENT = f"llm-infra/{__version__}"
"""The ``User-Agent`` sent unless told otherwise."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""Methods retried by default (RFC 9110 §9.2.2); others need ``retry_non_idempotent``/``idempotent=True``."""


def _check(name: str, value: float | None) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(
            f"HttpTimeout.{name} must be a positive number or None, got {value!r}", key=f"http.{name}"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HttpTimeout:
    """Per-phase socket timeouts and an overall deadline, in seconds (None: no limit).

    ``connect``, ``read``, ``write`` and ``pool`` bound each socket operation (httpx's meaning);
    ``deadline`` bounds the whole call: every attempt, retry sleep and the reading of the body,
    so a server trickling bytes cannot hold a caller past it.

    .. versionadded:: 0.1.0
    """

    connect: float | None = 5.0
    read: float | None = 30.0
    write: float | None = 30.0
    pool: float | None = 5.0
    deadline: float | None = 30.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool", "deadline"):
            _check(name, getattr(self, name))

    @classmethod
    def of(cls, value: HttpTimeout | float | None) -> HttpTimeout:
        """Coerce a number (every phase and the deadline) or None (no limits at all)."""
        if isinstance(value, HttpTimeout):
            return value
        if value is None:
            return cls(connect=None, read=None, write=None, pool=None, deadline=None)
        return cls(connect=value, read=value, write=value, pool=value, deadline=value)

    def as_httpx(self) -> httpx.Timeout:
        """The per-phase part as an ``httpx.Timeout``."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@final
class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` from a ``Secret`` (or a function returning the current one).

    The token is revealed only while building each request and is masked in errors.

    Args:
        token: a ``Secret[str]``, or a zero-argument callable returning one (token rotation).

    .. versionadded:: 0.1.0
    """

    def __init__(self, token: Secret[str] | Callable[[], Secret[str]]) -> None:
        if not isinstance(token, Secret) and not callable(token):
            raise ConfigError("BearerAuth needs a Secret[str] or a callable returning one", key="http.auth")
        self._token = token

    def current(self) -> Secret[str]:
        """The token to send now."""
        token = (
            self._token() if callable(self._token) and not isinstance(self._token, Secret) else self._token
        )
        if not isinstance(token, Secret):
            raise ConfigError("the BearerAuth token provider must return a Secret[str]", key="http.auth")
        return token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header and send."""
        request.headers["Authorization"] = f"Bearer {self.current().reveal()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(Secret('**********'))"


def ssl_context_for(verify: ssl.SSLContext | str | bool) -> ssl.SSLContext:
    """The TLS context for ``verify``: True (system CAs via certifi), False, a CA file, or a context."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load CA bundle {verify!r}: {exc}", key="http.verify") from exc
    return httpx.create_ssl_context(verify=bool(verify))
