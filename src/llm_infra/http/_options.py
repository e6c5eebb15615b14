"""Client options: ``HttpTimeout``, ``BearerAuth``, every default (defined once) and config reading.

``HttpClient()`` and ``HttpClient.from_config(cfg)`` with nothing set agree on every option: the
``http.*`` section is bound (``cfg.bind``) to the frozen ``HttpSettings``, whose defaults are
derived from the same constants the client's keyword arguments use.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict, final

import httpx

from llm_infra.config import HTTP_USER_AGENT
from llm_infra.errors import ConfigError
from llm_infra.resilience import CircuitBreaker, RetryPolicy
from llm_infra.secrets import Secret

DEFAULT_USER_AGENT: Final[str] = HTTP_USER_AGENT.default_value()
"""The ``User-Agent`` sent unless told otherwise."""

ASYNC_EXTRA: Final = "http-async"
"""The extra that installs aiohttp (``AsyncHttpClient``'s scalable pool)."""

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


class StreamOptions(TypedDict, total=False):
    """The per-call keyword arguments of ``stream()`` (see ``HttpClient.request`` for each)."""

    params: Any
    headers: Mapping[str, str] | None
    json: Any
    content: bytes | str | None
    data: Mapping[str, Any] | None
    timeout: HttpTimeout | float | None
    raise_for_status: bool | None
    idempotent: bool | None


class RequestOptions(StreamOptions, total=False):
    """The per-call keyword arguments of ``request()`` and the verb helpers: ``stream()``'s and ``files``."""

    files: Any


# --- defaults, each defined once -------------------------------------------------------------------

DEFAULT_TIMEOUT: Final = HttpTimeout()
"""Per-phase timeouts and the 30 s overall deadline of a client built without ``timeout``."""

DEFAULT_RETRY: Final = RetryPolicy()
"""The retry policy of a client built without ``retry`` (3 attempts, 0.1 s base, full jitter)."""

DEFAULT_MAX_RETRY_AFTER: Final = 60.0
DEFAULT_MAX_CONNECTIONS: Final = 100
DEFAULT_MAX_KEEPALIVE: Final = 20
DEFAULT_MAX_ERROR_BODY: Final = 1024
KEEPALIVE_EXPIRY: Final = 5.0
"""Seconds a transport keeps an idle connection."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PoolLimits:
    """A transport's connection pool: TLS configuration and limits (see also ``KEEPALIVE_EXPIRY``)."""

    ssl_context: ssl.SSLContext
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """The resolved options of a client (``HttpClient.options``): equal options, equal behaviour.

    Hooks, clocks, transports and secrets are left out; ``headers`` holds header names only.
    """

    base_url: str
    timeout: HttpTimeout
    retry: RetryPolicy | None
    user_agent: str
    retry_non_idempotent: bool
    max_retry_after: float
    verify: bool | str | ssl.SSLContext
    max_connections: int
    max_keepalive_connections: int
    max_error_body: int
    follow_redirects: bool
    raise_for_status: bool
    propagate: bool
    circuit_breaker: bool
    auth: bool
    headers: tuple[str, ...]


# --- configuration ----------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerSettings:
    """``http.circuit_breaker.*``: one breaker per host when ``enabled``."""

    enabled: bool = False
    failure_threshold: int = 5
    reset_timeout_secs: float = 30.0


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """The ``http.*`` section of a config, bound with ``cfg.bind(HttpSettings, section="http")``.

    Every default comes from the client's own defaults, so an empty section builds the same
    client as ``HttpClient()``.

    Attributes:
        timeout_secs: the overall deadline and the read/write timeouts (0: no limit).
        connect_timeout_secs: the connect and pool timeouts (capped at ``timeout_secs``).
        max_retries: retries after the first attempt.
        retry_delay_ms: the first backoff, in milliseconds.
        max_retry_after_secs: the longest ``Retry-After`` honoured.
        user_agent: the ``User-Agent`` header.
        base_url: prefix of relative URLs.
        verify: TLS verification: true, false or a CA bundle path.
        retry_non_idempotent: retry POST/PATCH too.
        max_connections: pool size.
        max_keepalive_connections: idle connections kept.
        headers: default headers (``Secret`` values stay secret).
        bearer_token: a bearer token (a secret).
        circuit_breaker: per-host breakers.
    """

    timeout_secs: float = DEFAULT_TIMEOUT.deadline or 0.0
    connect_timeout_secs: float = DEFAULT_TIMEOUT.connect or 0.0
    max_retries: int = DEFAULT_RETRY.max_attempts - 1
    retry_delay_ms: float = DEFAULT_RETRY.base_delay * 1000.0
    max_retry_after_secs: float = DEFAULT_MAX_RETRY_AFTER
    user_agent: str = DEFAULT_USER_AGENT
    base_url: str = ""
    verify: bool | str = True
    retry_non_idempotent: bool = False
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE
    headers: dict[str, str | Secret[str]] = field(default_factory=dict)
    bearer_token: Secret[str] | None = None
    circuit_breaker: BreakerSettings = field(default_factory=BreakerSettings)

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of ``HttpClient``/``AsyncHttpClient`` these settings describe.

        Raises:
            ConfigError: a negative number, naming its key.
        """
        for name in ("timeout_secs", "connect_timeout_secs", "retry_delay_ms", "max_retry_after_secs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"http.{name} must be >= 0", key=f"http.{name}")
        if self.max_retries < 0:
            raise ConfigError("http.max_retries must be >= 0", key="http.max_retries")
        total = self.timeout_secs
        connect = min(self.connect_timeout_secs, total) if total else self.connect_timeout_secs
        base_delay = self.retry_delay_ms / 1000.0
        options: dict[str, Any] = {
            "timeout": HttpTimeout(
                connect=connect or None,
                read=total or None,
                write=total or None,
                pool=connect or None,
                deadline=total or None,
            ),
            "retry": RetryPolicy(
                max_attempts=self.max_retries + 1,
                base_delay=base_delay,
                max_delay=max(DEFAULT_RETRY.max_delay, base_delay),
            ),
            "user_agent": self.user_agent,
            "retry_non_idempotent": self.retry_non_idempotent,
            "max_retry_after": self.max_retry_after_secs,
            "verify": self.verify,
            "max_connections": self.max_connections,
            "max_keepalive_connections": self.max_keepalive_connections,
        }
        if self.base_url:
            options["base_url"] = self.base_url
        if self.headers:
            options["headers"] = dict(self.headers)
        if self.bearer_token is not None:
            options["auth"] = BearerAuth(self.bearer_token)
        breaker = self.circuit_breaker
        if breaker.enabled:
            threshold, reset = breaker.failure_threshold, breaker.reset_timeout_secs
            options["circuit_breaker"] = lambda host: CircuitBreaker(
                f"http:{host}", failure_threshold=threshold, reset_timeout=reset
            )
        return options


def as_config(cfg: Any) -> Any:
    """``cfg`` as a ``Config``: a ``Config`` as is, a nested mapping loaded as overrides."""
    from llm_infra.config import Config, ConfigLoader

    if isinstance(cfg, Config):
        return cfg
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"from_config needs a Config or a mapping, got {type(cfg).__name__}")
    return ConfigLoader(keys=()).with_overrides(dict(cfg)).load()


def client_options_from_config(cfg: Any, *, section: str = "http") -> dict[str, Any]:
    """Client keyword arguments from the ``<section>.*`` keys of a ``Config`` (or a plain mapping).

    Raises:
        ConfigError: a value of the wrong type (``config.wrong_type``/``config.validation``),
            naming its key.
    """
    settings: HttpSettings = as_config(cfg).bind(HttpSettings, section=section)
    return settings.client_options()
