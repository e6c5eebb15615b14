"""PgVectorStore passes VectorStoreContract unchanged (on the bundled pgvector server)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from llm_infra.testing import VectorStoreContract
from llm_infra.vector import VectorStore, VectorStoreConfig, open_store
from llm_infra.vector._pgvector import PgVectorStore

pytestmark = pytest.mark.integration


class TestPgVectorContract(VectorStoreContract):
    """The conformance suite on Postgres: a store's "path" maps to a unique collection."""

    @pytest.fixture(autouse=True)
    def _dsn(self, pgvector_dsn: str) -> None:
        self.dsn = pgvector_dsn
        self.names: dict[Path, str] = {}

    def _name(self, path: Path) -> str:
        return self.names.setdefault(path, f"c{uuid.uuid4().hex[:12]}")

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return PgVectorStore(self.dsn, config.with_options(collection=self._name(path)))

    def open_existing(self, path: Path) -> VectorStore:
        return PgVectorStore(self.dsn, collection=self._name(path))

    def restore_snapshot(self, dest: Path) -> VectorStore:
        return open_store(dest)
