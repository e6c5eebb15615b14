"""One adapter per engine compared by bench/vector.py.

Every adapter exposes the same small surface so the driver can interleave them:

- ``build(root, ds, batch)``: create a persistent index under ``root`` from ``ds``, inserting
  in batches of ``batch``; returns ``{"insert_s": ..., "build_s": ...}`` (``insert_s`` is the
  time spent in the insert calls, ``build_s`` until the index is complete and on disk) and
  leaves the engine closed.
- ``open(root, dim)``: open the persisted index (timed as "reopen"), then
  ``prepare_filters(ds)``: whatever a user of the engine precomputes once per filter.
- ``set_ef(ef)``, ``search(q)``, ``search_filtered(q, which)`` (``which`` is ``"f10"`` for
  ``sel10 == 3`` or ``"f1"`` for ``sel100 == 7``), ``close()``.

Every engine runs with one query thread, returns its usual result payload (ids with scores and
metadata where the engine stores metadata), and gets metric=cosine (inner product on the unit
vectors) with HNSW M=16, efConstruction=200 where it has those knobs.
"""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .data import F1_VALUE, F10_VALUE, Dataset, K

M = 16
EF_CONSTRUCTION = 200
EF_SWEEP = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768)


def _metas(ds: Dataset, lo: int, hi: int) -> list[dict[str, int]]:
    return [
        {"sel10": int(a), "sel100": int(b)} for a, b in zip(ds.sel10[lo:hi], ds.sel100[lo:hi], strict=True)
    ]


def _batches(n: int, batch: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + batch)) for s in range(0, n, batch)]


class Engine(ABC):
    """Common surface; see the module docstring."""

    name: ClassVar[str] = "?"
    label: ClassVar[str] = "?"
    is_ours: ClassVar[bool] = False
    knobs: ClassVar[tuple[int, ...]] = EF_SWEEP
    knob_name: ClassVar[str] = "ef"
    notes: ClassVar[str] = ""

    def version(self) -> str:
        return "?"

    @abstractmethod
    def build(self, root: Path, ds: Dataset, batch: int) -> dict[str, float]:
        """Create the persistent index under ``root``; return timings; leave it closed."""

    @abstractmethod
    def open(self, root: Path, dim: int) -> None:
        """Open the persisted index for queries."""

    def prepare_filters(self, ds: Dataset) -> None:
        """Precompute what a user of this engine would keep per filter (default: nothing)."""
        return

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    @abstractmethod
    def search(self, q: np.ndarray) -> list[int]:
        """Top-K ids for one query."""

    @abstractmethod
    def search_filtered(self, q: np.ndarray, which: str) -> list[int]:
        """Top-K ids among the points matching filter ``which`` ("f10" or "f1")."""

    def close(self) -> None:
        return None


# --------------------------------------------------------------------------- ours
class Ours(Engine):
    """llm_infra.vector.LocalVectorStore (faiss HNSW + SQLite), compression tier ``none``."""

    name = "ours"
    label = "llm_infra.vector"
    is_ours = True
    tier = "none"

    def version(self) -> str:
        import llm_infra
        import llm_infra.vector

        return str(getattr(llm_infra, "__version__", "?")) + f" (tier {self.tier})"

    def _config(self, ds: Dataset) -> Any:
        from llm_infra.vector import CompressionConfig, Distance, HnswConfig, VectorStoreConfig

        return VectorStoreConfig(
            collection="bench",
            dimensions=ds.dim,
            distance=Distance.COSINE,
            hnsw=HnswConfig(m=M, ef_construction=EF_CONSTRUCTION, ef_search=64),
            compression=CompressionConfig(tier=self.tier),
            indexed_fields=("sel10", "sel100"),
            # One thread, like every peer: the graph absorbs the inserts at flush(), not in a
            # background thread running beside the ingest on the second core.
            background_indexing=False,
        )

    def build(self, root: Path, ds: Dataset, batch: int) -> dict[str, float]:
        from llm_infra.vector import open_store

        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        store = open_store(str(root / "store"), self._config(ds))
        insert = 0.0
        for lo, hi in _batches(ds.n, batch):
            ids = [str(i) for i in range(lo, hi)]
            metas = _metas(ds, lo, hi)
            t = time.perf_counter()
            res = store.insert_batch(ids=ids, vectors=ds.vectors[lo:hi], metadatas=metas)
            insert += time.perf_counter() - t
            if res.failures:
                raise RuntimeError(f"insert_batch rejected {len(res.failures)} items, e.g. {res.failures[0]}")
        t = time.perf_counter()
        store.flush()
        flush = time.perf_counter() - t
        store.close()
        return {"insert_s": insert, "flush_s": flush, "build_s": time.perf_counter() - t0}

    def open(self, root: Path, dim: int) -> None:
        from llm_infra.vector import open_store

        self.store = open_store(str(root / "store"))
        self.ef = 64

    def search(self, q: np.ndarray) -> list[int]:
        return [int(r.id) for r in self.store.search(q, k=K, ef_search=self.ef)]

    def search_filtered(self, q: np.ndarray, which: str) -> list[int]:
        flt = {"sel10": F10_VALUE} if which == "f10" else {"sel100": F1_VALUE}
        return [int(r.id) for r in self.store.search(q, k=K, filter=flt, ef_search=self.ef)]

    def close(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            store.close()
            self.store = None


class OursF16(Ours):
    """The same store with the f16 compression tier (half the index memory, rescored)."""

    name = "ours-f16"
    label = "llm_infra.vector f16"
    tier = "f16"


# --------------------------------------------------------------------------- raw faiss
class Faiss(Engine):
    """faiss IndexHNSWFlat (inner product); filters as IDSelectorBitmap built once per filter."""

    name = "faiss"
    label = "faiss HNSWFlat"
    notes = "metadata lives outside faiss (numpy arrays); filter bitmaps precomputed once"

    def version(self) -> str:
        import faiss

        return str(faiss.__version__)

    def build(self, root: Path, ds: Dataset, batch: int) -> dict[str, float]:
        import faiss

        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        index = faiss.IndexHNSWFlat(ds.dim, M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        for lo, hi in _batches(ds.n, batch):
            index.add(np.ascontiguousarray(ds.vectors[lo:hi]))
        insert = time.perf_counter() - t0
        faiss.write_index(index, str(root / "index.faiss"))
        np.save(root / "meta.npy", np.stack([ds.sel10, ds.sel100]))
        return {"insert_s": insert, "build_s": time.perf_counter() - t0}

    def open(self, root: Path, dim: int) -> None:
        import faiss

        self.faiss = faiss
        self.index = faiss.read_index(str(root / "index.faiss"))
        self.ef = 64
        self.params: dict[str, Any] = {}

    def prepare_filters(self, ds: Dataset) -> None:
        for which, mask in (("f10", ds.sel10 == F10_VALUE), ("f1", ds.sel100 == F1_VALUE)):
            bits = np.packbits(mask.astype(np.uint8), bitorder="little")
            sel = self.faiss.IDSelectorBitmap(len(mask), self.faiss.swig_ptr(bits))
            self.params[which] = (sel, bits)

    def search(self, q: np.ndarray) -> list[int]:
        self.index.hnsw.efSearch = self.ef
        _, ids = self.index.search(q.reshape(1, -1), K)
        return [int(i) for i in ids[0] if i >= 0]

    def search_filtered(self, q: np.ndarray, which: str) -> list[int]:
        sel, _bits = self.params[which]
        params = self.faiss.SearchParametersHNSW()
        params.sel = sel
        params.efSearch = self.ef
        _, ids = self.index.search(q.reshape(1, -1), K, params=params)
        return [int(i) for i in ids[0] if i >= 0]

    def close(self) -> None:
        self.index = None


# --------------------------------------------------------------------------- hnswlib
class Hnswlib(Engine):
    """hnswlib (space ip); filters as a Python callback over a precomputed mask."""

    name = "hnswlib"
    label = "hnswlib"
    notes = "metadata outside the index; filter = Python callback (list.__getitem__)"

    def version(self) -> str:
        from importlib.metadata import version

        import hnswlib  # noqa: F401

        return version("hnswlib")

    def build(self, root: Path, ds: Dataset, batch: int) -> dict[str, float]:
        import hnswlib

        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        index = hnswlib.Index(space="ip", dim=ds.dim)
        index.init_index(max_elements=ds.n, ef_construction=EF_CONSTRUCTION, M=M, random_seed=100)
        index.set_num_threads(1)
        for lo, hi in _batches(ds.n, batch):
            index.add_items(ds.vectors[lo:hi], np.arange(lo, hi), num_threads=1)
        insert = time.perf_counter() - t0
        index.save_index(str(root / "index.bin"))
        return {"insert_s": insert, "build_s": time.perf_counter() - t0}

    def open(self, root: Path, dim: int) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=dim)
        self.index.load_index(str(root / "index.bin"))
        self.index.set_num_threads(1)
        self.ef = 64
        self.filters: dict[str, Callable[[int], bool]] = {}

    def prepare_filters(self, ds: Dataset) -> None:
        self.filters["f10"] = (ds.sel10 == F10_VALUE).tolist().__getitem__
        self.filters["f1"] = (ds.sel100 == F1_VALUE).tolist().__getitem__

    def set_ef(self, ef: int) -> None:
        self.ef = ef
        self.index.set_ef(ef)

    def search(self, q: np.ndarray) -> list[int]:
        labels, _ = self.index.knn_query(q, k=K, num_threads=1)
        return [int(i) for i in labels[0]]

    def search_filtered(self, q: np.ndarray, which: str) -> list[int]:
        labels, _ = self.index.knn_query(q, k=K, num_threads=1, filter=self.filters[which])
        return [int(i) for i in labels[0]]


# --------------------------------------------------------------------------- Chroma
class Chroma(Engine):
    """chromadb.PersistentClient, hnsw space cosine, max_neighbors 16, num_threads 1."""

    name = "chroma"
    label = "Chroma (persistent)"

    def version(self) -> str:
        import chromadb

        return str(chromadb.__version__)

    def _client(self, root: Path) -> Any:
        import chromadb
        from chromadb.config import Settings

        return chromadb.PersistentClient(path=str(root), settings=Settings(anonymized_telemetry=False))

    def build(self, root: Path, ds: Dataset, batch: int) -> dict[str, float]:
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        client = self._client(root)
        col = client.create_collection(
            "bench",
            configuration={
                "hnsw": {
                    "space": "cosine",
                    "ef_construction": EF_CONSTRUCTION,
                    "max_neighbors": M,
                    "ef_search": 64,
                    "num_threads": 1,
                }
            },
            embedding_function=None,
        )
        step = min(batch, client.get_max_batch_size())
        insert = 0.0
        for lo, hi in _batches(ds.n, step):
            t = time.perf_counter()
            col.add(
                ids=[str(i) for i in range(lo, hi)],
                embeddings=ds.vectors[lo:hi],
                metadatas=_metas(ds, lo, hi),
            )
            insert += time.perf_counter() - t
        if col.count() != ds.n:
            raise RuntimeError(f"chroma holds {col.count()} of {ds.n}")
        del col, client
        return {"insert_s": insert, "build_s": time.perf_counter() - t0}

    def open(self, root: Path, dim: int) -> None:
        self.root = root
        self.client = self._client(root)
        self.col = self.client.get_collection("bench", embedding_function=None)
        self.ef = int(self.col.configuration["hnsw"]["ef_search"])

    def set_ef(self, ef: int) -> None:
        """Persist the new ef_search, then reload: a loaded index keeps the ef it was loaded with."""
        if ef == self.ef:
            return
        from chromadb.api.client import SharedSystemClient

        self.col.modify(configuration={"hnsw": {"ef_search": ef}})
        self.col = self.client = None
        SharedSystemClient.clear_system_cache()
        self.client = self._client(self.root)
        self.col = self.client.get_collection("bench", embedding_function=None)
        self.ef = ef

    def search(self, q: np.ndarray) -> list[int]:
        res = self.col.query(query_embeddings=[q], n_results=K, include=["metadatas", "distances"])
        return [int(i) for i in res["ids"][0]]

    def search_filtered(self, q: np.ndarray, which: str) -> list[int]:
        where = {"sel10": F10_VALUE} if which == "f10" else {"sel100": F1_VALUE}
        res = self.col.query(
            query_embeddings=[q], n_results=K, where=where, include=["metadatas", "distances"]
        )
        return [int(i) for i in res["ids"][0]]

    def close(self) -> None:
        self.col = None
        self.client = None


# --------------------------------------------------------------------------- Qdrant local
class QdrantLocal(Engine):
    """qdrant_client.QdrantClient(path=...): the embedded local mode (exact numpy scan, no HNSW)."""

    name = "qdrant-local"
    label = "Qdrant local mode"
    knobs = (0,)
    knob_name = "exact"
    notes = "local mode has no HNSW: every search scans all points exactly (recall 1.0)"

    def version(self) -> str:
        from importlib.metadata import version

        import qdrant_client
        import qdrant_client.local.qdrant_local  # noqa: F401

        return version("qdrant-client")

    def build(self, root: Path, ds: Dataset, batch: int) -> dict[str, float]:
        from qdrant_client import QdrantClient, models

        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = QdrantClient(path=str(root))
            client.create_collection(
                "bench", vectors_config=models.VectorParams(size=ds.dim, distance=models.Distance.COSINE)
            )
            insert = 0.0
            for lo, hi in _batches(ds.n, batch):
                t = time.perf_counter()
                client.upsert(
                    "bench",
                    points=models.Batch(
                        ids=list(range(lo, hi)),
                        vectors=ds.vectors[lo:hi].tolist(),
                        payloads=_metas(ds, lo, hi),
                    ),
                )
                insert += time.perf_counter() - t
            client.close()
        return {"insert_s": insert, "build_s": time.perf_counter() - t0}

    def open(self, root: Path, dim: int) -> None:
        from qdrant_client import QdrantClient, models

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.client = QdrantClient(path=str(root))
            self.client.get_collection("bench")
        self.filters = {
            "f10": models.Filter(
                must=[models.FieldCondition(key="sel10", match=models.MatchValue(value=F10_VALUE))]
            ),
            "f1": models.Filter(
                must=[models.FieldCondition(key="sel100", match=models.MatchValue(value=F1_VALUE))]
            ),
        }

    def search(self, q: np.ndarray) -> list[int]:
        res = self.client.query_points("bench", query=q, limit=K, with_payload=True)
        return [int(p.id) for p in res.points]

    def search_filtered(self, q: np.ndarray, which: str) -> list[int]:
        res = self.client.query_points(
            "bench", query=q, limit=K, query_filter=self.filters[which], with_payload=True
        )
        return [int(p.id) for p in res.points]

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
            self.client = None


# --------------------------------------------------------------------------- LanceDB
class Lance(Engine):
    """LanceDB embedded: HNSW without quantization (IVF_HNSW_FLAT, one partition, m 16, efC 200).

    The filter fields get BITMAP scalar indexes and filters run as prefilters. (IVF_HNSW_SQ was
    tried first: its scalar quantization capped recall@10 below 0.99.)
    """

    name = "lancedb"
    label = "LanceDB"
    notes = "IVF_HNSW_FLAT with 1 partition (plain HNSW); prefilters via BITMAP scalar indexes"

    def version(self) -> str:
        import lancedb

        return str(lancedb.__version__)

    def build(self, root: Path, ds: Dataset, batch: int) -> dict[str, float]:
        import lancedb
        import pyarrow as pa

        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        db = lancedb.connect(str(root))

        def table(lo: int, hi: int) -> pa.Table:
            flat = pa.array(ds.vectors[lo:hi].reshape(-1), type=pa.float32())
            return pa.table(
                {
                    "id": pa.array(np.arange(lo, hi, dtype=np.int64)),
                    "vector": pa.FixedSizeListArray.from_arrays(flat, ds.dim),
                    "sel10": pa.array(ds.sel10[lo:hi]),
                    "sel100": pa.array(ds.sel100[lo:hi]),
                }
            )

        insert = 0.0
        tbl = None
        for lo, hi in _batches(ds.n, batch):
            t = time.perf_counter()
            if tbl is None:
                tbl = db.create_table("bench", data=table(lo, hi))
            else:
                tbl.add(table(lo, hi))
            insert += time.perf_counter() - t
        assert tbl is not None
        from lancedb.index import HnswFlat

        cfg = HnswFlat(distance_type="cosine", num_partitions=1, m=M, ef_construction=EF_CONSTRUCTION)
        tbl.create_index("vector", config=cfg)
        tbl.create_scalar_index("sel10", index_type="BITMAP")
        tbl.create_scalar_index("sel100", index_type="BITMAP")
        return {"insert_s": insert, "build_s": time.perf_counter() - t0}

    def open(self, root: Path, dim: int) -> None:
        import lancedb

        self.db = lancedb.connect(str(root))
        self.tbl = self.db.open_table("bench")
        self.ef = 64

    def _query(self, q: np.ndarray) -> Any:
        return (
            self.tbl.search(q, vector_column_name="vector")
            .distance_type("cosine")
            .limit(K)
            .nprobes(1)
            .ef(self.ef)
            .select(["id", "sel10", "sel100", "_distance"])
        )

    def search(self, q: np.ndarray) -> list[int]:
        return [int(i) for i in self._query(q).to_arrow()["id"].to_pylist()]

    def search_filtered(self, q: np.ndarray, which: str) -> list[int]:
        where = f"sel10 = {F10_VALUE}" if which == "f10" else f"sel100 = {F1_VALUE}"
        return [int(i) for i in self._query(q).where(where, prefilter=True).to_arrow()["id"].to_pylist()]

    def close(self) -> None:
        self.tbl = None
        self.db = None


ENGINES: dict[str, type[Engine]] = {
    e.name: e for e in (Ours, OursF16, Faiss, Hnswlib, Chroma, QdrantLocal, Lance)
}
