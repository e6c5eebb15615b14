"""The ANN graph: faiss HNSW for each compression tier, behind one small interface.

Internal faiss ids are the store's slots (vectors are added in slot order), so no id map is
needed on the search path. The index never sees a deleted slot's removal: searches pass an
``IDSelectorBitmap`` over the live (and filter-matching) slots instead.
"""

from __future__ import annotations

from typing import Any, Final, cast

import faiss as _faiss
import numpy as np

from llm_infra.vector._config import Distance

# faiss ships partial, inaccurate stubs; treat the SWIG module as untyped.
faiss = cast("Any", _faiss)

_TRAIN_SAMPLE: Final = 50_000


def metric_of(distance: Distance) -> int:
    """The faiss metric for a distance (cosine is inner product over normalized vectors)."""
    return int(faiss.METRIC_L2 if distance is Distance.L2 else faiss.METRIC_INNER_PRODUCT)


def estimate_bytes_per_vector(tier: str, dims: int, m: int) -> float:
    """Approximate resident bytes per vector of the graph plus its codes."""
    code = {"none": 4 * dims, "f16": 2 * dims, "int8": dims, "binary": (dims + 7) // 8}[tier]
    links = 2 * m * 4 * 1.07  # level 0 holds 2*M links; upper levels add ~1/(M-1)
    return code + links + 16


class AnnIndex:
    """A faiss HNSW index over slots ``[0, ntotal)`` for one tier."""

    __slots__ = ("_index", "_params", "binary", "center", "dims", "distance", "tier")

    def __init__(
        self, index: Any, tier: str, dims: int, distance: Distance, center: np.ndarray | None = None
    ) -> None:
        self._index = index
        self.tier = tier
        self.dims = dims
        self.distance = distance
        self.binary = tier == "binary"
        # Binary codes are the signs of (x - center): centring on the data's mean spreads the
        # bits evenly, which the raw signs of clustered/anisotropic embeddings do not.
        self.center = center
        self._params: dict[int, Any] = {}

    @classmethod
    def create(cls, tier: str, dims: int, distance: Distance, m: int, ef_construction: int) -> AnnIndex:
        """An empty index (not trained yet for int8)."""
        metric = metric_of(distance)
        index: Any
        if tier == "none":
            index = faiss.IndexHNSWFlat(dims, m, metric)
        elif tier == "f16":
            index = faiss.IndexHNSWSQ(dims, faiss.ScalarQuantizer.QT_fp16, m, metric)
        elif tier == "int8":
            index = faiss.IndexHNSWSQ(dims, faiss.ScalarQuantizer.QT_8bit, m, metric)
        else:
            index = faiss.IndexBinaryHNSW(((dims + 7) // 8) * 8, m)
        index.hnsw.efConstruction = ef_construction
        return cls(index, tier, dims, distance)

    @property
    def ntotal(self) -> int:
        """Vectors in the graph."""
        return int(self._index.ntotal)

    @property
    def is_trained(self) -> bool:
        """Whether ``add`` may be called (int8 and binary learn from a sample first)."""
        if self.binary:
            return self.center is not None
        return bool(self._index.is_trained)

    def train(self, sample: np.ndarray) -> None:
        """Learn the int8 quantizer's per-dimension ranges, or the binary codes' centre."""
        if sample.shape[0] > _TRAIN_SAMPLE:
            pick = np.random.default_rng(0).choice(sample.shape[0], _TRAIN_SAMPLE, replace=False)
            sample = sample[np.sort(pick)]
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        if self.binary:
            self.center = sample.mean(axis=0).astype(np.float32)
        else:
            self._index.train(sample)

    def header(self) -> dict[str, Any]:
        """What ``deserialize`` needs besides the faiss bytes."""
        return {"center": None if self.center is None else [float(v) for v in self.center]}

    def _codes(self, x: np.ndarray) -> np.ndarray:
        nbits = ((self.dims + 7) // 8) * 8
        bits = (x - self.center) > 0 if self.center is not None else x > 0
        if nbits != self.dims:
            bits = np.concatenate([bits, np.zeros((x.shape[0], nbits - self.dims), dtype=np.bool_)], axis=1)
        return np.packbits(bits, axis=1)

    def add(self, x: np.ndarray) -> None:
        """Append vectors (search space: normalized for cosine); their slots follow ``ntotal``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.binary:
            self._index.add(self._codes(x))
        else:
            self._index.add(x)

    def search(
        self, q: np.ndarray, k: int, ef: int, bitmap: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, slots)`` of the ``k`` nearest graph nodes, restricted to ``bitmap``.

        ``bitmap`` is a little-endian packed bit array over slots; ``-1`` pads missing results.
        """
        params = self._search_params(ef, bitmap)
        query = self._codes(q) if self.binary else q
        dist, slots = self._index.search(query, k, params=params)
        return dist[0], slots[0]

    def search_many(
        self, q: np.ndarray, k: int, ef: int, bitmap: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, slots)`` of shape ``(len(q), k)``: one faiss call for every query row."""
        params = self._search_params(ef, bitmap)
        query = self._codes(q) if self.binary else q
        dist, slots = self._index.search(query, k, params=params)
        return dist, slots

    def _search_params(self, ef: int, bitmap: np.ndarray | None) -> Any:
        if bitmap is None:
            params = self._params.get(ef)
            if params is None:
                params = faiss.SearchParametersHNSW()
                params.efSearch = ef
                self._params[ef] = params
            return params
        params = faiss.SearchParametersHNSW()
        params.efSearch = ef
        params.sel = faiss.IDSelectorBitmap(bitmap.shape[0], faiss.swig_ptr(bitmap))
        return params

    def storage_view(self) -> np.ndarray | None:
        """A zero-copy view of the float32 vectors of a ``none``-tier index (None otherwise).

        The view is invalidated by the next ``add``; callers take a new one after each add.
        """
        if self.tier != "none":
            return None
        n = self.ntotal
        if n == 0:
            return np.empty((0, self.dims), dtype=np.float32)
        storage = faiss.downcast_index(self._index.storage)
        view: np.ndarray = faiss.rev_swig_ptr(storage.get_xb(), n * self.dims).reshape(n, self.dims)
        return view

    def serialize(self) -> np.ndarray:
        """The index as bytes (a uint8 array)."""
        if self.binary:
            return np.asarray(faiss.serialize_index_binary(self._index))
        return np.asarray(faiss.serialize_index(self._index))

    @classmethod
    def deserialize(
        cls, data: np.ndarray, tier: str, dims: int, distance: Distance, header: dict[str, Any]
    ) -> AnnIndex:
        """Rebuild from ``serialize`` output; only ever called on checksum-verified bytes."""
        view = memoryview(data).cast("B")  # type: ignore[arg-type]  # ndarray is a buffer
        pos = 0

        def read(size: int) -> bytes:
            nonlocal pos
            chunk = view[pos : pos + size].tobytes()
            pos += len(chunk)
            return chunk

        # Streams the verified bytes into faiss without an intermediate full-size copy.
        reader = faiss.PyCallbackIOReader(read, 1 << 22)
        index = faiss.read_index_binary(reader) if tier == "binary" else faiss.read_index(reader)
        center = header.get("center")
        vec = None if center is None else np.asarray(center, dtype=np.float32)
        if vec is not None and vec.shape != (dims,):
            raise ValueError("bad binary centre")
        return cls(index, tier, dims, distance, vec)

    def memory_bytes(self) -> int:
        """Approximate resident bytes of the graph and codes."""
        n = self.ntotal
        return int(
            n * estimate_bytes_per_vector(self.tier, self.dims, int(self._index.hnsw.nb_neighbors(0)) // 2)
        )
