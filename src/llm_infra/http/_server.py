"""Serving an ASGI app with limits: the middleware stack, uvicorn settings, and a thread handle.

``serve(app, host="127.0.0.1", port=8000)`` runs uvicorn with every limit set: request head size
and read time (slow clients get 408 and are closed), body size and read time, header count,
concurrency, keep-alive and graceful-shutdown timeouts, and a bounded lingering close when a
response goes out before the request body came in (see ``_protocol``). The middleware stack comes
from ``_stack``. ``start_server`` runs a server in a background thread
(tests, embedding) and ``ServerHandle.stop`` shuts it down gracefully.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, final

from llm_infra._internal._asgi import ASGIApp
from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError, OperationTimeout
from llm_infra.http import _codes
from llm_infra.http._mw_cors import CorsConfig
from llm_infra.http._protocol import guarded_protocol
from llm_infra.http._stack import build_middleware_stack

__all__ = ["ServerConfig", "ServerHandle", "serve", "start_server", "uvicorn_config"]

_log = logging.getLogger("llm_infra.http.server")

# Room for the request line and the header block beyond the header limit proper.
_HEAD_SLACK = 1_024


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
        """Read ``<section>.<field>`` for every field (``cors`` from ``<section>.cors.*``).

        ``cfg`` is anything with ``get(dotted_key, default)`` (an ``llm_infra.config.Config``).
        """
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "cors":
                continue
            value = cfg.get(f"{section}.{f.name}", None)
            if value is not None:
                values[f.name] = _coerce(f.type, value)
        origins = cfg.get(f"{section}.cors.allow_origins", None)
        if origins:
            cors: dict[str, Any] = {"allow_origins": tuple(origins)}
            for name in ("allow_methods", "allow_headers", "expose_headers"):
                value = cfg.get(f"{section}.cors.{name}", None)
                if value is not None:
                    cors[name] = tuple(value)
            credentials = cfg.get(f"{section}.cors.allow_credentials", None)
            if credentials is not None:
                cors["allow_credentials"] = _coerce("bool", credentials)
            max_age = cfg.get(f"{section}.cors.max_age", None)
            if max_age is not None:
                cors["max_age"] = int(max_age)
            values["cors"] = CorsConfig(**cors)
        return cls(**values)


def _coerce(type_name: object, value: Any) -> Any:
    text = str(type_name)
    if text.startswith("bool"):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if text.startswith("int"):
        return int(value)
    if text.startswith("float"):
        return float(value)
    return value


# --- uvicorn -------------------------------------------------------------------------------------


def uvicorn_config(
    app: ASGIApp,
    config: ServerConfig | None = None,
    *,
    middleware: bool = True,
    log_config: Any = None,
    **uvicorn_kwargs: Any,
) -> Any:
    """A ``uvicorn.Config`` for ``app`` with every limit of ``config`` applied.

    Args:
        app: the ASGI application.
        config: the limits (default ``ServerConfig()``).
        middleware: wrap ``app`` with ``build_middleware_stack`` (pass False when the app already
            has it, e.g. from ``starlette_middleware``).
        log_config: uvicorn's logging configuration; ``None`` leaves logging as it is.
        uvicorn_kwargs: any other ``uvicorn.Config`` argument.

    Raises:
        ConfigError: uvicorn is not installed (``pip install 'llm-infra[server]'``).

    .. versionadded:: 0.1.0
    """
    uvicorn = require("uvicorn", "server")
    config = config or ServerConfig()
    head_limit = config.max_header_bytes + config.max_url_length + _HEAD_SLACK
    kwargs: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "http": guarded_protocol(
            header_timeout=config.header_timeout,
            body_timeout=config.body_timeout,
            drain_timeout=min(config.keep_alive_timeout, config.body_timeout),
            head_limit=head_limit,
        ),
        "ws": "none",
        "lifespan": "auto",
        "interface": "asgi3",
        "log_config": log_config,
        "access_log": False,
        "server_header": False,
        "limit_concurrency": config.limit_concurrency,
        "backlog": config.backlog,
        "timeout_keep_alive": config.keep_alive_timeout,
        "timeout_graceful_shutdown": config.graceful_shutdown_timeout,
        "h11_max_incomplete_event_size": head_limit,
        "proxy_headers": config.proxy_headers,
        "forwarded_allow_ips": config.forwarded_allow_ips,
        "root_path": config.root_path,
    }
    kwargs.update(uvicorn_kwargs)
    return uvicorn.Config(build_middleware_stack(app, config) if middleware else app, **kwargs)


def serve(
    app: ASGIApp,
    host: str | None = None,
    port: int | None = None,
    *,
    config: ServerConfig | None = None,
    middleware: bool = True,
    log_config: Any = None,
) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM, then shut down gracefully.

    ``host``/``port`` override the config's (default ``127.0.0.1:8000``). Requests in flight at
    shutdown get ``graceful_shutdown_timeout`` seconds to finish.

    .. versionadded:: 0.1.0
    """
    config = config or ServerConfig()
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if overrides:
        config = dataclasses.replace(config, **overrides)
    uvicorn = require("uvicorn", "server")
    uvicorn.Server(uvicorn_config(app, config, middleware=middleware, log_config=log_config)).run()


@final
class ServerHandle:
    """A uvicorn server running in a background thread (see ``start_server``).

    Attributes:
        host: the bound address.
        port: the bound port (the real one when 0 was asked for).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_error", "_server", "_socket", "_thread", "host", "port")

    def __init__(self, server: Any, sock: socket.socket) -> None:
        self._server = server
        self._socket = sock
        self.host, self.port = sock.getsockname()[:2]
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"llm-infra-http-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread, incl. SystemExit
            self._error = exc

    def _start(self, timeout: float) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._socket.close()
                raise ConfigError(
                    f"the HTTP server failed to start: {self._error!r}", code=_codes.SERVER_START_FAILED
                ) from self._error
            if time.monotonic() > deadline:
                self.stop(timeout=1.0)
                raise OperationTimeout(
                    f"the HTTP server did not start within {timeout:g} s", operation="start", duration=timeout
                )
            time.sleep(0.005)

    def stop(self, timeout: float | None = None) -> None:
        """Shut down gracefully and wait for the thread (up to ``timeout`` seconds).

        In-flight requests get the config's ``graceful_shutdown_timeout``.
        """
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(
    app: ASGIApp,
    config: ServerConfig | None = None,
    *,
    middleware: bool = True,
    startup_timeout: float = 10.0,
    log_config: Any = None,
) -> ServerHandle:
    """Start ``app`` on a background thread and return once it accepts connections.

    With ``port=0`` (``ServerConfig(port=0)``) the OS picks a free port: read it from
    ``handle.port``. Use as a context manager to stop it.

    Raises:
        ConfigError: the server could not start (port in use, lifespan startup failed).
        OperationTimeout: it did not start within ``startup_timeout`` seconds.

    Example::

        with start_server(app, ServerConfig(port=0)) as server:
            httpx.get(server.url + "/healthz")

    .. versionadded:: 0.1.0
    """
    uvicorn = require("uvicorn", "server")
    config = config or ServerConfig()
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.listen(config.backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror}",
            key="http.server.port",
            code=_codes.SERVER_START_FAILED,
        ) from exc
    sock.setblocking(False)
    server = uvicorn.Server(uvicorn_config(app, config, middleware=middleware, log_config=log_config))
    handle = ServerHandle(server, sock)
    handle._start(startup_timeout)
    return handle
