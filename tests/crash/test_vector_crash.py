"""Crash and corruption: kill -9 during ingest loses no acknowledged write; a corrupt index is rebuilt.

The kill test runs a writer subprocess over one 5,000-vector ingest with deletes, upserts and
flushes (so kills land in SQLite commits, in background graph building and in index file
writes), and kills it with SIGKILL 50 times at random moments. After every kill the store must
open, hold every acknowledged write, and hold nothing that was never written or was deleted.

The corruption test flips bits in, truncates or zeroes ranges of the index file 100 times; every
corruption must be detected before faiss sees a byte, the index rebuilt, and the ids unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_infra.vector import VectorStoreConfig, open_store
from llm_infra.vector import _ann as ann_module
from llm_infra.vector._files import read_manifest

pytestmark = pytest.mark.slow

DIMS = 24
TOTAL = 5_000
KILLS = 50

WRITER = r"""
import random, sys
import numpy as np
from llm_infra.vector import VectorStoreConfig, open_store

path, ack_path = sys.argv[1], sys.argv[2]
start, total, seed, quota = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
live = set(open(sys.argv[7]).read().split())
rng = random.Random(seed)
DIMS = __DIMS__

def vec(i):
    return np.random.default_rng(i).standard_normal(DIMS).astype(np.float32)

cfg = VectorStoreConfig(collection="crash", dimensions=DIMS, chunk_size=64)
store = open_store(path, cfg)
ack = open(ack_path, "a", buffering=1)
ack.write("R\n")
i = start
limit = min(total, start + quota)
while i < limit or (quota < total and live):
    r = rng.random()
    if r < 0.55 and i < limit:
        n = min(rng.randint(1, 120), limit - i)
        ids = [str(j) for j in range(i, i + n)]
        ack.write("i " + " ".join(ids) + "\n")
        store.insert_batch(ids=ids, vectors=np.stack([vec(j) for j in range(i, i + n)]),
                           metadatas=[{"n": j} for j in range(i, i + n)])
        ack.write("I " + " ".join(ids) + "\n")
        live.update(ids)
        i += n
    elif r < 0.70 and i < limit:
        ident = str(i)
        ack.write("i " + ident + "\n")
        store.insert(ident, vec(i), {"n": i})
        ack.write("I " + ident + "\n")
        live.add(ident)
        i += 1
    elif r < 0.80 and live:
        ident = rng.choice(sorted(live))
        ack.write("d " + ident + "\n")
        store.delete(ident)
        ack.write("D " + ident + "\n")
        live.discard(ident)
    elif r < 0.92 and live:
        ident = rng.choice(sorted(live))
        ack.write("u " + ident + "\n")
        store.upsert(ident, vec(int(ident)), {"n": int(ident), "u": True})
        ack.write("U " + ident + "\n")
    elif r >= 0.92:
        ack.write("f\n")
        store.flush()
        ack.write("F\n")
ack.write("DONE\n")
store.close()
""".replace("__DIMS__", str(DIMS))


def _vec(i: int) -> np.ndarray:
    return np.random.default_rng(i).standard_normal(DIMS).astype(np.float32)


def _replay(ack_path: Path, live: set[str], maybe: set[str]) -> int:
    """Apply the acknowledgement log of one writer run; return the next id to write."""
    pending: list[str] = []
    next_id = 0
    for line in ack_path.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        ids = rest.split()
        if kind in ("i", "d", "u"):
            pending = ids
            maybe.update(ids)
        elif kind == "I":
            live.update(ids)
            maybe.difference_update(ids)
            pending = []
        elif kind == "D":
            live.difference_update(ids)
            maybe.difference_update(ids)
            pending = []
        elif kind == "U":
            maybe.difference_update(ids)
            pending = []
        for ident in ids:
            if kind in ("i", "I"):
                next_id = max(next_id, int(ident) + 1)
    del pending
    return next_id


def _ack_count(ack: Path) -> int:
    try:
        return sum(1 for line in ack.read_text().splitlines() if line[:1] in "IDUF")
    except FileNotFoundError:
        return 0


def _check_store(
    path: Path, live: set[str], maybe: set[str], deleted: set[str], rng: random.Random
) -> set[str]:
    """Open the store and compare it with the acknowledgements; return the ids present."""
    with open_store(path) as store:
        report = store.verify()
        assert report.ok, report.problems
        db = sqlite3.connect(str(path / "store.sqlite"))
        try:
            present = {row[0] for row in db.execute("SELECT id FROM points")}
        finally:
            db.close()
        lost = live - present - maybe
        phantoms = present - live - maybe
        assert not lost, f"lost acknowledged ids {sorted(lost)[:10]}"
        assert not phantoms, f"phantom ids {sorted(phantoms)[:10]}"
        assert not deleted & present, "an acknowledged delete came back"
        assert store.count() == len(present)
        for ident in rng.sample(sorted(live), min(5, len(live))):
            assert store.search(_vec(int(ident)), k=1)[0].id == ident
    return present


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """50 SIGKILLs during a 5,000-vector ingest: always opens, 0 acknowledged writes lost, 0 phantoms."""
    path = tmp_path / "store"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    live_file = tmp_path / "live.txt"
    live: set[str] = set()
    deleted: set[str] = set()
    rng = random.Random(1234)
    next_id = 0
    for round_ in range(KILLS + 1):
        final = round_ == KILLS
        quota = TOTAL if final else -(-(TOTAL - next_id) // (KILLS - round_))
        ack = tmp_path / f"ack{round_}.log"
        live_file.write_text("\n".join(sorted(live)))
        args = [str(path), str(ack), str(next_id), str(TOTAL), str(round_), str(quota), str(live_file)]
        proc = subprocess.Popen(
            [sys.executable, str(script), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if not final:
            # Kill after a random number of acknowledged operations, a random instant into the next.
            target = rng.randint(0, 6)
            deadline = time.monotonic() + 120
            while _ack_count(ack) < target and proc.poll() is None:
                assert time.monotonic() < deadline, "the writer made no progress"
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.02))
            os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
        if final:
            assert proc.returncode == 0, err.decode()[-2000:]
            assert ack.read_text().rstrip().endswith("DONE")
        else:
            assert proc.returncode in (-signal.SIGKILL, 0), err.decode()[-2000:]
        before = set(live)
        maybe: set[str] = set()
        if ack.exists():
            next_id = max(next_id, _replay(ack, live, maybe))
        deleted |= before - live
        present = _check_store(path, live, maybe, deleted, rng)
        # Ids whose in-flight operation was cut short: the store's answer is now the truth.
        live = (live | (maybe & present)) - (maybe - present)
        deleted |= maybe - present
    assert next_id == TOTAL
    assert 0 < len(live) < TOTAL


def _corrupt(data: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(["flip", "truncate", "zero", "flip_header", "append"])
    raw = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(raw))
            raw[pos] ^= 1 << rng.randrange(8)
    elif kind == "flip_header":
        pos = rng.randrange(min(64, len(raw)))
        raw[pos] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        raw = raw[: rng.randrange(len(raw))]
    elif kind == "zero":
        start = rng.randrange(len(raw))
        end = min(len(raw), start + rng.randint(1, 4096))
        raw[start:end] = bytes(end - start)
    else:
        raw += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(raw)


def test_corrupt_index_always_detected_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """100 corruptions (bit flips, truncation, zeroed ranges): 100% detected, rebuilt, same ids."""
    path = tmp_path / "store"
    x = np.random.default_rng(0).standard_normal((600, 16)).astype(np.float32)
    ids = [f"v{i}" for i in range(600)]
    with open_store(path, VectorStoreConfig(collection="c", dimensions=16, background_indexing=False)) as s:
        s.insert_batch(ids=ids, vectors=x)
        s.delete("v7")
        s.flush()
    expected = set(ids) - {"v7"}

    # Checksum before faiss: deserialize may only ever see bytes the manifest vouches for.
    real = ann_module.AnnIndex.deserialize.__func__  # type: ignore[attr-defined]
    seen: list[str] = []

    def guarded(cls: Any, data: np.ndarray, *args: Any) -> Any:
        manifest = read_manifest(path)
        assert manifest is not None
        whole = (path / manifest.index.name).read_bytes()
        assert hashlib.sha256(whole).hexdigest() == manifest.index.sha256
        assert whole.endswith(data.tobytes())
        seen.append(manifest.index.sha256)
        return real(cls, data, *args)

    monkeypatch.setattr(ann_module.AnnIndex, "deserialize", classmethod(guarded))
    rng = random.Random(99)
    detected = 0
    for round_ in range(100):
        manifest = read_manifest(path)
        assert manifest is not None
        index_file = path / manifest.index.name
        good = index_file.read_bytes()
        bad = _corrupt(good, rng)
        while bad == good:
            bad = _corrupt(good, rng)
        index_file.write_bytes(bad)
        caplog.clear()
        with open_store(path) as s:
            if "failed its checksum" in caplog.text or "unreadable" in caplog.text:
                detected += 1
            assert s.stats().indexed == 599, round_
            assert set(s._id_to_slot) == expected
            probe = (round_ * 37) % 600 or 1
            probe = 8 if probe == 7 else probe
            assert s.search(x[probe], k=1)[0].id == f"v{probe}"
        after = read_manifest(path)
        assert after is not None
        assert after.generation > manifest.generation
    assert detected == 100
    # A clean reopen loads the rebuilt index through the guard (checksums verified).
    seen.clear()
    with open_store(path) as s:
        assert s.count() == 599
    assert len(seen) == 1


SUBPROCESS_OPEN = r"""
import sys
from llm_infra.vector import open_store
with open_store(sys.argv[1]) as s:
    assert s.count() == int(sys.argv[2])
    assert s.verify().ok
print("ok")
"""


def test_corrupt_opens_in_a_subprocess_never_crash(tmp_path: Path) -> None:
    """Opening corrupted stores in a child process exits cleanly (a segfault would show as a signal)."""
    path = tmp_path / "store"
    x = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32)
    with open_store(path, VectorStoreConfig(collection="c", dimensions=8, background_indexing=False)) as s:
        s.insert_batch(ids=[str(i) for i in range(300)], vectors=x)
        s.flush()
    rng = random.Random(5)
    script = tmp_path / "open.py"
    script.write_text(SUBPROCESS_OPEN)
    for _ in range(6):
        manifest = read_manifest(path)
        assert manifest is not None
        index_file = path / manifest.index.name
        good = index_file.read_bytes()
        bad = _corrupt(good, rng)
        while bad == good:
            bad = _corrupt(good, rng)
        index_file.write_bytes(bad)
        done = subprocess.run(
            [sys.executable, str(script), str(path), "300"], capture_output=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert done.stdout.strip() == b"ok"
    body = json.loads((path / "manifest.json").read_text())
    assert body["count"] == 300
