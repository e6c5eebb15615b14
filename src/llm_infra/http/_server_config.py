"""``ServerConfig``: the limits and switches of an HTTP server (every default safe for a public port)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llm_infra.errors import ConfigError
from llm_infra.http._mw_cors import CorsConfig
from llm_infra.http._options import as_config

__all__ = ["ServerConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Limits and switches of an HTTP server. Every default is safe for a public port.

    Args:
        host: bind address (loopback by default; ``0.0.0.0`` must be asked for).
        port: TCP port (0 picks a free one, see ``start_server``).
        max_body_size: bytes of request body (413 beyond).
        max_header_bytes: bytes of request headers (431 beyond).
        max_headers: number of request header lines (431 beyond).
        max_url_length: bytes of path plus query (414 beyond).
        header_timeout: seconds a client has to send a complete request head once it has
            connected or started a request (slow clients get 408 and are disconnected).
        body_timeout: seconds a request has to deliver its whole body (408 and close beyond).
        keep_alive_timeout: seconds an idle keep-alive connection stays open.
        graceful_shutdown_timeout: seconds in-flight requests get to finish on shutdown.
        limit_concurrency: connections plus in-flight requests before new requests get 503.
        backlog: the listen backlog.
        request_id_header: header carrying the request id in and out.
        trust_request_id: reuse a valid incoming request id.
        access_log: log each request to ``llm_infra.http.access``.
        tracing: one OpenTelemetry server span per request.
        cors: a ``CorsConfig`` to enable CORS (off by default).
        proxy_headers: trust ``X-Forwarded-For``/``-Proto`` from ``forwarded_allow_ips``.
        forwarded_allow_ips: proxies trusted for forwarded headers.
        root_path: ASGI ``root_path`` when mounted below a path prefix.

    Raises:
        ConfigError: a limit is not positive or the port is out of range.

    .. versionadded:: 0.1.0
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_body_size: int = 1_048_576
    max_header_bytes: int = 16_384
    max_headers: int = 100
    max_url_length: int = 8_192
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    graceful_shutdown_timeout: float = 10.0
    limit_concurrency: int | None = 1_000
    backlog: int = 2_048
    request_id_header: str = "x-request-id"
    trust_request_id: bool = True
    access_log: bool = True
    tracing: bool = True
    cors: CorsConfig | None = None
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    root_path: str = ""

    def __post_init__(self) -> None:
        for name in (
            "max_body_size",
            "max_header_bytes",
            "max_headers",
            "max_url_length",
            "header_timeout",
            "body_timeout",
            "keep_alive_timeout",
            "graceful_shutdown_timeout",
            "backlog",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}", key=f"http.server.{name}")
        if self.limit_concurrency is not None and self.limit_concurrency < 1:
            raise ConfigError("limit_concurrency must be >= 1 or None", key="http.server.limit_concurrency")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65_535:
            raise ConfigError(f"port must be 0-65535, got {self.port!r}", key="http.server.port")

    @classmethod
    def from_config(cls, cfg: Any, section: str = "http.server") -> ServerConfig:
        """The ``<section>`` of a ``Config`` (or a nested mapping) bound to ``ServerConfig``.

        Every field is a key (``http.server.max_body_size``, ``http.server.cors.allow_origins``,
        ...); unset keys keep the defaults above, so an empty section gives ``ServerConfig()``.

        Raises:
            ConfigError: every wrong value at once (``config.validation``), naming key and source.
        """
        config: ServerConfig = as_config(cfg).bind(cls, section=section)
        return config


# --- uvicorn -------------------------------------------------------------------------------------
