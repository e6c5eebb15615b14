"""Building blocks: the vector slab, derived-file formats, records, and open-time recovery paths."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_infra.errors import IoError, VectorError
from llm_infra.vector import (
    CompressionConfig,
    SearchResult,
    VectorRecord,
    VectorStoreConfig,
    _files,
    open_store,
)
from llm_infra.vector._slab import RWLock, VectorSlab


def test_slab_parts() -> None:
    """Rows live in a base part and a RAM part; reads, gathers and rebases span both."""
    slab = VectorSlab(2)
    rows = np.arange(20, dtype=np.float32).reshape(10, 2)
    slab.append(rows[:6])
    slab.rebase(rows[:4].copy())
    slab.append(rows[6:])
    assert (slab.n_base, slab.n) == (4, 10)
    np.testing.assert_array_equal(slab.rows(2, 7), rows[2:7])
    np.testing.assert_array_equal(slab.rows(1, 3), rows[1:3])
    np.testing.assert_array_equal(slab.gather(np.array([9, 0, 5, 3])), rows[[9, 0, 5, 3]])
    np.testing.assert_array_equal(slab.gather(np.array([1, 2])), rows[[1, 2]])
    np.testing.assert_array_equal(slab.gather(np.array([8, 5])), rows[[8, 5]])
    assert slab.gather(np.array([], dtype=np.int64)).shape == (0, 2)
    q = np.array([1.0, -1.0], dtype=np.float32)
    np.testing.assert_allclose(slab.scores(np.array([9, 0, 5, 3]), q, False), rows[[9, 0, 5, 3]] @ q)
    np.testing.assert_allclose(slab.scores(np.array([9, 0]), q, True), ((rows[[9, 0]] - q) ** 2).sum(1))
    assert slab.scores(np.array([], dtype=np.int64), q, False).shape == (0,)
    with pytest.raises(ValueError, match="rebase"):
        slab.rebase(rows[:2])
    slab.rebase(rows[:9].copy())
    np.testing.assert_array_equal(slab.rows(9, 10), rows[9:10])
    slab.materialize()
    assert slab.n_base == 0
    np.testing.assert_array_equal(slab.rows(0, 10), rows)
    slab.materialize()
    slab.rebase(rows.copy())
    assert slab.n == 10
    assert slab.ram_bytes() >= 0


def test_rwlock_excludes_writers() -> None:
    """Readers overlap; a writer waits for every reader, and readers wait for a writer."""
    lock = RWLock()
    events: list[str] = []
    reader_in = threading.Event()
    second_reader_in = threading.Event()
    release_readers = threading.Event()
    writer_waiting = threading.Event()

    def reader(entered: threading.Event) -> None:
        with lock.read:
            entered.set()
            release_readers.wait(30)
            events.append("reader out")

    def writer() -> None:
        writer_waiting.set()
        with lock.write:
            events.append("writer in")

    r1 = threading.Thread(target=reader, args=(reader_in,))
    r2 = threading.Thread(target=reader, args=(second_reader_in,))
    r1.start()
    assert reader_in.wait(30)
    r2.start()
    assert second_reader_in.wait(30)  # two readers inside at once
    w = threading.Thread(target=writer)
    w.start()
    assert writer_waiting.wait(30)
    # The writer cannot enter while the readers hold the lock: poll its state, no sleeping.
    deadline = time.monotonic() + 30
    while lock._writers_waiting == 0:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert events == []
    release_readers.set()
    for t in (r1, r2, w):
        t.join(30)
    assert events == ["reader out", "reader out", "writer in"]
    # A held write lock keeps a new reader out until it is released.
    got_read = threading.Event()
    with lock.write:
        late = threading.Thread(target=lambda: (lock.acquire_read(), got_read.set(), lock.release_read()))
        late.start()
        assert not got_read.wait(0.05)
    late.join(30)
    assert got_read.is_set()


def test_records_compare_with_vectors() -> None:
    """Records and results compare ids, metadata and vectors by value."""
    a = VectorRecord(id="a", vector=np.ones(3), metadata={"x": 1})
    assert a == VectorRecord(id="a", vector=np.ones(3), metadata={"x": 1})
    assert a != VectorRecord(id="a", vector=np.zeros(3), metadata={"x": 1})
    assert a != VectorRecord(id="a", metadata={"x": 1})
    assert a != "a"
    r = SearchResult("a", 0.5, None, np.ones(2))
    assert r == SearchResult("a", 0.5, None, np.ones(2))
    assert r != SearchResult("a", 0.4, None, np.ones(2))
    assert r != 5


def test_file_formats_reject_garbage(tmp_path: Path) -> None:
    """Bundle, vectors-file and manifest parsers reject malformed input with ValueError/None."""
    with pytest.raises(ValueError, match="magic"):
        _files.decode_index_bundle(b"nope")
    head = json.dumps({"count": 99}).encode()
    with pytest.raises(ValueError, match="header"):
        _files.decode_index_bundle(_files.INDEX_MAGIC + len(head).to_bytes(4, "little") + head)
    bad = tmp_path / "v.bin"
    bad.write_bytes(b"x" * 64)
    with pytest.raises(ValueError, match="magic"):
        _files.map_vectors(bad, 1, 2)
    size, _ = _files.write_file(tmp_path / "w.bin", _files.vectors_chunks(np.ones((3, 2), np.float32)))
    assert size == 64 + 24
    with pytest.raises(ValueError, match="mismatch"):
        _files.map_vectors(tmp_path / "w.bin", 4, 2)
    _files.write_file(tmp_path / "e.bin", _files.vectors_chunks(np.ones((0, 2), np.float32)))
    assert _files.map_vectors(tmp_path / "e.bin", 0, 2).shape == (0, 2)
    with pytest.raises(IoError) as info:
        _files.write_file(tmp_path / "missing" / "x.bin", [b"data"])
    assert info.value.code == "io.failed"
    (tmp_path / _files.MANIFEST).write_text(json.dumps({"format": 99}))
    assert _files.read_manifest(tmp_path) is None
    (tmp_path / _files.MANIFEST).write_text(
        json.dumps({"format": 1, "generation": 1, "index": {"name": "a/b"}})
    )
    assert _files.read_manifest(tmp_path) is None


def _store(path: Path, **kw: Any) -> Any:
    s = open_store(path, VectorStoreConfig(collection="c", dimensions=8, background_indexing=False, **kw))
    x = np.random.default_rng(3).standard_normal((200, 8)).astype(np.float32)
    s.insert_batch(ids=[str(i) for i in range(200)], vectors=x, metadatas=[{"i": i} for i in range(200)])
    s.flush()
    return s, x


def test_corrupt_vectors_file_rebuilds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A compressed tier's damaged vectors file is detected and rebuilt like the index."""
    s, x = _store(tmp_path / "s", compression=CompressionConfig(tier="f16"))
    s.close()
    manifest = _files.read_manifest(tmp_path / "s")
    assert manifest is not None
    assert manifest.vectors is not None
    vfile = tmp_path / "s" / manifest.vectors.name
    raw = bytearray(vfile.read_bytes())
    raw[100] ^= 1
    vfile.write_bytes(bytes(raw))
    with open_store(tmp_path / "s") as s2:
        assert "vectors file unusable" in caplog.text
        assert s2.search(x[3], k=1)[0].id == "3"
        assert s2.verify().ok


def test_manifest_header_mismatch_rebuilds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A manifest whose counts disagree with the bundle it names is not trusted."""
    s, _ = _store(tmp_path / "s")
    s.close()
    body = json.loads((tmp_path / "s" / _files.MANIFEST).read_text())
    body["count"] = 5
    (tmp_path / "s" / _files.MANIFEST).write_text(json.dumps(body))
    with open_store(tmp_path / "s") as s2:
        assert "index file unusable" in caplog.text
        assert s2.count() == 200


def test_index_database_disagreement_rebuilds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Rows the index should contain but does not (a foreign edit of the database) force a rebuild."""
    s, _ = _store(tmp_path / "s")
    s.close()
    db = sqlite3.connect(str(tmp_path / "s" / "store.sqlite"))
    db.execute("DELETE FROM points WHERE id = '5'")
    db.execute(
        "INSERT INTO points(label, id, vector, metadata) VALUES (0, 'intruder', ?, NULL)",
        (np.ones(8, np.float32).tobytes(),),
    )
    db.commit()
    db.close()
    with open_store(tmp_path / "s") as s2:
        assert "does not match the database" in caplog.text
        assert s2.count() == 200
        assert s2.search(np.ones(8), k=1)[0].id == "intruder"


def test_damaged_database_rows_are_reported(tmp_path: Path) -> None:
    """A stored vector of the wrong length is a storage error on open and a verify() problem."""
    s, _ = _store(tmp_path / "s")
    s._points._db.execute("UPDATE points SET vector = x'00' WHERE id = '7'")
    report = s.verify()
    assert not report.ok
    assert "wrong length" in report.problems[0]
    s.close()
    (tmp_path / "s" / _files.MANIFEST).unlink()
    with pytest.raises(VectorError) as info:
        open_store(tmp_path / "s")
    assert info.value.code == "vector.storage_corrupt"


def test_open_on_a_file_path_fails_cleanly(tmp_path: Path) -> None:
    """A path that cannot be a directory gives an IoError, not a crash."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(IoError) as exc_info:
        open_store(tmp_path / "f" / "store", VectorStoreConfig(collection="c", dimensions=2))
    assert exc_info.value.code == "io.failed"


def test_error_codes_are_constants_with_descriptions() -> None:
    """Every vector code is a ``vector.<reason>`` constant with a one-line description."""
    from llm_infra.vector import _codes

    constants = {v for k, v in vars(_codes).items() if k.isupper() and isinstance(v, str)}
    assert constants == set(_codes.DESCRIPTIONS)
    assert all(code.startswith("vector.") and _codes.DESCRIPTIONS[code] for code in constants)
