"""Property: the SQL compiled from a MetadataFilter selects exactly what ``matches`` accepts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from tests.unit.vector_backends.filter_strategies import FILTERS, dataset

from llm_infra.vector import MetadataFilter, VectorStoreConfig
from llm_infra.vector._pgvector import PgVectorStore

pytestmark = pytest.mark.integration

METAS = dataset()


@pytest.fixture(scope="module")
def store(pgvector_dsn: str) -> Iterator[PgVectorStore]:
    cfg = VectorStoreConfig(
        collection=f"prop{uuid.uuid4().hex[:8]}", dimensions=4, indexed_fields=("a", "n.x")
    )
    s = PgVectorStore(pgvector_dsn, cfg)
    vectors = np.random.default_rng(1).standard_normal((len(METAS), 4)).astype(np.float32)
    s.insert_batch(ids=[f"i{i}" for i in range(len(METAS))], vectors=vectors, metadatas=METAS)
    yield s
    s.drop()
    s.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=FILTERS)
def test_pg_filters_match_reference(store: PgVectorStore, flt: MetadataFilter) -> None:
    expected = {f"i{i}" for i, m in enumerate(METAS) if flt.matches(m)}
    got = {h.id for h in store.search(np.ones(4, np.float32), k=len(METAS), filter=flt)}
    assert got == expected, flt
