"""Property: Qdrant filtering selects exactly what MetadataFilter.matches accepts."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from tests.unit.vector_backends.filter_strategies import FILTERS, dataset

from llm_infra.vector import MetadataFilter, VectorStoreConfig

pytest.importorskip("qdrant_client")

from llm_infra.vector._qdrant import QdrantVectorStore

METAS = dataset()


@pytest.fixture(scope="module")
def store() -> Iterator[QdrantVectorStore]:
    s = QdrantVectorStore(VectorStoreConfig(collection="prop", dimensions=4), path=":memory:")
    vectors = np.random.default_rng(1).standard_normal((len(METAS), 4)).astype(np.float32)
    s.insert_batch(ids=[f"i{i}" for i in range(len(METAS))], vectors=vectors, metadatas=METAS)
    yield s
    s.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=FILTERS)
def test_qdrant_filters_match_reference(store: QdrantVectorStore, flt: MetadataFilter) -> None:
    expected = {f"i{i}" for i, m in enumerate(METAS) if flt.matches(m)}
    got = {h.id for h in store.search(np.ones(4, np.float32), k=len(METAS), filter=flt)}
    assert got == expected, flt
