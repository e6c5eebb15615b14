"""``llm-infra doctor``: configuration, data directory and every configured backend, checked."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from llm_infra.cli import _codes
from llm_infra.cli._options import AsJson
from llm_infra.cli._output import die, out, print_json, remediation_for
from llm_infra.cli._state import State, state
from llm_infra.errors import ExternalError, InfraError, IoError

BACKENDS: Final = (
    ("vector.url", "vector"),
    ("auth.keys_url", "auth"),
    ("ratelimit.url", "ratelimit"),
    ("mq.url", "mq"),
    ("otel.exporter.otlp.endpoint", "otel"),
)
"""The settings that name a backend, with the area whose error codes a failure carries."""

_PORTS: Final = {
    "amqp": 5672,
    "amqps": 5671,
    "nats": 4222,
    "tls": 4222,
    "qdrant": 6333,
    "qdrant+http": 6333,
    "qdrant+https": 6333,
    "http": 80,
    "https": 443,
    "grpc": 4317,
    "redis": 6379,
    "rediss": 6379,
    "postgresql": 5432,
    "postgres": 5432,
}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report; ``error`` is set when the check failed."""

    name: str
    detail: str
    error: InfraError | None = None

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        return self.error is None


def _display(url: str) -> str:
    """``url`` with credentials removed (only when it has some: ``memory://`` stays as written)."""
    if "://" not in url or ("@" not in url and "?" not in url):
        return url
    from llm_infra.http._errors import redact_url

    return redact_url(url)


def _writable_dir(path: Path) -> IoError | None:
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return IoError(f"{probe} is not a directory", path=str(probe), code=_codes.DATA_DIR)
    if not os.access(probe, os.W_OK | os.X_OK):
        return IoError(f"{probe} is not writable by this user", path=str(probe), code="io.permission_denied")
    return None


def check_data_dir(path: Path) -> Check:
    """The data directory exists (or can be created) and is writable."""
    problem = _writable_dir(path)
    if problem is not None:
        return Check("data dir", str(path), problem)
    return Check("data dir", f"{path} ({'writable' if path.exists() else 'will be created'})")


def _tcp(host: str, port: int, timeout: float, name: str) -> InfraError | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return ExternalError(
            f"cannot connect to {host}:{port} within {timeout:g} s ({type(exc).__name__})",
            service=name,
            operation="connect",
            code=_codes.UNREACHABLE,
        )


def _redis(url: str, timeout: float, area: str) -> InfraError | None:
    try:
        import redis
    except ImportError:
        parts = urlsplit(url)
        return _tcp(parts.hostname or "127.0.0.1", parts.port or 6379, timeout, area)
    from llm_infra.errors._foreign import redis_error

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any driver failure is the finding
        return redis_error(exc, "ping", area=area)
    finally:
        client.close()
    return None


def _postgres(url: str, timeout: float, area: str) -> InfraError | None:
    try:
        import psycopg
    except ImportError:
        parts = urlsplit(url)
        return _tcp(parts.hostname or "127.0.0.1", parts.port or 5432, timeout, area)
    from llm_infra.errors._foreign import postgres_error

    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout))) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any driver failure is the finding
        return postgres_error(exc, "connect", area=area)
    return None


def check_backend(setting: str, url: str, area: str, timeout: float) -> Check:
    """Reach the backend that ``setting`` names, within ``timeout`` seconds."""
    shown = f"{setting} = {_display(url)}"
    if "://" not in url or url.startswith(("file://", "sqlite://")):
        path = Path(url.removeprefix("file://").removeprefix("sqlite://"))
        target = path if path.suffix == "" else path.parent
        return Check(area, shown, _writable_dir(target))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return Check(area, f"{shown} (in-process)")
    if scheme in ("redis", "rediss"):
        return Check(area, shown, _redis(url, timeout, area))
    if scheme in ("postgresql", "postgres"):
        return Check(area, shown, _postgres(url, timeout, area))
    port = parts.port or _PORTS.get(scheme)
    if port is None:
        return Check(area, shown, InfraError(f"cannot check {scheme}:// URLs", code=_codes.UNSUPPORTED_URL))
    return Check(area, shown, _tcp(parts.hostname or "127.0.0.1", port, timeout, area))


def run_checks(st: State, timeout: float) -> list[Check]:
    """Every check, in order; a configuration that does not load stops after the first."""
    try:
        cfg = st.config()
    except InfraError as exc:
        return [Check("config", "does not load", exc)]
    files = [path for path, found in cfg.info.files if found]
    checks = [Check("config", ", ".join(files) if files else "no file; defaults and environment")]
    checks.append(check_data_dir(st.data_dir()))
    for setting, area in BACKENDS:
        url = st.setting(setting)
        origin = cfg.explain(setting).origin
        if url is None:
            checks.append(Check(area, f"{setting} not set (embedded default)"))
        elif origin is None or origin.kind == "default":
            checks.append(Check(area, f"{setting} not configured (default {_display(url)} not checked)"))
        else:
            checks.append(check_backend(setting, url, area, timeout))
    return checks


def doctor(
    ctx: typer.Context,
    *,
    timeout: Annotated[
        float, typer.Option(min=0.1, max=30, help="Seconds allowed to reach each backend.")
    ] = 2.0,
    as_json: AsJson = False,
) -> None:
    """Check the configuration, the data directory and every configured backend; print fixes.

    Example: llm-infra doctor --timeout 1
    """
    checks = run_checks(state(ctx), timeout)
    failed = [c for c in checks if not c.ok]
    if as_json:
        print_json(
            [
                {
                    "check": c.name,
                    "ok": c.ok,
                    "detail": c.detail,
                    "code": c.error.code if c.error else None,
                    "message": c.error.message if c.error else None,
                    "fixes": remediation_for(c.error) if c.error else [],
                }
                for c in checks
            ]
        )
    else:
        console = out()
        for c in checks:
            mark = "[green]ok  [/green]" if c.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {escape(c.name):<10} {escape(c.detail)}")
            if c.error is not None:
                console.print(f"       [{c.error.code}] {c.error.message}", markup=False)
                for line in remediation_for(c.error):
                    console.print(f"       fix: {line}", markup=False)
    if failed:
        raise die(_codes.DOCTOR_FAILED, f"{len(failed)} of {len(checks)} checks failed")


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the root app."""
    app.command("doctor")(doctor)


__all__ = ["BACKENDS", "Check", "check_backend", "check_data_dir", "register", "run_checks"]
