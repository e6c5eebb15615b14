"""``run`` and ``run_worker``: the blocking entry points of ``llm-infra serve`` and ``llm-infra worker``."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TextIO, TypedDict, Unpack

import anyio

from llm_infra.config import Config
from llm_infra.http import serve
from llm_infra.server._app import create_app, server_config
from llm_infra.server._service import Service
from llm_infra.server._settings import ServiceSettings, load_settings

_log = logging.getLogger("llm_infra.server")


class _Overrides(TypedDict, total=False):
    host: str | None
    port: int | None
    data_dir: str | os.PathLike[str] | None
    config_file: str | os.PathLike[str] | None


def settings_for(config: Config | None = None, **overrides: Unpack[_Overrides]) -> ServiceSettings:
    """The settings of ``config`` (else ``llm-infra.toml`` / ``config_file`` and ``LLM_*``) plus overrides."""
    if config is not None:
        settings = ServiceSettings.from_config(config)
    else:
        settings = load_settings(overrides.get("config_file"))
    return settings.with_overrides(
        host=overrides.get("host"), port=overrides.get("port"), data_dir=overrides.get("data_dir")
    )


def _logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def announce(service: Service, out: TextIO | None = None) -> str | None:
    """Create the first admin key when there is none and print it (once) with the status page URL."""
    out = out or sys.stdout
    key = service.bootstrap_admin()
    settings = service.settings
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    if key is not None:
        print(
            "llm-infra serve: first start, created an admin API key (shown only now; stored hashed):",
            file=out,
        )
        print(f"  {key}", file=out)
    print(f"Status page: http://{host}:{settings.port}/  (API docs: /docs)", file=out, flush=True)
    return key


def run(
    config: Config | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> None:
    """Run the retrieval service until SIGINT/SIGTERM (blocking), then shut down gracefully.

    Settings come from ``config`` (an ``llm_infra.config.Config``), else from ``llm-infra.toml``
    in the working directory (or ``config_file``) and ``LLM_*`` variables; ``host``, ``port`` and
    ``data_dir`` override them. On the first start an admin API key is printed once.

    Raises:
        ConfigError: invalid settings, or a backend this installation lacks.

    .. versionadded:: 0.1.0
    """
    _logging()
    settings = settings_for(config, host=host, port=port, data_dir=data_dir, config_file=config_file)
    service = Service(settings)
    announce(service)
    app = create_app(settings, service=service)
    serve(app, config=server_config(settings), middleware=False)


def run_worker(
    config: Config | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> None:
    """Consume queued ingest and jobs (``mq.url``) until SIGINT/SIGTERM (blocking).

    Use with ``server.queue_consumer = false`` on the serving replicas, or beside them.

    .. versionadded:: 0.1.0
    """
    _logging()
    settings = settings_for(config, data_dir=data_dir, config_file=config_file)

    async def main() -> None:
        service = Service(settings)
        try:
            async with anyio.create_task_group() as tg:

                async def on_signal() -> None:
                    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                        async for _ in signals:
                            service.stop()
                            return

                tg.start_soon(on_signal)
                _log.info("worker consuming %s", "jobs")
                await service.run_consumer()
                tg.cancel_scope.cancel()
        finally:
            await service.aclose()

    anyio.run(main)
