"""Regressions of the fault/attack findings: readers racing writers, bad batch items, lost commits,
dropped stores, and errors that name their real cause."""

from __future__ import annotations

import gc
import logging
import shutil
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_infra.errors import BatchError, IoError, ValidationError, VectorError
from llm_infra.vector import And, Eq, Not, Or, Range, VectorStoreConfig, _files, open_store, parse_filter
from llm_infra.vector._store import LocalVectorStore

D = 8


def _cfg(**kw: Any) -> VectorStoreConfig:
    values: dict[str, Any] = {"collection": "h", "dimensions": D, "background_indexing": False}
    values.update(kw)
    return VectorStoreConfig(**values)


def _vec(i: int) -> np.ndarray:
    return np.random.default_rng(i).standard_normal(D).astype(np.float32)


def _wait(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


# --------------------------------------------------------------------- readers racing writers


def test_reads_never_lose_an_id_that_is_being_upserted(tmp_path: Path) -> None:
    """get(with_vector) and search(with_vectors) see the old or the new record, never nothing."""
    with open_store(tmp_path / "s", _cfg(background_indexing=True)) as s:
        s.insert_batch(ids=[str(i) for i in range(50)], vectors=np.stack([_vec(i) for i in range(50)]))
        target = _vec(7)
        s.upsert("7", target, {"key": "seven", "n": -1})
        stop = threading.Event()

        def writer() -> None:
            n = 0
            while not stop.is_set() and n < 3_000:
                s.upsert("7", target, {"key": "seven", "n": n})
                n += 1
            stop.set()

        misses = {"get": 0, "search": 0}
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while not stop.is_set():
                rec = s.get("7", with_vector=True)
                if rec is None or rec.vector is None:
                    misses["get"] += 1
                hits = s.search(target, k=3, with_vectors=True)
                if len(hits) != 3 or any(h.vector is None for h in hits):
                    misses["search"] += 1
                mine = s.search(target, k=3, filter={"key": "seven"}, with_vectors=True)
                if [h.id for h in mine] != ["7"] or mine[0].vector is None:
                    misses["search"] += 1
        finally:
            stop.set()
            thread.join()
        assert misses == {"get": 0, "search": 0}


# --------------------------------------------------------------------- bad items never abort batches


class _Float(float):
    pass


class _Str(str):
    __slots__ = ()


class _Hostile(float):
    def __float__(self) -> float:
        raise RuntimeError("boom")


def test_bad_items_fail_alone_and_nothing_else_is_written() -> None:
    """Surrogates, numpy scalars, float subclasses, overflowing norms: per-item errors, the rest written."""
    with open_store(":memory:", _cfg()) as s:
        items: list[Any] = [
            ("ok1", _vec(1), {"a": 1}),
            ("bad\ud800id", _vec(2)),
            ("surrogate-meta", _vec(3), {"t": "x\udfffy"}),
            ("surrogate-key", _vec(4), {"k\ud800": 1}),
            ("np-float", _vec(5), {"f": np.float64(1.5), "i": np.int64(3), "b": np.bool_(True)}),
            ("subclass", _vec(6), {"f": _Float(2.5), "s": _Str("x")}),
            ("hostile", _vec(7), {"f": _Hostile(1.0)}),
            ("array-meta", _vec(8), {"a": np.zeros(3)}),
            ("overflow", np.full(D, 1e30, np.float32)),
            ("ok2", _vec(9)),
        ]
        result = s.insert_batch(items)
        failed = {f.item_id: f.error for f in result.failures}
        assert set(failed) == {"#1", "surrogate-meta", "surrogate-key", "hostile", "array-meta", "overflow"}
        assert all(isinstance(e, ValidationError | VectorError) for e in failed.values())
        assert failed["#1"].code == "vector.invalid_id"
        assert failed["surrogate-meta"].code == "vector.invalid_metadata"
        assert failed["hostile"].code == "vector.invalid_metadata"
        assert failed["overflow"].code == "vector.invalid_vector"
        assert s.count() == 4
        rec = s.get("np-float")
        assert rec is not None
        assert rec.metadata == {"f": 1.5, "i": 3, "b": True}
        assert type(rec.metadata["f"]) is float
        sub = s.get("subclass")
        assert sub is not None
        assert sub.metadata == {"f": 2.5, "s": "x"}
        assert s.verify().ok


def test_single_writes_refuse_bad_input_with_codes() -> None:
    """insert/upsert/update_metadata raise ValidationError/VectorError, never a raw exception."""
    with open_store(":memory:", _cfg()) as s:
        s.insert("a", _vec(1))
        with pytest.raises(ValidationError) as bad_id:
            s.insert("x\ud800", _vec(2))
        assert bad_id.value.code == "vector.invalid_id"
        with pytest.raises(ValidationError) as bad_meta:
            s.upsert("b", _vec(2), {"t": "\ud800"})
        assert bad_meta.value.code == "vector.invalid_metadata"
        with pytest.raises(ValidationError) as bad_update:
            s.update_metadata("a", {"v": _Hostile(1.0)})
        assert bad_update.value.code == "vector.invalid_metadata"
        with pytest.raises(VectorError) as overflow:
            s.insert("c", np.full(D, 3e38, np.float32))
        assert overflow.value.code == "vector.invalid_vector"
        s.update_metadata("a", {"v": np.float32(0.5)})
        rec = s.get("a")
        assert rec is not None
        assert rec.metadata == {"v": 0.5}
        assert s.count() == 1


def test_batch_argument_shapes_are_refused() -> None:
    """A str where ids are expected, overflowing rows in the array form: clear errors."""
    with open_store(":memory:", _cfg()) as s:
        with pytest.raises(ValidationError) as as_str:
            s.insert_batch(ids="abc", vectors=np.ones((3, D)))  # type: ignore[arg-type]
        assert as_str.value.code == "vector.invalid_batch"
        with pytest.raises(ValidationError) as items_str:
            s.insert_batch("abc")  # type: ignore[arg-type]
        assert items_str.value.code == "vector.invalid_batch"
        mat = np.stack([_vec(1), np.full(D, 1e30, np.float32)])
        result = s.upsert_batch(ids=["a", "b"], vectors=mat)
        assert [f.item_id for f in result.failures] == ["b"]
        assert result.failures[0].error.code == "vector.invalid_vector"
        with pytest.raises(BatchError) as all_bad:
            s.insert_batch(ids=["\ud800"], vectors=np.ones((1, D)))
        assert all_bad.value.failures[0].error.code == "vector.invalid_id"


def test_filter_bounds_and_depth_are_validated() -> None:
    """Bounds beyond float range and filters nested past the limit are ValidationErrors."""
    with open_store(":memory:", _cfg()) as s:
        s.insert("a", _vec(1), {"n": 1})
        for flt in ({"n": {"$gte": 10**400}}, {"n": 10**400}, {"n": {"$in": [10**400]}}):
            with pytest.raises(ValidationError) as info:
                s.search(_vec(1), filter=flt)
            assert info.value.code == "vector.invalid_filter"
        with pytest.raises(ValidationError) as obj:
            Range("n", lt=-(10**400))
        assert obj.value.code == "vector.invalid_filter"
        deep: dict[str, Any] = {"n": 1}
        for i in range(200):
            deep = {"$not": deep} if i % 2 else {"$or": [deep, {"n": 2}]}
        with pytest.raises(ValidationError) as nested:
            s.search(_vec(1), filter=deep)
        assert nested.value.code == "vector.invalid_filter"
        node: Any = Eq("n", 1)
        for i in range(21):  # about 30 levels: within the limit
            node = Not(node) if i % 2 else Or(And(node, Eq("n", 2)), Eq("n", 3))
        with pytest.raises(ValidationError) as built:
            Not(Not(Not(Not(Not(Not(Not(Not(Not(Not(Not(Not(node))))))))))))
        assert built.value.code == "vector.invalid_filter"
        shallow: Any = Eq("n", 1)
        for _ in range(10):
            shallow = Not(shallow)
        assert parse_filter(shallow) is shallow
        assert [h.id for h in s.search(_vec(1), filter=shallow)] == ["a"]  # ten negations cancel out


# --------------------------------------------------------------------- silent loss after WAL damage


def _populate(path: Path, rounds: int = 2, per_round: int = 100) -> None:
    with open_store(path, _cfg()) as s:
        for r in range(rounds):
            ids = [str(r * per_round + i) for i in range(per_round)]
            s.insert_batch(
                ids=ids, vectors=np.stack([_vec(int(i)) for i in ids]), metadatas=[{"r": r}] * per_round
            )
            s.flush()


def test_database_behind_the_manifest_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Rows lost from the database (as after WAL damage) warn on open and fail verify() until rebuild()."""
    path = tmp_path / "s"
    _populate(path)
    db = sqlite3.connect(str(path / _files.DB_FILE))
    db.execute("DELETE FROM points WHERE label > 150")
    db.execute("UPDATE sqlite_sequence SET seq = 150 WHERE name = 'points'")
    db.commit()
    db.close()
    with caplog.at_level(logging.ERROR, logger="llm_infra.vector"), open_store(path) as s:
        assert "BEHIND" in caplog.text
        assert s.count() == 150
        report = s.verify()
        assert not report.ok
        assert any("labels 151..200" in p for p in report.problems)
    with open_store(path) as s:  # remembered across opens
        assert not s.verify().ok
        s.rebuild()
        assert s.verify().ok
    with open_store(path) as s:
        assert s.verify().ok


def test_wal_bit_flip_is_detected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A flipped bit in the WAL (commits after it are dropped by SQLite) is reported, not silent."""
    path = tmp_path / "s"
    s = open_store(path, _cfg())
    try:
        for r in range(3):
            ids = [f"{r}-{i}" for i in range(100)]
            s.insert_batch(
                ids=ids, vectors=np.random.default_rng(r).standard_normal((100, D)).astype(np.float32)
            )
            s.flush()
        copy = tmp_path / "copy"
        copy.mkdir()
        for name in (_files.DB_FILE, _files.DB_FILE + "-wal", _files.MANIFEST):
            shutil.copy(path / name, copy / name)
        for entry in path.iterdir():
            if entry.name.startswith("index-"):
                shutil.copy(entry, copy / entry.name)
    finally:
        s.close()
    wal = copy / (_files.DB_FILE + "-wal")
    data = bytearray(wal.read_bytes())
    assert len(data) > 4096
    data[len(data) * 3 // 4] ^= 0x10  # a frame of the last commits
    wal.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="llm_infra.vector"), open_store(copy) as damaged:
        assert damaged.count() < 300
        report = damaged.verify()
        assert not report.ok
        assert any("not in the database" in p for p in report.problems)


def test_missing_database_is_not_replaced_by_an_empty_store(tmp_path: Path) -> None:
    """A manifest and index without their database refuse to open (nothing is created)."""
    path = tmp_path / "s"
    _populate(path, rounds=1)
    (path / _files.DB_FILE).unlink()
    with pytest.raises(VectorError) as info:
        open_store(path)
    assert info.value.code == "vector.storage_missing"
    assert not (path / _files.DB_FILE).exists()


def test_verify_parses_metadata_and_compares_vectors_exactly(tmp_path: Path) -> None:
    """A damaged metadata row and a vector changed by one ulp both fail verify()."""
    path = tmp_path / "s"
    _populate(path, rounds=1)
    with open_store(path) as s:
        assert s.verify().ok
        db = s._points._db
        db.execute("UPDATE points SET metadata = '{\"r\": 0' WHERE id = '5'")
        blob = db.execute("SELECT vector FROM points WHERE id = '9'").fetchone()[0]
        v = np.frombuffer(blob, dtype="<f4").copy()
        v[0] = np.nextafter(v[0], np.float32(np.inf))
        db.execute("UPDATE points SET vector = ? WHERE id = '9'", (v.tobytes(),))
        report = s.verify()
        assert not report.ok
        text = " ".join(report.problems)
        assert "do not parse" in text
        assert "ids: 5" in text
        assert "differ from the in-memory copies (ids: 9)" in text


# --------------------------------------------------------------------- dropped stores


def test_a_dropped_store_releases_lock_thread_and_files(tmp_path: Path) -> None:
    """Without close(), garbage collection stops the indexer and releases the lock and database."""
    path = tmp_path / "s"
    s = open_store(path, _cfg(background_indexing=True))
    s.insert_batch(ids=[str(i) for i in range(300)], vectors=np.stack([_vec(i) for i in range(300)]))
    ref = weakref.ref(s)
    worker = s._worker_control.thread
    del s
    # The indexer holds the store only while one step of work runs: once that step ends, nothing
    # keeps it alive (poll, since the step may be in flight right now).
    _wait(lambda: gc.collect() >= 0 and ref() is None, "the dropped store was collected")
    if worker is not None:
        _wait(lambda: not worker.is_alive(), "the indexer thread stopped")
    with open_store(path) as again:  # the lock was released
        assert again.count() == 300


# --------------------------------------------------------------------- errors that name their cause


def test_disk_full_is_reported_as_disk_full(tmp_path: Path) -> None:
    """SQLITE_FULL is io.disk_full with its cause, not "cannot rollback"; the store keeps working."""
    with open_store(tmp_path / "s", _cfg(chunk_size=50)) as s:
        s.insert("seed", _vec(0))
        db = s._points._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        big = np.random.default_rng(1).standard_normal((400, D)).astype(np.float32)
        with pytest.raises(BatchError) as info:
            s.insert_batch(
                ids=[f"b{i}" for i in range(400)], vectors=big, metadatas=[{"pad": "x" * 2000}] * 400
            )
        error = info.value.failures[0].error
        assert isinstance(error, IoError)
        assert error.code == "io.disk_full"
        assert "rollback" not in error.message
        assert s.count() == 1
        db.execute("PRAGMA max_page_count = 1073741823")
        s.insert("after", _vec(2))
        assert s.verify().ok


def test_calls_racing_close_are_vector_closed(tmp_path: Path) -> None:
    """A call that reaches the database after it was closed says vector.closed, not storage_corrupt."""
    s = open_store(tmp_path / "s", _cfg())
    s.insert("a", _vec(1))
    s._points.close()  # what close() does under a call that already passed its open check
    with pytest.raises(VectorError) as get_info:
        s.get("a", with_vector=True)
    assert get_info.value.code == "vector.closed"
    with pytest.raises(BatchError) as write_info:
        s.insert_batch(ids=["b"], vectors=np.ones((1, D)))
    assert write_info.value.failures[0].error.code == "vector.closed"
    s.close()
    with pytest.raises(VectorError) as after:
        s.search(_vec(1))
    assert after.value.code == "vector.closed"


def test_metadata_decode_failure_is_not_retryable(tmp_path: Path) -> None:
    """Damaged stored metadata is vector.storage_corrupt (not retryable), not a raw JSON error."""
    path = tmp_path / "s"
    _populate(path, rounds=1)
    db = sqlite3.connect(str(path / _files.DB_FILE))
    db.execute("UPDATE points SET metadata = 'not json' WHERE id = '3'")
    db.commit()
    db.close()
    with open_store(path) as s:
        with pytest.raises(VectorError) as info:
            s.get("3")
        assert info.value.code == "vector.storage_corrupt"
        assert not info.value.retryable
        with pytest.raises(VectorError) as search_info:
            s.search(_vec(3), k=1)
        assert search_info.value.code == "vector.storage_corrupt"
        assert s.get("4") is not None


def test_a_dropped_store_object_is_a_store() -> None:
    """The façade is the public LocalVectorStore."""
    with open_store(":memory:", _cfg()) as s:
        assert isinstance(s, LocalVectorStore)


def test_lost_deletes_and_row_counts_are_reported(tmp_path: Path) -> None:
    """The manifest's delete count and live rows catch losses the label sequence cannot."""
    path = tmp_path / "s"
    _populate(path, rounds=1)
    with open_store(path) as s:
        s.delete("1")
        s.upsert("2", _vec(2))
        s.flush()
    db = sqlite3.connect(str(path / _files.DB_FILE))
    assert db.execute("SELECT value FROM meta WHERE key = 'deletes'").fetchone()[0] == "2"
    db.execute("UPDATE meta SET value = '1' WHERE key = 'deletes'")
    db.commit()
    db.close()
    with open_store(path) as s:
        assert any("deletes" in p for p in s.verify().problems)
        s.rebuild()
        assert s.verify().ok
    db = sqlite3.connect(str(path / _files.DB_FILE))
    db.execute("DELETE FROM points WHERE id = '3'")  # a row gone, counters untouched
    db.commit()
    db.close()
    with open_store(path) as s:
        assert any("holds 98 rows, the manifest says 99" in p for p in s.verify().problems)
