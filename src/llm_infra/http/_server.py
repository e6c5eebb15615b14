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
from typing import Any, final

from llm_infra._internal._asgi import ASGIApp
from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError, OperationTimeout
from llm_infra.http import _codes
from llm_infra.http._protocol import guarded_protocol
from llm_infra.http._server_config import ServerConfig
from llm_infra.http._stack import build_middleware_stack

__all__ = ["ServerConfig", "ServerHandle", "serve", "start_server", "uvicorn_config"]

_log = logging.getLogger("llm_infra.http.server")

# Room for the request line and the header block beyond the header limit proper.
_HEAD_SLACK = 1_024


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
