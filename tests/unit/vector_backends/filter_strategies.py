"""Hypothesis strategies: varied metadata and random MetadataFilters over the same fields."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from llm_infra.vector import And, Eq, Exists, In, MetadataFilter, Ne, Not, NotIn, Or, Range

FIELDS = ("a", "b", "n.x", "tags", "a.b")
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 1.5, -2.0, 2.5]),
    st.sampled_from(["", "x", "y", "1", "true"]),
)


def dataset(n: int = 60, seed: int = 11) -> list[dict[str, Any] | None]:
    """Metadata covering the corners: missing fields, null, lists, nested objects, dotted keys."""
    rng = np.random.default_rng(seed)
    values: list[Any] = [None, True, False, 0, 1, 1.0, 1.5, -2, 2.5, "", "x", "y", "1", "true", 3, -3]
    out: list[dict[str, Any] | None] = []
    for i in range(n):
        if i % 13 == 0:
            out.append(None)
            continue
        meta: dict[str, Any] = {}
        for field in ("a", "b"):
            r = rng.random()
            if r < 0.6:
                meta[field] = values[int(rng.integers(len(values)))]
            elif r < 0.8:
                meta[field] = [values[int(rng.integers(len(values)))] for _ in range(int(rng.integers(0, 3)))]
        if rng.random() < 0.5:
            meta["n"] = {"x": values[int(rng.integers(len(values)))]}
        if rng.random() < 0.4:
            meta["tags"] = [values[int(rng.integers(len(values)))] for _ in range(int(rng.integers(0, 4)))]
        if rng.random() < 0.15:
            meta["a.b"] = values[int(rng.integers(len(values)))]
        out.append(meta)
    return out


def _leaf() -> st.SearchStrategy[MetadataFilter]:
    field = st.sampled_from(FIELDS)
    bound = st.sampled_from([-2, -1, 0, 1, 1.5, 2, 3])
    return st.one_of(
        st.builds(Eq, field, SCALARS),
        st.builds(Ne, field, SCALARS),
        st.builds(In, field, st.lists(SCALARS, max_size=3).map(tuple)),
        st.builds(NotIn, field, st.lists(SCALARS, max_size=3).map(tuple)),
        st.builds(Exists, field),
        st.builds(lambda f, lo: Range(f, gte=lo), field, bound),
        st.builds(lambda f, lo, hi: Range(f, gt=lo, lt=hi), field, bound, bound),
    )


FILTERS: st.SearchStrategy[MetadataFilter] = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda fs: And(*fs)),
        st.lists(inner, max_size=3).map(lambda fs: Or(*fs)),
        inner.map(Not),
    ),
    max_leaves=6,
)
