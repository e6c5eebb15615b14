"""``llm-infra serve`` as a user runs it, with keys managed by ``llm-infra keys`` beside it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from .conftest import Run


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Output:
    """Drains the service's output in a thread; ``ready`` is set once uvicorn listens."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._drain, args=(proc,), daemon=True)
        self._thread.start()

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)
            if "Uvicorn running on" in line:
                self.ready.set()
        self.ready.set()  # the process ended: stop waiting

    def join(self) -> None:
        """Wait for the drain thread (the process has exited, so its output ends)."""
        self._thread.join(timeout=30)


def test_keys_created_by_the_cli_work_in_the_service(run: Run, workdir: Path) -> None:
    """A key from ``keys create`` authenticates at once; after ``keys revoke`` it is refused."""
    pytest.importorskip("llm_infra.server")
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_infra", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _Output(proc)
    base = f"http://127.0.0.1:{port}"
    try:
        assert output.ready.wait(60), "llm-infra serve did not start within 60 s"
        assert proc.poll() is None, "".join(output.lines)
        key = run("keys", "create", "alice", "--role", "reader").stdout.strip()
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/v1/collections", headers=headers, timeout=10).status_code == 200
        assert run("keys", "revoke", key).exit_code == 0
        assert httpx.get(f"{base}/v1/collections", headers=headers, timeout=10).status_code == 401
        verified = run("audit", "verify")
        assert verified.exit_code == 0, verified.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        output.join()
        assert proc.stdout is not None
        proc.stdout.close()
