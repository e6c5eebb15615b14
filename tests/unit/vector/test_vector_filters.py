"""Metadata filters: dict form == object form, reference semantics, payload index == brute force."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_infra.errors import ValidationError
from llm_infra.vector import (
    And,
    Eq,
    Exists,
    In,
    MetadataFilter,
    Ne,
    Not,
    NotIn,
    Or,
    Range,
    VectorStoreConfig,
    open_store,
    parse_filter,
)
from llm_infra.vector._filters import extract, iter_leaves, scalar_key
from llm_infra.vector._payload import PayloadIndex

FIELDS = ("a", "b", "tags", "n.x")
scalars = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.0, -2.5, 2.0]),
    st.sampled_from(["x", "y", "z"]),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any] | None:
    """Random metadata over a small vocabulary (including nested and list values)."""
    if draw(st.integers(0, 9)) == 0:
        return None
    meta: dict[str, Any] = {}
    for name in ("a", "b", "tags"):
        if draw(st.booleans()):
            meta[name] = draw(values)
    choice = draw(st.integers(0, 3))
    if choice == 1:
        meta["n"] = {"x": draw(values)}
    elif choice == 2:
        meta["n"] = draw(scalars)
    elif choice == 3:
        meta["n"] = {"y": 1, "x": {"deep": 1}}
    return meta


numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0]))


@st.composite
def leaf(draw: st.DrawFn) -> tuple[MetadataFilter, dict[str, Any]]:
    """A leaf filter together with an equivalent dict spelling."""
    field = draw(st.sampled_from(FIELDS))
    kind = draw(st.integers(0, 7))
    if kind == 0:
        v = draw(scalars)
        return Eq(field, v), draw(st.sampled_from([{field: v}, {field: {"$eq": v}}]))
    if kind == 1:
        v = draw(scalars)
        return Ne(field, v), {field: {"$ne": v}}
    if kind == 2:
        vs = draw(st.lists(scalars, max_size=3))
        return In(field, vs), {field: {"$in": vs}}
    if kind == 3:
        vs = draw(st.lists(scalars, max_size=3))
        return NotIn(field, vs), {field: {"$nin": vs}}
    if kind == 4:
        return Exists(field), {field: {"$exists": True}}
    if kind == 5:
        return Not(Exists(field)), {field: {"$exists": False}}
    lo_op = draw(st.sampled_from([None, "gt", "gte"]))
    hi_op = draw(st.sampled_from([None, "lt", "lte"] if lo_op else ["lt", "lte"]))
    bounds: dict[str, Any] = {}
    if lo_op:
        bounds[lo_op] = draw(numbers)
    if hi_op:
        bounds[hi_op] = draw(numbers)
    return Range(field, **bounds), {field: {f"${k}": v for k, v in bounds.items()}}


def filters() -> st.SearchStrategy[tuple[MetadataFilter, dict[str, Any]]]:
    """Random nested filters with an equivalent dict form."""

    def extend(
        children: st.SearchStrategy[tuple[MetadataFilter, dict[str, Any]]],
    ) -> st.SearchStrategy[tuple[MetadataFilter, dict[str, Any]]]:
        def combine(
            op: str, items: list[tuple[MetadataFilter, dict[str, Any]]]
        ) -> tuple[MetadataFilter, dict[str, Any]]:
            if op == "$not":
                obj, d = items[0]
                return Not(obj), {"$not": d}
            objs = [o for o, _ in items]
            dicts = [d for _, d in items]
            return (And(*objs) if op == "$and" else Or(*objs)), {op: dicts}

        return st.builds(
            combine, st.sampled_from(["$and", "$or", "$not"]), st.lists(children, min_size=1, max_size=3)
        )

    return st.recursive(leaf(), extend, max_leaves=6)


@given(filters())
@settings(max_examples=150, deadline=None)
def test_dict_form_equals_object_form(pair: tuple[MetadataFilter, dict[str, Any]]) -> None:
    """Parsing the dict spelling gives a filter equal to the object built directly."""
    obj, spelled = pair
    assert parse_filter(spelled) == obj
    assert parse_filter(obj.to_dict()) == obj


@given(filters(), st.lists(metadata(), min_size=1, max_size=25))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_payload_index_equals_matches(pair: tuple[MetadataFilter, dict[str, Any]], metas: list[Any]) -> None:
    """The payload index's mask equals evaluating ``matches`` on every record."""
    obj, _ = pair
    index = PayloadIndex(FIELDS[:2])
    index.reserve(len(metas))
    for slot, meta in enumerate(metas):
        index.set(slot, meta)
    index.ensure(obj.fields(), len(metas), lambda s: metas[s])
    mask = index.evaluate(obj, len(metas))
    assert mask.tolist() == [obj.matches(m) for m in metas]


@given(filters(), st.lists(metadata(), min_size=1, max_size=25), st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_payload_index_after_updates(
    pair: tuple[MetadataFilter, dict[str, Any]], metas: list[Any], data: st.DataObject
) -> None:
    """Re-indexing slots with new metadata keeps the mask equal to ``matches``."""
    obj, _ = pair
    index = PayloadIndex(FIELDS)
    index.reserve(len(metas))
    for slot, meta in enumerate(metas):
        index.set(slot, meta)
    index.evaluate(obj, len(metas))  # warm the caches before the updates
    for _ in range(data.draw(st.integers(1, 5))):
        slot = data.draw(st.integers(0, len(metas) - 1))
        metas[slot] = data.draw(metadata())
        index.set(slot, metas[slot])
    assert index.evaluate(obj, len(metas)).tolist() == [obj.matches(m) for m in metas]


@given(filters(), st.lists(metadata(), min_size=5, max_size=40), st.integers(1, 12))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exact_scan_equals_brute_force(
    pair: tuple[MetadataFilter, dict[str, Any]], metas: list[Any], k: int
) -> None:
    """A filtered search returns the brute-force top k of the matching records, in order."""
    obj, spelled = pair
    rng = np.random.default_rng(len(metas) * 31 + k)
    vectors = rng.standard_normal((len(metas), 6)).astype(np.float32)
    q = rng.standard_normal(6).astype(np.float32)
    with open_store(
        ":memory:", VectorStoreConfig(collection="p", dimensions=6, background_indexing=False)
    ) as store:
        store.insert_batch(ids=[str(i) for i in range(len(metas))], vectors=vectors, metadatas=metas)
        store.flush()
        hits = store.search(q, k=k, filter=spelled)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ (q / np.linalg.norm(q))
    matching = [i for i, m in enumerate(metas) if obj.matches(m)]
    expected = sorted(matching, key=lambda i: -sims[i])[:k]
    assert [int(h.id) for h in hits] == expected
    np.testing.assert_allclose([h.score for h in hits], sims[expected], rtol=1e-5, atol=1e-5)


def test_semantics_examples() -> None:
    """Spot checks of the documented semantics."""
    meta = {"tags": ["a", 1, True], "n": 1, "b": True, "z": None, "o": {"p": 2}, "o.p": 3}
    assert Eq("tags", "a").matches(meta)
    assert Eq("tags", 1).matches(meta)
    assert Eq("tags", 1.0).matches(meta)
    assert Eq("tags", True).matches(meta)
    assert not Eq("b", 1).matches(meta)
    assert not Eq("n", True).matches(meta)
    assert Eq("z", None).matches(meta)
    assert not Eq("missing", None).matches(meta)
    assert Ne("missing", 1).matches(meta)
    assert NotIn("missing", [1]).matches(meta)
    assert not In("n", []).matches(meta)
    assert Range("tags", gte=1).matches(meta)
    assert not Range("b", gte=0).matches(meta)
    assert Exists("z").matches(meta)
    assert Eq("o.p", 3).matches(meta)  # a literal dotted key wins over the nested path
    assert extract({"o": {"p": 2}}, "o.p") == (True, 2)
    assert extract({"o": 5}, "o.p") == (False, None)
    assert extract(None, "a") == (False, None)
    assert And().matches(None)
    assert not Or().matches(meta)
    assert Not(Eq("n", 2)).matches(None)
    assert scalar_key(True) != scalar_key(1)
    assert scalar_key([1]) is None


def test_operators_and_flattening() -> None:
    """``&``, ``|`` and ``~`` build filters; nested And/Or flatten; list arguments work."""
    a, b, c = Eq("a", 1), Eq("b", 2), Eq("c", 3)
    assert (a & b) & c == And(a, b, c)
    assert (a | b) | c == Or(a, b, c)
    assert ~a == Not(a)
    assert And([a, b]) == And(a, b)
    assert And({"a": 1}) == And(a)
    assert Not({"a": 1}) == Not(a)
    assert (a & b).fields() == {"a", "b"}
    assert Not(a).fields() == {"a"}
    assert list(iter_leaves(And(a, Or(b, Not(c))))) == [a, b, c]
    assert MetadataFilter.from_dict({"a": 1}) == a
    assert parse_filter({}) == And()
    assert Range("x", gte=1, lt=2).bounds() == (1.0, True, 2.0, False)
    assert Range("x", gt=1).to_dict() == {"x": {"$gt": 1}}


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"$or": [{"a": 1}, {"year": {"$gte": "x"}}]}, "filter.$or[1].year.$gte"),
        ({"a": {"$between": 1}}, "filter.a.$between"),
        ({"a": {"b": 1}}, "filter.a.b"),
        ({"a": [1, 2]}, "filter.a"),
        ({"a": {}}, "filter.a"),
        ({"$and": {"a": 1}}, "filter.$and"),
        ({"$not": [1]}, "filter.$not"),
        ({"$nor": []}, "filter.$nor"),
        ({"a": {"$in": "xy"}}, "filter.a.$in"),
        ({"a": {"$in": [[1]]}}, "filter.a.$in[0]"),
        ({"a": {"$exists": 1}}, "filter.a.$exists"),
        ({"a": {"$gt": 1, "$gte": 2}}, "filter.a"),
        ({"a": {"$lt": 1, "$lte": 2}}, "filter.a"),
        ({"a": float("nan")}, "filter.a"),
        ({"a": {"$gt": float("inf")}}, "filter.a.$gt"),
        ({"a": {"$gt": True}}, "filter.a.$gt"),
        ({"": 1}, "filter"),
        ({5: 1}, "filter"),
        ({"a": {"x": {"$eq": {"no": 1}}}}, "filter.a.x"),
        ([1], "filter"),
        ({"$or": [{"a": {"$eq": {"o": 1}}}]}, "filter.$or[0].a.$eq"),
    ],
)
def test_malformed_filters_name_the_path(spec: Any, path: str) -> None:
    """Every malformed filter raises ValidationError(code vector.invalid_filter) naming its path."""
    with pytest.raises(ValidationError) as info:
        parse_filter(spec)
    assert info.value.field == path
    assert info.value.code == "vector.invalid_filter"
    assert path in str(info.value)


def test_object_constructors_validate() -> None:
    """Filter objects validate their arguments."""
    with pytest.raises(ValidationError) as exc_info:
        Eq("", 1)
    assert exc_info.value.code == "vector.invalid_filter"
    with pytest.raises(ValidationError) as exc_info:
        Eq("a", [1])  # type: ignore[arg-type]
    assert exc_info.value.code == "vector.invalid_filter"
    with pytest.raises(ValidationError) as exc_info:
        Range("a")
    assert exc_info.value.code == "vector.invalid_filter"
    with pytest.raises(ValidationError) as exc_info:
        In("a", 5)  # type: ignore[arg-type]
    assert exc_info.value.code == "vector.invalid_filter"
    with pytest.raises(ValidationError) as exc_info:
        And(5)  # type: ignore[arg-type]
    assert exc_info.value.code == "vector.invalid_filter"
    with pytest.raises(ValidationError) as exc_info:
        Not(5)  # type: ignore[arg-type]
    assert exc_info.value.code == "vector.invalid_filter"


class _Custom(MetadataFilter):
    """A user-defined filter: the store falls back to its ``matches``."""

    def matches(self, metadata: Any) -> bool:
        return bool(metadata) and metadata.get("n", 0) % 2 == 1

    def fields(self) -> frozenset[str]:
        return frozenset({"n"})

    def to_dict(self) -> dict[str, Any]:
        return {"custom": True}


def test_custom_filter_subclass_is_evaluated() -> None:
    """A MetadataFilter subclass unknown to the payload index is evaluated row by row."""
    with open_store(
        ":memory:", VectorStoreConfig(collection="c", dimensions=4, background_indexing=False)
    ) as s:
        s.insert_batch([(str(i), np.ones(4, np.float32) * (i + 1), {"n": i}) for i in range(10)])
        hits = s.search(np.ones(4, np.float32), k=10, filter=_Custom())
        assert sorted(int(h.id) for h in hits) == [1, 3, 5, 7, 9]
        hits = s.search(np.ones(4, np.float32), k=10, filter=And(_Custom(), Range("n", lt=5)))
        assert sorted(int(h.id) for h in hits) == [1, 3]
