"""The local engine passes VectorStoreContract in memory and on disk, in several configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from llm_infra.testing import VectorStoreContract
from llm_infra.vector import CompressionConfig, VectorStore, VectorStoreConfig, open_store


class TestLocalMemory(VectorStoreContract):
    """In-memory store, graph built at flush (the tail path serves every search)."""

    supports_reopen = False
    config_overrides: ClassVar[dict[str, Any]] = {"background_indexing": False}

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return open_store(":memory:", config)

    def restore_snapshot(self, dest: Path) -> VectorStore:
        return open_store(dest)


class TestLocalDisk(VectorStoreContract):
    """On-disk store with background indexing (searches race the indexer)."""

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return open_store(path, config)

    def open_existing(self, path: Path) -> VectorStore:
        return open_store(path)


class TestLocalDiskIndexed(VectorStoreContract):
    """On-disk store whose writes are pushed into the graph before every search (graph path)."""

    config_overrides: ClassVar[dict[str, Any]] = {
        "background_indexing": False,
        "exact_scan_min_rows": 0,
        "exact_scan_fraction": 0.0,
        "durability": "full",
    }

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return _Flushing(open_store(path, config))

    def open_existing(self, path: Path) -> VectorStore:
        return _Flushing(open_store(path))


class TestLocalMemoryCompressed(VectorStoreContract):
    """In-memory int8 tier with rescoring, graph path forced."""

    supports_reopen = False
    config_overrides: ClassVar[dict[str, Any]] = {
        "background_indexing": False,
        "exact_scan_min_rows": 0,
        "exact_scan_fraction": 0.0,
        "compression": CompressionConfig(tier="int8"),
    }

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return _Flushing(open_store(":memory:", config))

    def restore_snapshot(self, dest: Path) -> VectorStore:
        return _Flushing(open_store(dest))


class TestLocalDiskBinary(VectorStoreContract):
    """On-disk binary tier (rescored from the memory-mapped full vectors), graph path forced."""

    config_overrides: ClassVar[dict[str, Any]] = {
        "background_indexing": False,
        "exact_scan_min_rows": 0,
        "exact_scan_fraction": 0.0,
        "compression": CompressionConfig(tier="binary", rescore_factor=100),
    }

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return _Flushing(open_store(path, config))

    def open_existing(self, path: Path) -> VectorStore:
        return _Flushing(open_store(path))


class _Flushing:
    """Wraps a store so that every write is followed by flush(): searches then use the graph."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in {"insert", "upsert", "insert_batch", "upsert_batch", "delete", "update_metadata"}:

            def call(*args: Any, **kwargs: Any) -> Any:
                try:
                    return attr(*args, **kwargs)
                finally:
                    self._inner.flush()

            return call
        return attr

    def query(self, vector: Any) -> Any:
        from llm_infra.vector import SearchQuery

        return SearchQuery(vector, store=self)  # type: ignore[arg-type]
