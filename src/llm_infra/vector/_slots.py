"""The slot table: the in-memory mirror of the points table that searches read.

A *slot* is a position in the arrays below; slots ``[0, g)`` are in the ANN graph, slots
``[g, n)`` are the *tail* (searched exactly until the graph absorbs them). A replaced or deleted
record leaves a tombstone (``alive`` False, id and metadata cleared). The table is mutated under
the store's write lock and read under its read lock; ``SlotState`` declares every field the
store's parts share (the planner, the indexer, persistence and the façade build on it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from llm_infra.vector._config import Distance, VectorStoreConfig
from llm_infra.vector._payload import PayloadIndex, grow
from llm_infra.vector._scan_cache import ScanCache
from llm_infra.vector._slab import RWLock, VectorSlab
from llm_infra.vector._types import SearchResult
from llm_infra.vector._validate import decode_metadata

if TYPE_CHECKING:
    from llm_infra.vector import _files
    from llm_infra.vector._ann import AnnIndex
    from llm_infra.vector._filters import MetadataFilter
    from llm_infra.vector._points import PointsTable

_SCALAR_TYPES: Final = frozenset((str, int, float, bool, type(None)))

MetaCell = str | dict[str, Any] | None
"""Per slot: None, the metadata's JSON text, or (once decoded) the dict of a *flat* object."""


def decode_meta(metas: list[MetaCell], slot: int, text: str, where: str | None = None) -> dict[str, Any]:
    """Decode a slot's metadata text; a flat result is kept decoded in ``metas`` for next time.

    Flat dicts (scalar values) are copied by ``dict.copy()``, so the cached one is never handed
    out; nested ones are re-parsed on each read (a shallow copy would share inner lists).
    Caller holds the store's read or write lock, and writers replace the entry itself, so a
    cached dict can never outlive the text it came from.
    """
    d = decode_metadata(text, where or f"slot {slot}")
    if all(type(v) in _SCALAR_TYPES for v in d.values()):
        metas[slot] = d
        return d.copy()
    return d


_new_result = object.__new__
_RESULT_SLOTS: Final[Any] = vars(SearchResult)  # the slot descriptors, looked up untyped
_set_id = _RESULT_SLOTS["id"].__set__
_set_score = _RESULT_SLOTS["score"].__set__
_set_metadata = _RESULT_SLOTS["metadata"].__set__
_set_vector = _RESULT_SLOTS["vector"].__set__


def build_results(
    ids: list[str | None],
    metas: list[MetaCell] | None,
    slots: list[int],
    scores: list[float],
) -> list[SearchResult]:
    """Build the hits (caller holds the read lock).

    The arguments are already valid, so this fills the frozen slots directly instead of going
    through the dataclass ``__init__`` (same type, same fields, ~2x cheaper per result).
    """
    out: list[SearchResult] = []
    append = out.append
    for s, sc in zip(slots, scores, strict=True):
        r = _new_result(SearchResult)
        _set_id(r, ids[s] or "")
        _set_score(r, sc)
        if metas is None or (m := metas[s]) is None:
            _set_metadata(r, None)
        elif type(m) is dict:
            _set_metadata(r, m.copy())
        else:
            _set_metadata(r, decode_meta(metas, s, m, ids[s]))  # type: ignore[arg-type]  # str here
        _set_vector(r, None)
        append(r)
    return out


def build_batch_results(
    ids: list[str | None],
    metas: list[MetaCell],
    slot_rows: list[list[int]],
    score_rows: list[list[float]],
) -> list[list[SearchResult]]:
    """``build_results`` for every row of a batch (caller holds the read lock)."""
    return [
        build_results(ids, metas, slots, scores) for slots, scores in zip(slot_rows, score_rows, strict=True)
    ]


class SlotState:
    """Every field of a store's in-memory state, and the slot-table operations on it."""

    # Set once at open.
    _cfg: VectorStoreConfig
    _dims: int
    _distance: Distance
    _cosine: bool
    _ip: bool
    _dir: Path | None
    _path_text: str
    _points: PointsTable
    _closed: bool
    # Locks: writes are serialized by _write_mutex; the graph is changed under _index_mutex;
    # _rw guards the slot table (many readers or one writer).
    _write_mutex: threading.RLock
    _index_mutex: threading.RLock
    _rw: RWLock
    # The slot table.
    _n: int
    _g: int
    _live: int
    _dead_graph: int
    _labels: np.ndarray
    _alive: np.ndarray
    _ids: list[str | None]
    _meta: list[MetaCell]
    _id_to_slot: dict[str, int]
    _slab: VectorSlab
    _ann: AnnIndex | None
    _ann_version: int
    _tier: str
    _payload: PayloadIndex
    _payload_pending: bool
    _alive_bits: np.ndarray | None
    _write_gen: int
    _scan_cache: ScanCache
    # Persistence.
    _persisted_version: int
    _persisted_g: int
    _generation: int
    _next_label: int
    _derived: set[str]
    _manifest: _files.Manifest | None
    _damage: list[str]

    def _reset_memory(self) -> None:
        self._n = 0
        self._g = 0
        self._live = 0
        self._dead_graph = 0
        self._labels = np.zeros(64, dtype=np.int64)
        self._alive = np.zeros(64, dtype=np.bool_)
        self._ids = []
        self._meta = []
        self._id_to_slot = {}
        self._slab = VectorSlab(self._dims)
        self._ann = None
        self._ann_version = 0
        self._tier = self._cfg.compression.tier if self._cfg.compression.tier != "auto" else "none"
        self._payload = PayloadIndex(self._cfg.indexed_fields)
        # Set at open: the payload index is built on first use (a filter or plan), from
        # ``_meta`` as it is then; writes skip it meanwhile.
        self._payload_pending = False
        self._alive_bits = None
        self._persisted_version = -1
        self._persisted_g = 0
        self._generation = 0
        self._next_label = 1
        self._derived = set()
        # Bumped by every change to slots, liveness or metadata (under the write lock); the
        # exact-scan cache is valid for one value.
        self._write_gen = 0
        self._scan_cache = ScanCache()

    def _reset_memory_keep_persisted(self) -> None:
        gen, next_label, derived = self._generation, self._next_label, self._derived
        self._reset_memory()
        self._generation, self._next_label, self._derived = gen, next_label, derived

    def _search_space(self, mat: np.ndarray) -> np.ndarray:
        """Vectors as the graph and scans see them (normalized for cosine)."""
        if not self._cosine:
            return np.ascontiguousarray(mat, dtype=np.float32)
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(mat / norms, dtype=np.float32)

    def _append_slots(
        self,
        labels: np.ndarray,
        ids: list[str],
        metas: list[str | None],
        dicts: list[dict[str, Any] | None] | None,
        vecs: np.ndarray,
    ) -> None:
        """Append slots (caller holds the write lock or is opening)."""
        start = self._n
        c = len(ids)
        end = start + c
        self._labels = grow(self._labels, end, 0)
        self._alive = grow(self._alive, end, False)
        self._labels[start:end] = labels
        self._alive[start:end] = True
        self._ids.extend(ids)
        self._meta.extend(metas)
        for j, ident in enumerate(ids):
            old = self._id_to_slot.get(ident)
            if old is not None:
                self._tombstone(old)
            self._id_to_slot[ident] = start + j
        self._slab.append(vecs)
        self._write_gen += 1
        if self._payload.fields and not self._payload_pending:
            self._payload.reserve(end)
            for j in range(c):
                if dicts is not None:
                    d = dicts[j]
                else:
                    text = metas[j]
                    d = None if text is None else decode_metadata(text, ids[j])
                if d is not None:
                    self._payload.set(start + j, d)
        self._n = end
        self._live += c

    def _tombstone(self, slot: int) -> None:
        self._write_gen += 1
        self._alive[slot] = False
        self._meta[slot] = None
        self._ids[slot] = None
        self._live -= 1
        if slot < self._g:
            self._dead_graph += 1
            self._alive_bits = None

    def _reorder(self, order: np.ndarray, g: int) -> None:
        """Keep the slots ``order`` (in that order), the first ``g`` of them in the graph."""
        self._write_gen += 1
        self._labels = self._labels[order]
        self._alive = self._alive[order]
        self._ids = [self._ids[i] for i in order.tolist()]
        self._meta = [self._meta[i] for i in order.tolist()]
        self._id_to_slot = {ident: s for s, ident in enumerate(self._ids) if ident is not None}
        self._g = g
        self._n = int(order.shape[0])
        self._dead_graph = int(np.count_nonzero(~self._alive[:g]))
        self._alive_bits = None

    def _meta_plain(self, slot: int) -> dict[str, Any] | None:
        """The slot's metadata for internal read-only use (not copied, not cached)."""
        m = self._meta[slot]
        if isinstance(m, str):
            return decode_metadata(m, self._ids[slot] or f"slot {slot}")
        return m

    def _meta_dict(self, slot: int) -> dict[str, Any] | None:
        """A private copy of the slot's metadata (callers may mutate it)."""
        m = self._meta[slot]
        if m is None:
            return None
        if type(m) is dict:
            return m.copy()
        return decode_meta(self._meta, slot, m, self._ids[slot])  # type: ignore[arg-type]  # str here

    def _prepare_payload(self, flt: MetadataFilter) -> None:
        """Build the payload index if the open deferred it, and index the filter's new fields."""
        missing = [f for f in flt.fields() if f not in self._payload.fields]
        if not missing and not self._payload_pending:
            return
        with self._rw.write:
            if self._payload_pending:
                self._payload.rebuild([self._meta_plain(slot) for slot in range(self._n)])
                self._payload_pending = False
            missing = [f for f in flt.fields() if f not in self._payload.fields]
            if missing:
                self._payload.ensure(missing, self._n, self._meta_plain)

    def _memory_bytes(self) -> int:
        """Approximate resident bytes of the slot table and the graph (caller holds the read lock)."""
        ann_bytes = 0 if self._ann is None else self._ann.memory_bytes()
        ids_bytes = sum(len(i) + 49 for i in self._id_to_slot) + 8 * len(self._ids)
        meta_bytes = 8 * len(self._meta) + sum(
            len(m) + 49 if type(m) is str else 64 + 104 * len(m) for m in self._meta if m is not None
        )
        return int(
            ann_bytes
            + self._slab.ram_bytes()
            + self._labels.nbytes
            + self._alive.nbytes
            + ids_bytes
            + meta_bytes
            + 100 * len(self._id_to_slot)
            + self._payload.memory_bytes()
            + self._scan_cache.nbytes
        )


Sample = Callable[[], np.ndarray]
"""Rows to train a quantizer on, fetched lazily."""
