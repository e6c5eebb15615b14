"""atomic_write under kill -9: the target is always exactly the old or the new content."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SIZE = 256 * 1024
WRITER = textwrap.dedent(
    """
    import sys
    from llm_infra.fs import atomic_write

    target, size = sys.argv[1], int(sys.argv[2])
    versions = [bytes([65 + i]) * size for i in range(4)]
    print("ready", flush=True)
    n = 0
    while True:
        atomic_write(target, versions[n % 4])
        n += 1
    """
)


def test_atomic_write_survives_kill_9_at_random_points(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    target.write_bytes(b"Z" * SIZE)
    valid = {bytes([c]) * SIZE for c in b"ABCDZ"}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    rng = random.Random(12)
    seen: set[bytes] = set()
    kills = 30
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(SIZE)], stdout=subprocess.PIPE, env=env
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.0, 0.05))  # a random kill point inside the write loop
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        content = target.read_bytes()
        assert content in valid, f"torn file: {len(content)} bytes, starts {content[:8]!r}"
        seen.add(content[:1])
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "state.bin"]
    print(f"\n{kills} kills: contents seen {sorted(seen)}, stray temp files {len(leftovers)}")
    assert len(seen) >= 2  # the kills landed at different points of the loop
    assert all(name.startswith(".state.bin.") and name.endswith(".tmp") for name in leftovers)
