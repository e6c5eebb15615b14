"""Reopen costs: the payload index is built on first use; the index file is hashed through a map."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from llm_infra.vector import VectorStoreConfig, open_store
from llm_infra.vector._files import read_manifest, sha256_file

D = 8


def _make(path: Path, n: int = 200) -> np.ndarray:
    vecs = np.random.default_rng(5).standard_normal((n, D)).astype(np.float32)
    cfg = VectorStoreConfig(
        collection="lazy",
        dimensions=D,
        indexed_fields=("c",),
        background_indexing=False,
        exact_scan_min_rows=10_000,
        compaction_threshold=0.1,
    )
    with open_store(path, cfg) as s:
        s.insert_batch(
            ids=[str(i) for i in range(n)],
            vectors=vecs,
            metadatas=[{"c": i % 4, "tags": ["t", str(i % 3)]} for i in range(n)],
        )
        s.flush()
    return vecs


def _ids(s: object, q: np.ndarray, flt: object) -> set[str]:
    return {r.id for r in s.search(q, k=1000, filter=flt)}  # type: ignore[attr-defined]


def test_writes_before_the_first_filter_are_indexed(tmp_path: Path) -> None:
    """Inserts, upserts, metadata updates and deletes made before the build are all seen."""
    vecs = _make(tmp_path / "s")
    with open_store(tmp_path / "s") as s:
        assert s._payload_pending
        assert s.stats().indexed_fields == ("c",)
        s.insert("new", vecs[0], {"c": 1})
        s.upsert("0", vecs[0], {"c": 1})
        s.update_metadata("4", {"c": 3})
        s.update_metadata("8", None)
        s.delete("12")
        s.insert_batch([("nometa", vecs[1])])
        got = _ids(s, vecs[0], {"c": 0})
        assert not s._payload_pending
        expected = {str(i) for i in range(200) if i % 4 == 0} - {"0", "4", "8", "12"}
        assert got == expected
        assert {"new", "0", "1"} <= _ids(s, vecs[0], {"c": 1})
        assert "4" in _ids(s, vecs[0], {"c": 3})
        s.update_metadata("new", {"c": 2})  # after the build: incremental again
        assert "new" in _ids(s, vecs[0], {"c": 2})
        assert _ids(s, vecs[0], {"tags": "2"}) == {str(i) for i in range(200) if i % 3 == 2} - {"8"}


def test_plan_builds_the_index_and_compaction_keeps_it_deferred(tmp_path: Path) -> None:
    """plan() triggers the build; a compaction while it is deferred leaves it deferred."""
    vecs = _make(tmp_path / "s")
    with open_store(tmp_path / "s") as s:
        assert s.plan({"c": 1}) == "exact"
        assert not s._payload_pending
    with open_store(tmp_path / "s") as s:
        for i in range(0, 200, 2):
            s.delete(str(i))
        s.flush()
        assert s.stats().tombstones == 0
        assert s._payload_pending
        assert _ids(s, vecs[1], {"c": 1}) == {str(i) for i in range(200) if i % 4 == 1}
        assert _ids(s, vecs[1], {"c": 0}) == set()


def test_empty_index_file_is_detected_and_rebuilt(tmp_path: Path) -> None:
    """A zero-length index file (which cannot be memory-mapped) fails its checksum and is rebuilt."""
    vecs = _make(tmp_path / "s", n=50)
    manifest = read_manifest(tmp_path / "s")
    assert manifest is not None
    index_file = tmp_path / "s" / manifest.index.name
    index_file.write_bytes(b"")
    data, digest = sha256_file(index_file)
    assert data == b""
    assert digest == hashlib.sha256(b"").hexdigest()
    with open_store(tmp_path / "s") as s:
        assert s.count() == 50
        assert s.search(vecs[3], k=1)[0].id == "3"
        assert s.verify().ok
