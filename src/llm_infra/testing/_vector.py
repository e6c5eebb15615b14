"""``VectorStoreContract``: the conformance suite every ``VectorStore`` backend passes.

Subclass it in a test module and implement ``make_store``; pytest collects the inherited
tests::

    from llm_infra.testing import VectorStoreContract
    from llm_infra.vector import open_store

    class TestMyStore(VectorStoreContract):
        def make_store(self, config, path):
            return open_store(path, config)

        def open_existing(self, path):       # optional: enables the reopen tests
            return open_store(path)

Backends that cannot reopen (in-memory ones) set ``supports_reopen = False``; backends without
``snapshot`` set ``supports_snapshot = False``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from llm_infra.errors import (
    AlreadyExistsError,
    BatchError,
    InfraError,
    NotFoundError,
    ValidationError,
    VectorError,
)
from llm_infra.vector import (
    And,
    Distance,
    Eq,
    Exists,
    In,
    Ne,
    Not,
    NotIn,
    Or,
    Range,
    VectorRecord,
    VectorStore,
    VectorStoreConfig,
    parse_filter,
)

_CATEGORIES = ("tech", "science", "art", "sport")


def _dataset(n: int, dims: int, seed: int = 7) -> tuple[np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dims)).astype(np.float32)
    metas: list[dict[str, Any]] = []
    for i in range(n):
        meta: dict[str, Any] = {
            "category": _CATEGORIES[i % 4],
            "year": 2015 + (i % 10),
            "score": round(float(i) / 3.0, 3),
            "tags": [["rust", "wasm"], ["python"], [], ["rust", "python", 7]][i % 4],
            "flag": i % 3 == 0,
        }
        if i % 5 == 0:
            meta["draft"] = None
        if i % 7 == 0:
            del meta["year"]
        if i % 6 == 0:
            meta["author"] = {"name": f"a{i % 3}"}
        metas.append(meta)
    return vectors, metas


FILTER_CASES: tuple[Any, ...] = (
    Eq("category", "tech"),
    Eq("year", 2020),
    Eq("year", 2020.0),
    Eq("flag", True),
    Eq("draft", None),
    Eq("tags", "rust"),
    Eq("tags", 7),
    Eq("author.name", "a1"),
    Ne("category", "tech"),
    Ne("year", 2020),
    In("category", ("art", "sport")),
    In("tags", ("wasm", "python")),
    In("year", ()),
    NotIn("category", ("art", "sport")),
    NotIn("tags", ("rust",)),
    Range("year", gte=2018),
    Range("year", gt=2018, lte=2021),
    Range("score", lt=5.0),
    Range("tags", gte=7),
    Exists("draft"),
    Exists("year"),
    Not(Exists("year")),
    And(Eq("category", "tech"), Range("year", gte=2017)),
    Or(Eq("category", "art"), Eq("flag", True)),
    Not(Or(Eq("category", "art"), And(Eq("flag", True), Ne("category", "tech")))),
    And(Or(In("tags", ("rust",)), Not(Exists("year"))), Not(Eq("category", "sport"))),
    And(),
    Or(),
    {"category": "tech", "year": {"$gte": 2018}},
    {"tags": {"$in": ["rust", "wasm"]}},
    {"$or": [{"category": "art"}, {"year": {"$lt": 2017}}]},
    {"$not": {"category": {"$nin": ["tech", "science"]}}},
    {"draft": {"$exists": False}},
    {"year": {"$gt": 2016, "$lt": 2022, "$ne": 2019}},
)


class VectorStoreContract:
    """Conformance tests for a ``VectorStore`` (a pytest mixin; see the module docstring).

    Override ``make_store`` (required), ``open_existing`` (for reopen tests) and the class
    attributes to describe the backend.

    .. versionadded:: 0.1.0
    """

    dimensions: ClassVar[int] = 8
    supports_reopen: ClassVar[bool] = True
    supports_snapshot: ClassVar[bool] = True
    distances: ClassVar[tuple[Distance, ...]] = (Distance.COSINE, Distance.L2, Distance.DOT)
    config_overrides: ClassVar[dict[str, Any]] = {}

    # ---------------------------------------------------------------- hooks

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        """Create an empty store for ``config`` (``path`` is a fresh directory you may use)."""
        # A misconfigured subclass is a failing test with a clear message, not an error of the suite.
        pytest.fail(f"{type(self).__name__} must implement make_store(config, path)")

    def open_existing(self, path: Path) -> VectorStore:
        """Reopen the store created at ``path`` (used when ``supports_reopen``)."""
        pytest.fail(f"{type(self).__name__}: implement open_existing(path) or set supports_reopen = False")

    def restore_snapshot(self, dest: Path) -> VectorStore:
        """Open the snapshot written by ``store.snapshot(dest)``; the default reopens ``dest``."""
        return self.open_existing(dest)

    def make_config(self, **overrides: Any) -> VectorStoreConfig:
        """The config used by the suite (``config_overrides`` applied)."""
        values: dict[str, Any] = {"collection": "contract", "dimensions": self.dimensions}
        values.update(self.config_overrides)
        values.update(overrides)
        return VectorStoreConfig(**values)

    @pytest.fixture
    def store_path(self, tmp_path: Path) -> Path:
        """The directory the store lives in."""
        return tmp_path / "store"

    @pytest.fixture
    def store(self, store_path: Path) -> Iterator[VectorStore]:
        """A fresh empty cosine store."""
        s = self.make_store(self.make_config(), store_path)
        try:
            yield s
        finally:
            s.close()

    @pytest.fixture
    def loaded(self, store: VectorStore) -> tuple[VectorStore, np.ndarray, list[dict[str, Any]]]:
        """A store holding 60 vectors with varied metadata."""
        vectors, metas = _dataset(60, self.dimensions)
        result = store.insert_batch([(f"id{i}", vectors[i], metas[i]) for i in range(60)])
        assert result.ok
        return store, vectors, metas

    def _vec(self, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal(self.dimensions).astype(np.float32)

    # ---------------------------------------------------------------- CRUD

    def test_insert_then_get(self, store: VectorStore) -> None:
        """An inserted vector comes back by id with its metadata."""
        store.insert("a", self._vec(1), {"k": "v", "n": [1, 2]})
        rec = store.get("a")
        assert rec is not None
        assert rec.id == "a"
        assert rec.metadata == {"k": "v", "n": [1, 2]}
        assert rec.vector is None

    def test_get_with_vector(self, store: VectorStore) -> None:
        """``get(with_vector=True)`` returns the stored vector unchanged."""
        v = self._vec(2)
        store.insert("a", v)
        rec = store.get("a", with_vector=True)
        assert rec is not None
        assert rec.vector is not None
        np.testing.assert_allclose(rec.vector, v, rtol=1e-6)
        assert rec.metadata is None

    def test_get_missing_is_none(self, store: VectorStore) -> None:
        """An unknown id gives None."""
        assert store.get("nope") is None

    def test_duplicate_insert_raises(self, store: VectorStore) -> None:
        """Inserting an existing id raises AlreadyExistsError and keeps the original."""
        store.insert("a", self._vec(1), {"v": 1})
        with pytest.raises(AlreadyExistsError) as exc_info:
            store.insert("a", self._vec(2), {"v": 2})
        assert exc_info.value.code == "vector.already_exists"
        rec = store.get("a")
        assert rec is not None
        assert rec.metadata == {"v": 1}
        assert store.count() == 1

    def test_upsert_replaces(self, store: VectorStore) -> None:
        """Upsert replaces vector and metadata; searches see only the new vector."""
        old, new = self._vec(1), self._vec(2)
        store.insert("a", old, {"v": 1})
        store.insert("b", self._vec(3))
        store.upsert("a", new, {"v": 2})
        assert store.count() == 2
        rec = store.get("a", with_vector=True)
        assert rec is not None
        assert rec.metadata == {"v": 2}
        np.testing.assert_allclose(rec.vector, new, rtol=1e-6)  # type: ignore[arg-type]
        hits = store.search(new, k=2)
        assert hits[0].id == "a"
        assert math.isclose(hits[0].score, 1.0, abs_tol=1e-4)
        assert [h.id for h in hits].count("a") == 1

    def test_upsert_inserts_when_missing(self, store: VectorStore) -> None:
        """Upsert of an unknown id inserts it."""
        store.upsert("a", self._vec(1))
        assert store.count() == 1

    def test_delete(self, store: VectorStore) -> None:
        """delete returns True once, then False; the id is gone."""
        store.insert("a", self._vec(1))
        assert store.delete("a") is True
        assert store.delete("a") is False
        assert store.get("a") is None
        assert store.count() == 0
        assert store.search(self._vec(1), k=5) == []

    def test_update_metadata(self, store: VectorStore) -> None:
        """update_metadata replaces the metadata and filters see the new values."""
        store.insert("a", self._vec(1), {"c": "x"})
        store.update_metadata("a", {"c": "y", "n": 3})
        rec = store.get("a")
        assert rec is not None
        assert rec.metadata == {"c": "y", "n": 3}
        assert [h.id for h in store.search(self._vec(1), k=5, filter={"c": "y"})] == ["a"]
        assert store.search(self._vec(1), k=5, filter={"c": "x"}) == []
        store.update_metadata("a", None)
        rec = store.get("a")
        assert rec is not None
        assert rec.metadata is None

    def test_update_metadata_missing_raises(self, store: VectorStore) -> None:
        """update_metadata of an unknown id raises NotFoundError."""
        with pytest.raises(NotFoundError) as exc_info:
            store.update_metadata("nope", {"a": 1})
        assert exc_info.value.code == "vector.not_found"

    def test_count_and_stats(self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]]) -> None:
        """count() and stats() report the live vectors and the dimensions."""
        store, _, _ = loaded
        assert store.count() == 60
        store.delete("id3")
        assert store.count() == 59
        stats = store.stats()
        assert stats.count == 59
        assert stats.dimensions == self.dimensions

    # ---------------------------------------------------------------- validation

    @pytest.mark.parametrize("bad", [3, 9])
    def test_dimension_mismatch_message(self, store: VectorStore, bad: int) -> None:
        """A wrong-length vector raises the documented message with a stable code."""
        for call in (
            lambda: store.insert("a", np.ones(bad, np.float32)),
            lambda: store.upsert("a", np.ones(bad, np.float32)),
            lambda: store.search(np.ones(bad, np.float32)),
        ):
            with pytest.raises(VectorError) as info:
                call()
            assert str(info.value) == f"Dimension mismatch: expected {self.dimensions}, got {bad}"
            assert info.value.code == "vector.dimension_mismatch"
        assert store.count() == 0

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_non_finite_rejected(self, store: VectorStore, value: float) -> None:
        """NaN and infinite components are rejected on insert and on search."""
        v = self._vec(1)
        v[2] = value
        with pytest.raises(VectorError) as info:
            store.insert("a", v)
        assert info.value.code == "vector.invalid_vector"
        with pytest.raises(VectorError) as exc_info:
            store.search(v)
        assert exc_info.value.code == "vector.invalid_vector"
        assert store.count() == 0

    def test_bad_metadata_rejected(self, store: VectorStore) -> None:
        """Metadata that is not a JSON object (or holds NaN) is a ValidationError."""
        for meta in ({"x": float("nan")}, {"x": object()}, {1: "a"}, ["not", "a", "dict"]):
            with pytest.raises(ValidationError) as exc_info:
                store.insert("a", self._vec(1), meta)  # type: ignore[arg-type]
            assert exc_info.value.code == "vector.invalid_metadata"
        assert store.count() == 0

    def test_bad_ids_rejected(self, store: VectorStore) -> None:
        """Ids must be non-empty strings."""
        for ident in ("", 5, None):
            with pytest.raises(ValidationError) as exc_info:
                store.insert(ident, self._vec(1))  # type: ignore[arg-type]
            assert exc_info.value.code == "vector.invalid_id"

    # ---------------------------------------------------------------- batches

    def test_batch_partial_success(self, store: VectorStore) -> None:
        """Bad items fail alone with their ids; good ones are stored and searchable."""
        store.insert("exists", self._vec(0))
        nan = self._vec(4)
        nan[0] = float("nan")
        items: list[Any] = [
            ("g1", self._vec(1), {"a": 1}),
            ("short", np.ones(self.dimensions - 1, np.float32)),
            ("g2", self._vec(2)),
            ("nan", nan),
            ("exists", self._vec(5)),
            ("badmeta", self._vec(6), {"x": float("inf")}),
            VectorRecord(id="g3", vector=self._vec(3), metadata={"a": 3}),
            ("g1", self._vec(7)),
        ]
        result = store.insert_batch(items)
        assert result.total == 8
        assert result.succeeded == 3
        failed = {f.item_id: f.error for f in result.failures}
        assert set(failed) == {"short", "nan", "exists", "badmeta", "g1"}
        assert failed["short"].code == "vector.dimension_mismatch"
        assert (
            str(failed["short"])
            == f"Dimension mismatch: expected {self.dimensions}, got {self.dimensions - 1}"
        )
        assert failed["nan"].code == "vector.invalid_vector"
        assert isinstance(failed["exists"], AlreadyExistsError)
        assert isinstance(failed["badmeta"], ValidationError)
        assert result.is_partial_success
        assert store.count() == 4
        for ident in ("g1", "g2", "g3"):
            assert store.search(self._vec(int(ident[1])), k=1)[0].id == ident
        rec = store.get("g1")
        assert rec is not None
        assert rec.metadata == {"a": 1}

    def test_batch_fast_path(self, store: VectorStore) -> None:
        """ids= / vectors= (2-D array) / metadatas= inserts in one call."""
        vectors, metas = _dataset(50, self.dimensions)
        result = store.insert_batch(ids=[f"x{i}" for i in range(50)], vectors=vectors, metadatas=metas)
        assert result.ok
        assert result.succeeded == 50
        assert store.count() == 50
        assert store.search(vectors[17], k=1)[0].id == "x17"

    def test_batch_all_failed_raises(self, store: VectorStore) -> None:
        """A batch in which every item fails raises BatchError with every failure."""
        with pytest.raises(BatchError) as info:
            store.insert_batch(ids=["a", "b"], vectors=np.ones((2, self.dimensions + 1), np.float32))
        assert len(info.value.failures) == 2
        assert all(f.error.code == "vector.dimension_mismatch" for f in info.value.failures)

    def test_upsert_batch(self, store: VectorStore) -> None:
        """upsert_batch replaces existing ids; the last repeat of an id wins."""
        store.insert("a", self._vec(1), {"v": 0})
        result = store.upsert_batch(
            [("a", self._vec(2), {"v": 1}), ("b", self._vec(3)), ("a", self._vec(4), {"v": 2})]
        )
        assert result.ok
        assert store.count() == 2
        rec = store.get("a")
        assert rec is not None
        assert rec.metadata == {"v": 2}
        assert store.search(self._vec(4), k=1)[0].id == "a"

    # ---------------------------------------------------------------- search

    def test_search_best_first(self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]]) -> None:
        """The query's own vector ranks first with cosine similarity 1; scores never increase."""
        store, vectors, _ = loaded
        hits = store.search(vectors[11], k=10)
        assert len(hits) == 10
        assert hits[0].id == "id11"
        assert math.isclose(hits[0].score, 1.0, abs_tol=1e-4)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert hits[0].metadata is not None

    def test_search_k_larger_than_count(self, store: VectorStore) -> None:
        """Asking for more results than vectors returns them all; an empty store returns []."""
        assert store.search(self._vec(1), k=5) == []
        store.insert("a", self._vec(1))
        store.insert("b", self._vec(2))
        assert {h.id for h in store.search(self._vec(1), k=50)} == {"a", "b"}

    # ---------------------------------------------------------------- batch search

    def _assert_same_hits(self, got: list[Any], want: list[Any]) -> None:
        assert [h.id for h in got] == [h.id for h in want]
        for a, b in zip(got, want, strict=True):
            assert math.isclose(a.score, b.score, rel_tol=1e-5, abs_tol=1e-5)
            assert a.metadata == b.metadata

    def test_search_batch_equals_search(
        self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]]
    ) -> None:
        """``search_batch`` returns, per query, what ``search`` returns (with and without a filter)."""
        store, vectors, _ = loaded
        queries = np.concatenate([vectors[:5], np.stack([self._vec(100 + i) for i in range(4)])])
        for flt in (None, Eq("category", "tech"), {"year": {"$gte": 2018}}, Or()):
            batch = store.search_batch(queries, k=7, filter=flt)
            assert len(batch) == len(queries)
            for q, got in zip(queries, batch, strict=True):
                self._assert_same_hits(got, store.search(q, k=7, filter=flt))
        listed = store.search_batch([vectors[3].tolist(), vectors[4]], k=3, min_score=0.0)
        self._assert_same_hits(listed[0], store.search(vectors[3], k=3, min_score=0.0))
        with_vectors = store.search_batch(vectors[:2], k=2, with_vectors=True)
        assert with_vectors[0][0].id == "id0"
        assert with_vectors[0][0].vector is not None
        np.testing.assert_allclose(with_vectors[0][0].vector, vectors[0], rtol=1e-6)

    def test_search_batch_empty_and_k_larger_than_count(self, store: VectorStore) -> None:
        """An empty batch gives ``[]``; ``k`` above the count returns every vector per query."""
        assert store.search_batch(np.empty((0, self.dimensions), np.float32), k=3) == []
        assert store.search_batch([], k=3) == []
        assert store.search_batch(np.stack([self._vec(1)]), k=3) == [[]]
        store.insert("a", self._vec(1))
        store.insert("b", self._vec(2))
        batch = store.search_batch(np.stack([self._vec(1), self._vec(2)]), k=50)
        assert [{h.id for h in hits} for hits in batch] == [{"a", "b"}, {"a", "b"}]
        assert batch[0][0].id == "a"
        assert batch[1][0].id == "b"

    def test_search_batch_rejects_wrong_dimensions(self, store: VectorStore) -> None:
        """A query of the wrong length fails the call with ``vector.dimension_mismatch``."""
        store.insert("a", self._vec(1))
        for bad in (
            np.ones((2, self.dimensions + 1), np.float32),
            [self._vec(1), np.ones(self.dimensions - 1)],
        ):
            with pytest.raises((VectorError, ValidationError)) as info:
                store.search_batch(bad, k=1)
            assert info.value.code == "vector.dimension_mismatch"

    def test_scores_higher_is_better(self, store_path: Path) -> None:
        """For every distance the nearest vector has the highest score (L2: negative distance)."""
        base = np.eye(self.dimensions, dtype=np.float32)[:3] * np.array([[1.0], [2.0], [3.0]], np.float32)
        for i, distance in enumerate(self.distances):
            s = self.make_store(self.make_config(distance=distance), store_path.parent / f"dist{i}")
            try:
                s.insert_batch([("one", base[0]), ("two", base[1]), ("three", base[2])])
                q = base[0] * 0.9
                hits = s.search(q, k=3)
                scores = [h.score for h in hits]
                assert scores == sorted(scores, reverse=True)
                if distance is Distance.L2:
                    assert hits[0].id == "one"
                    assert math.isclose(hits[0].score, -0.1, abs_tol=1e-4)
                    assert all(sc <= 0 for sc in scores)
                elif distance is Distance.COSINE:
                    assert hits[0].id == "one"
                    assert math.isclose(hits[0].score, 1.0, abs_tol=1e-4)
                else:
                    assert hits[0].id == "one"
                    assert math.isclose(hits[0].score, 0.9, abs_tol=1e-4)
            finally:
                s.close()

    @pytest.mark.parametrize("case", range(len(FILTER_CASES)))
    def test_filters_match_reference(
        self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]], case: int
    ) -> None:
        """Every operator, nested and in dict form, selects exactly the records ``matches`` accepts."""
        store, vectors, metas = loaded
        flt = FILTER_CASES[case]
        reference = parse_filter(flt)
        expected = {f"id{i}" for i, m in enumerate(metas) if reference.matches(m)}
        hits = store.search(vectors[0], k=100, filter=flt)
        assert {h.id for h in hits} == expected
        for h in hits:
            assert reference.matches(h.metadata)

    def test_dict_filter_equals_object_filter(self) -> None:
        """The dict form parses to the equal MetadataFilter object."""
        assert parse_filter(
            {"category": "tech", "year": {"$gte": 2020}, "tags": {"$in": ["rust", "wasm"]}}
        ) == And(Eq("category", "tech"), Range("year", gte=2020), In("tags", ("rust", "wasm")))

    def test_malformed_filter_names_path(
        self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]]
    ) -> None:
        """A malformed filter raises ValidationError whose field is the offending path."""
        store, vectors, _ = loaded
        with pytest.raises(ValidationError) as info:
            store.search(vectors[0], filter={"$or": [{"a": 1}, {"year": {"$gte": "x"}}]})
        assert info.value.code == "vector.invalid_filter"
        assert info.value.field == "filter.$or[1].year.$gte"
        with pytest.raises(ValidationError) as info:
            store.search(vectors[0], filter={"year": {"$between": [1, 2]}})
        assert info.value.code == "vector.invalid_filter"
        assert info.value.field == "filter.year.$between"

    def test_min_score(self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]]) -> None:
        """min_score keeps exactly the results of the top k that reach the threshold."""
        store, vectors, _ = loaded
        full = store.search(vectors[5], k=20)
        threshold = full[6].score
        hits = store.query(vectors[5]).limit(20).min_score(threshold).execute()
        assert [h.id for h in hits] == [h.id for h in full if h.score >= threshold]
        assert all(h.score >= threshold for h in hits)
        assert store.search(vectors[5], k=5, min_score=1.5) == []

    def test_query_builder(self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]]) -> None:
        """The fluent builder ANDs where_* clauses and honours limit, vectors and metadata switches."""
        store, vectors, metas = loaded
        q = (
            store.query(vectors[0])
            .where_eq("category", "tech")
            .where_in("tags", ["rust"])
            .where_range("score", lt=15)
        )
        hits = q.limit(50).execute()
        expected = {
            f"id{i}"
            for i, m in enumerate(metas)
            if m["category"] == "tech" and "rust" in m["tags"] and m["score"] < 15
        }
        assert {h.id for h in hits} == expected
        assert len(q.limit(2).execute()) == min(2, len(expected))
        bare = store.query(vectors[0]).limit(3).without_metadata().with_vectors().execute()
        assert all(h.metadata is None and h.vector is not None for h in bare)
        np.testing.assert_allclose(bare[0].vector, vectors[0], rtol=1e-6)  # type: ignore[arg-type]
        explicit = store.query(vectors[0]).filter(Eq("category", "art")).ef_search(128).limit(60).execute()
        assert {h.id for h in explicit} == {f"id{i}" for i, m in enumerate(metas) if m["category"] == "art"}

    def test_tombstones_never_returned(
        self, loaded: tuple[VectorStore, np.ndarray, list[dict[str, Any]]]
    ) -> None:
        """Deleted and replaced vectors never come back, with or without a filter."""
        store, vectors, _ = loaded
        deleted = {f"id{i}" for i in range(0, 60, 2)}
        for ident in deleted:
            assert store.delete(ident)
        store.upsert("id1", vectors[0], {"category": "new"})
        for q in (vectors[0], vectors[2], vectors[1]):
            ids = [h.id for h in store.search(q, k=60)]
            assert not deleted & set(ids)
            assert len(ids) == len(set(ids)) == 30
            assert not deleted & {h.id for h in store.search(q, k=60, filter={"category": {"$ne": "zzz"}})}
        assert store.search(vectors[0], k=1)[0].id == "id1"
        assert store.count() == 30

    # ---------------------------------------------------------------- persistence

    def test_reopen_keeps_everything(self, store_path: Path) -> None:
        """After close and reopen (no config), ids, metadata, vectors and deletes persist."""
        if not self.supports_reopen:
            pytest.skip("this backend does not persist across reopen")
        vectors, metas = _dataset(40, self.dimensions)
        s = self.make_store(self.make_config(), store_path)
        s.insert_batch([(f"id{i}", vectors[i], metas[i]) for i in range(40)])
        s.flush()
        s.insert("late", vectors[3] + 0.01, {"late": True})
        s.delete("id5")
        s.update_metadata("id6", {"changed": 1})
        s.close()
        s2 = self.open_existing(store_path)
        try:
            assert s2.count() == 40
            assert s2.get("id5") is None
            rec = s2.get("id6")
            assert rec is not None
            assert rec.metadata == {"changed": 1}
            assert s2.search(vectors[7], k=1)[0].id == "id7"
            assert {h.id for h in s2.search(vectors[3], k=2)} == {"id3", "late"}
            assert [h.id for h in s2.search(vectors[0], k=50, filter={"late": True})] == ["late"]
            got = s2.get("id9", with_vector=True)
            assert got is not None
            np.testing.assert_allclose(got.vector, vectors[9], rtol=1e-6)  # type: ignore[arg-type]
        finally:
            s2.close()

    def test_snapshot_restore(self, store: VectorStore, tmp_path: Path) -> None:
        """A snapshot keeps the state at snapshot time; later writes don't reach it."""
        if not self.supports_snapshot:
            pytest.skip("this backend has no snapshots")
        vectors, metas = _dataset(30, self.dimensions)
        store.insert_batch([(f"id{i}", vectors[i], metas[i]) for i in range(30)])
        store.delete("id2")
        dest = tmp_path / "snap"
        store.snapshot(dest)
        store.delete("id4")
        store.insert("after", vectors[0])
        restored = self.restore_snapshot(dest)
        try:
            assert restored.count() == 29
            assert restored.get("id2") is None
            assert restored.get("id4") is not None
            assert restored.get("after") is None
            assert restored.search(vectors[4], k=1)[0].id == "id4"
            rec = restored.get("id7")
            assert rec is not None
            assert rec.metadata == metas[7]
        finally:
            restored.close()

    def test_errors_are_infra_errors(self, store: VectorStore) -> None:
        """Every failure surfaces as an InfraError subclass."""
        with pytest.raises(InfraError) as exc_info:
            store.search(self._vec(1), k=0)
        assert exc_info.value.code == "vector.invalid_k"
        with pytest.raises(InfraError) as exc_info:
            store.search("not a vector")
        assert exc_info.value.code == "vector.invalid_vector"
