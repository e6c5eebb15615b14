"""Start the real service as a subprocess (as a user would) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

STARTUP_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """One ``python -m llm_infra.server`` process and what it printed."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        command: str = "serve",
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_key: str | None = None
        self.stdout_path = data_dir.parent / f"{data_dir.name}-{self.port}-{command}.out"
        self.stderr_path = data_dir.parent / f"{data_dir.name}-{self.port}-{command}.err"

    def start(self, *, wait: bool = True) -> ServiceProcess:
        env = {**os.environ, "LLM_SERVER__ACCESS_LOG": "false", **self.extra_env}
        args = [sys.executable, "-m", "llm_infra.server", self.command, "--data-dir", str(self.data_dir)]
        if self.command == "serve":
            args += ["--port", str(self.port), "--host", "127.0.0.1"]
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=self.data_dir.parent)
        if wait and self.command == "serve":
            self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited {self.proc.returncode}: {self.stderr()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError(f"service not healthy within {STARTUP_DEADLINE} s: {self.stderr()[-3000:]}")
        out = self.stdout()
        lines = [line.strip() for line in out.splitlines()]
        keys = [line for line in lines if line.startswith("lli_")]
        self.admin_key = keys[0] if keys else None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def client(self, key: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[type[ServiceProcess] | object]:
    started: list[ServiceProcess] = []

    def start(
        data_dir: Path | None = None,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        command: str = "serve",
        wait: bool = True,
    ) -> ServiceProcess:
        service = ServiceProcess(data_dir or tmp_path / "data", env=env, port=port, command=command)
        started.append(service)
        return service.start(wait=wait)

    yield start
    for service in started:
        try:
            service.stop(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()


@pytest.fixture
def service(start_service) -> ServiceProcess:  # type: ignore[no-untyped-def]
    return start_service()
