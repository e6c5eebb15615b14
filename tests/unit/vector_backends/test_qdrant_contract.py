"""QdrantVectorStore (qdrant-client local mode) passes VectorStoreContract unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_infra.testing import VectorStoreContract
from llm_infra.vector import VectorStore, VectorStoreConfig, open_store

pytest.importorskip("qdrant_client", reason="the vector-qdrant extra is not installed")

from llm_infra.vector._qdrant import QdrantVectorStore


class TestQdrantLocalContract(VectorStoreContract):
    """On disk in local mode: a store's path is the qdrant+local directory."""

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return QdrantVectorStore(config, path=path)

    def open_existing(self, path: Path) -> VectorStore:
        return QdrantVectorStore(path=path, collection="contract")

    def restore_snapshot(self, dest: Path) -> VectorStore:
        return open_store(dest)


class TestQdrantMemoryContract(VectorStoreContract):
    """In memory: no reopen."""

    supports_reopen = False

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return QdrantVectorStore(config, path=":memory:")

    def restore_snapshot(self, dest: Path) -> VectorStore:
        return open_store(dest)
