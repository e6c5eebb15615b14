"""Process exit without close(): stores left open at exit never abort the interpreter.

A script inserts into two stores (so both background indexers are busy inside faiss) and exits
without closing them; it runs 30 times in subprocesses. Every run must exit 0: no
``terminate called without an active exception`` (exit code 134), and both stores reopen with
every acknowledged write.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm_infra.vector import open_store

pytestmark = pytest.mark.slow

RUNS = 30

SCRIPT = r"""
import sys
import numpy as np
from llm_infra.vector import VectorStoreConfig, open_store

root = sys.argv[1]
stores = [open_store(f"{root}/s{i}", VectorStoreConfig(collection="exit", dimensions=32)) for i in range(2)]
rng = np.random.default_rng(int(sys.argv[2]))
for store in stores:
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    store.insert_batch(ids=[str(i) for i in range(3000)], vectors=vectors)
print("written", flush=True)
# no close(): the interpreter exits while the indexers work
"""


def test_exit_without_close_never_aborts(tmp_path: Path) -> None:
    """30 runs that exit with two open, indexing stores: 0 aborts, every write kept."""
    script = tmp_path / "exit.py"
    script.write_text(SCRIPT)
    codes: list[int] = []
    for run in range(RUNS):
        root = tmp_path / f"run{run}"
        proc = subprocess.run(
            [sys.executable, str(script), str(root), str(run)], capture_output=True, timeout=300, check=False
        )
        codes.append(proc.returncode)
        assert b"terminate called" not in proc.stderr, proc.stderr.decode()[-2000:]
        assert proc.returncode == 0, (run, proc.returncode, proc.stderr.decode()[-2000:])
        assert proc.stdout.strip() == b"written"
    assert codes == [0] * RUNS
    for i in range(2):
        with open_store(tmp_path / "run0" / f"s{i}") as store:
            assert store.count() == 3000
            assert store.verify().ok
