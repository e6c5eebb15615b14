"""migrate(): copies between backends, resumes from a checkpoint (even after kill -9), verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from llm_infra.errors import ValidationError, VectorError
from llm_infra.vector import Exists, VectorStoreConfig, open_store
from llm_infra.vector._migrate import migrate, scan_page

DIMS = 16


def _fill(path: Path, n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIMS)).astype(np.float32)
    cfg = VectorStoreConfig(collection="m", dimensions=DIMS, exact_scan_fraction=1.0)
    with open_store(path, cfg) as s:
        s.insert_batch(
            ids=[f"v{i:06d}" for i in range(n)],
            vectors=vectors,
            metadatas=[{"g": i % 7, "name": f"n{i}"} if i % 5 else None for i in range(n)],
        )
        s.delete("v000003")
    return vectors


def test_local_to_local_with_checkpoint(tmp_path: Path) -> None:
    _fill(tmp_path / "src", 2500)
    seen: list[tuple[int, int]] = []
    with open_store(tmp_path / "src") as src, open_store(tmp_path / "dst", src.config) as dst:
        report = migrate(
            src,
            dst,
            batch_size=700,
            checkpoint=tmp_path / "ck.json",
            progress=lambda d, t: seen.append((d, t)),
        )
        assert report.ok
        assert report.copied == 2499
        assert report.source_count == report.dest_count == 2499
        assert report.sampled == 100
        assert seen[-1] == (2499, 2499)
        assert json.loads((tmp_path / "ck.json").read_text())["done"] is True
        again = migrate(src, dst, checkpoint=tmp_path / "ck.json")
        assert again.copied == 0
        assert again.resumed_from == 2499
        q = np.ones(DIMS, np.float32)
        assert [h.id for h in src.search(q, k=5)] == [h.id for h in dst.search(q, k=5)]
        rec = dst.get("v000001")
        assert rec is not None
        assert rec.metadata == {"g": 1, "name": "n1"}
        assert dst.get("v000000") is not None
        assert dst.get("v000000").metadata is None  # type: ignore[union-attr]


def test_local_to_qdrant_and_back(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client")
    from llm_infra.vector._qdrant import QdrantVectorStore

    _fill(tmp_path / "src", 600)
    with open_store(tmp_path / "src") as src, QdrantVectorStore(src.config, path=":memory:") as mid:
        assert migrate(src, mid, batch_size=128).ok
        with open_store(tmp_path / "back", src.config) as back:
            assert migrate(mid, back, batch_size=100).ok
            q = np.full(DIMS, 0.5, np.float32)
            flt = Exists("g")
            assert [h.id for h in src.search(q, k=10, filter=flt)] == [
                h.id for h in back.search(q, k=10, filter=flt)
            ]


def test_mismatch_and_bad_arguments(tmp_path: Path) -> None:
    _fill(tmp_path / "src", 50)
    with open_store(tmp_path / "src") as src:
        with open_store(tmp_path / "other", VectorStoreConfig(collection="m", dimensions=DIMS + 1)) as other:
            with pytest.raises(VectorError) as info:
                migrate(src, other)
            assert info.value.code == "vector.migration_mismatch"
        with pytest.raises(ValidationError) as vinfo:
            migrate(src, src, batch_size=0)
        assert vinfo.value.code == "vector.invalid_batch"
        with open_store(tmp_path / "dst", src.config) as dst:
            dst.insert("extra", np.ones(DIMS, np.float32))
            with pytest.raises(VectorError) as info:
                migrate(src, dst)
            assert info.value.code == "vector.migration_mismatch"
            assert not migrate(src, dst, strict=False).ok


def test_checkpoint_of_another_migration_is_refused(tmp_path: Path) -> None:
    _fill(tmp_path / "src", 20)
    ck = tmp_path / "ck.json"
    ck.write_text(json.dumps({"version": 1, "identity": {"other": 1}, "cursor": None}))
    with open_store(tmp_path / "src") as src, open_store(tmp_path / "dst", src.config) as dst:
        with pytest.raises(VectorError) as info:
            migrate(src, dst, checkpoint=ck)
        assert info.value.code == "vector.migration_checkpoint"
        ck.write_text("{not json")
        with pytest.raises(VectorError) as info:
            migrate(src, dst, checkpoint=ck)
        assert info.value.code == "vector.migration_checkpoint"


def test_memory_store_and_unknown_objects_are_not_sources() -> None:
    with open_store(":memory:", VectorStoreConfig(collection="m", dimensions=DIMS)) as mem:
        with pytest.raises(VectorError) as info:
            scan_page(mem, None, 10)
        assert info.value.code == "vector.migration_unsupported"
    with pytest.raises(VectorError) as info:
        scan_page(object(), None, 10)
    assert info.value.code == "vector.migration_unsupported"


_CHILD = textwrap.dedent(
    """
    import sys
    from llm_infra.vector import open_store
    from llm_infra.vector._migrate import migrate

    def progress(done, total):
        if done >= total // 2:
            print("halfway", flush=True)
            sys.stdin.readline()  # parked until the parent kills us

    with open_store(sys.argv[1]) as src, open_store(sys.argv[2], src.config) as dst:
        migrate(src, dst, batch_size=500, checkpoint=sys.argv[3], progress=progress)
    """
)


@pytest.mark.slow
def test_killed_migration_resumes_and_ends_identical(tmp_path: Path) -> None:
    """A migration killed with SIGKILL halfway resumes from its checkpoint and ends identical."""
    _fill(tmp_path / "src", 4000)
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    ck = tmp_path / "ck.json"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "src"), str(tmp_path / "dst"), str(ck)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "halfway"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        assert proc.stdin is not None
        proc.stdin.close()
        proc.stdout.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    state = json.loads(ck.read_text())
    assert state["done"] is False
    assert 0 < state["copied"] < 3999
    with open_store(tmp_path / "src") as src, open_store(tmp_path / "dst") as dst:
        report = migrate(src, dst, batch_size=500, checkpoint=ck)
        assert report.ok
        assert report.resumed_from == state["copied"]
        assert report.resumed_from + report.copied == 3999
        assert dst.count() == src.count() == 3999
        rng = np.random.default_rng(9)
        for q in rng.standard_normal((5, DIMS)).astype(np.float32):
            a = src.search(q, k=10, filter=Exists("g"))
            b = dst.search(q, k=10, filter=Exists("g"))
            assert [h.id for h in a] == [h.id for h in b]
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5)
