"""In-memory building blocks of the local engine: a readers-writer lock and the vector slab."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import faiss as _faiss
import numpy as np

# faiss ships partial, inaccurate stubs; treat the SWIG module as untyped.
faiss = cast("Any", _faiss)


class _Guard:
    """``with lock.read:`` / ``with lock.write:``: one side of the lock as a context manager."""

    __slots__ = ("_acquire", "_release")

    def __init__(self, acquire: Callable[[], None], release: Callable[[], None]) -> None:
        self._acquire = acquire
        self._release = release

    def __enter__(self) -> None:
        self._acquire()

    def __exit__(self, *exc: object) -> None:
        self._release()


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no writer starvation)."""

    __slots__ = ("_cond", "_readers", "_writer", "_writers_waiting", "read", "write")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self.read = _Guard(self.acquire_read, self.release_read)
        self.write = _Guard(self.acquire_write, self.release_write)

    def acquire_read(self) -> None:
        """Enter as a reader."""
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        """Leave as a reader."""
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self) -> None:
        """Enter as the writer."""
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True

    def release_write(self) -> None:
        """Leave as the writer."""
        with self._cond:
            self._writer = False
            self._cond.notify_all()


class VectorSlab:
    """Search-space vectors of slots ``[0, n)``: ``base`` rows ``[0, B)`` then RAM rows ``[B, n)``.

    ``base`` is the faiss storage of a float32 graph (zero copy), a memory-mapped vectors file
    (compressed tiers on disk) or empty; the RAM part grows by doubling and is consumed from
    the front (``rebase``) as the graph absorbs it, so appends and absorption stay O(1) amortized.
    """

    __slots__ = ("_buf", "_len", "_off", "base", "dims")

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.base: np.ndarray = np.empty((0, dims), dtype=np.float32)
        self._buf = np.empty((64, dims), dtype=np.float32)
        self._off = 0
        self._len = 0

    @property
    def n_base(self) -> int:
        """Rows held by ``base``."""
        return int(self.base.shape[0])

    @property
    def n(self) -> int:
        """All rows."""
        return self.n_base + self._len

    def ram_bytes(self) -> int:
        """Bytes of the RAM part (capacity)."""
        return int(self._buf.nbytes)

    def append(self, rows: np.ndarray) -> None:
        """Add rows after the last one."""
        need = self._off + self._len + rows.shape[0]
        if need > self._buf.shape[0]:
            live = self._buf[self._off : self._off + self._len]
            cap = max(64, 2 * (self._len + rows.shape[0]))
            buf = np.empty((cap, self.dims), dtype=np.float32)
            buf[: self._len] = live
            self._buf, self._off = buf, 0
        start = self._off + self._len
        self._buf[start : start + rows.shape[0]] = rows
        self._len += rows.shape[0]

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``[lo, hi)``: a view when they lie in one part, else a copy."""
        b = self.n_base
        if lo >= b:
            return self._buf[self._off + lo - b : self._off + hi - b]
        if hi <= b:
            return self.base[lo:hi]
        return np.concatenate([self.base[lo:b], self._buf[self._off : self._off + hi - b]])

    def gather(self, slots: np.ndarray) -> np.ndarray:
        """Rows at ``slots`` (any order), as a new array."""
        b = self.n_base
        if slots.size == 0:
            return np.empty((0, self.dims), dtype=np.float32)
        if b == 0:
            picked: np.ndarray = self._buf[slots + self._off]
            return picked
        lo, hi = int(slots.min()), int(slots.max())
        if hi < b:
            out: np.ndarray = np.asarray(self.base[slots], dtype=np.float32)
            return out
        if lo >= b:
            ram: np.ndarray = self._buf[slots + (self._off - b)]
            return ram
        out = np.empty((slots.shape[0], self.dims), dtype=np.float32)
        in_base = slots < b
        out[in_base] = self.base[slots[in_base]]
        out[~in_base] = self._buf[slots[~in_base] + (self._off - b)]
        return out

    def ram(self) -> np.ndarray:
        """The RAM rows (``[n_base, n)``) as a contiguous view."""
        return self._buf[self._off : self._off + self._len]

    def rebase(self, base: np.ndarray) -> None:
        """Let ``base`` (covering rows ``[0, len(base))``) replace the front of the RAM part."""
        consumed = base.shape[0] - self.n_base
        if consumed < 0 or consumed > self._len:
            raise ValueError("rebase must extend the base within the existing rows")
        self._off += consumed
        self._len -= consumed
        self.base = base
        if self._len == 0:
            self._off = 0
        elif self._off > self._buf.shape[0] // 2:
            self._buf = self._buf[self._off : self._off + self._len].copy()
            self._off = 0

    def materialize(self) -> None:
        """Copy ``base`` into RAM (before the object backing it goes away)."""
        if self.n_base == 0:
            return
        ram = self._buf[self._off : self._off + self._len]
        merged = np.empty((self.n_base + self._len, self.dims), dtype=np.float32)
        merged[: self.n_base] = self.base
        merged[self.n_base :] = ram
        self.base = np.empty((0, self.dims), dtype=np.float32)
        self._buf, self._off, self._len = merged, 0, merged.shape[0]

    def replace(self, base: np.ndarray, ram: np.ndarray) -> None:
        """Start over with a new base and RAM part."""
        self.base = base
        self._buf = np.array(ram, dtype=np.float32, copy=True).reshape(-1, self.dims)
        self._off = 0
        self._len = self._buf.shape[0]

    def _by_idx(self, metric_l2: bool, slots: np.ndarray, q: np.ndarray) -> np.ndarray:
        out = np.empty(slots.shape[0], dtype=np.float32)
        if slots.size == 0:
            return out
        in_base = slots < self.n_base
        if in_base.all():
            rows, ids = self.base, slots
        elif not in_base.any():
            rows, ids = self._buf, slots + (self._off - self.n_base)
        else:
            out[in_base] = self._by_idx(metric_l2, slots[in_base], q)
            out[~in_base] = self._by_idx(metric_l2, slots[~in_base], q)
            return out
        _scores_by_idx(out, rows, np.ascontiguousarray(ids, dtype=np.int64), q, metric_l2)
        return out

    def scores(self, slots: np.ndarray, q: np.ndarray, metric_l2: bool) -> np.ndarray:
        """Inner products (or squared L2 distances) of ``q`` with the rows at ``slots``.

        Computed by faiss's SIMD kernels straight from the slab (no gather copy, no BLAS
        thread pool), which keeps selective exact scans fast and predictable.
        """
        q = np.ascontiguousarray(q, dtype=np.float32).reshape(-1)
        return self._by_idx(metric_l2, slots, q)

    def scores_range(self, lo: int, hi: int, q: np.ndarray, metric_l2: bool) -> np.ndarray:
        """Like ``scores`` for the contiguous rows ``[lo, hi)`` of the RAM part (``lo >= n_base``)."""
        rows = self._buf[self._off + lo - self.n_base : self._off + hi - self.n_base]
        q = np.ascontiguousarray(q, dtype=np.float32).reshape(-1)
        out = np.empty(rows.shape[0], dtype=np.float32)
        fn = faiss.fvec_L2sqr_ny if metric_l2 else faiss.fvec_inner_products_ny
        if rows.shape[0]:
            fn(faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(rows), self.dims, rows.shape[0])
        return out


def _scores_by_idx(
    out: np.ndarray, rows: np.ndarray, ids: np.ndarray, q: np.ndarray, metric_l2: bool
) -> None:
    """faiss's per-row kernel: ``out[i]`` = the score of ``q`` with ``rows[ids[i]]`` (int64 ``ids``)."""
    fn = faiss.fvec_L2sqr_by_idx if metric_l2 else faiss.fvec_inner_products_by_idx
    ptr = faiss.swig_ptr
    fn(ptr(out), ptr(q), ptr(rows), ptr(ids), rows.shape[1], 1, ids.size)


def dense_scores(rows: np.ndarray, q: np.ndarray, metric_l2: bool) -> np.ndarray:
    """Like ``VectorSlab.scores`` over every row of the C-contiguous float32 ``rows``.

    Uses the same per-row kernel as ``VectorSlab.scores`` (with sequential ids), so a scan of a
    gathered copy returns bit-identical scores to the scattered scan it replaces.
    """
    q = np.ascontiguousarray(q, dtype=np.float32).reshape(-1)
    out = np.empty(rows.shape[0], dtype=np.float32)
    if rows.shape[0]:
        _scores_by_idx(out, rows, np.arange(rows.shape[0], dtype=np.int64), q, metric_l2)
    return out


def sq_norm(vector: np.ndarray) -> float:
    """The squared L2 norm of a contiguous float32 vector, by faiss's kernel.

    NaN when the vector holds a NaN, inf when it holds an inf or the sum overflows float32; no
    numpy floating-point warnings either way.
    """
    return float(faiss.fvec_norm_L2sqr(faiss.swig_ptr(vector), vector.shape[0]))


def scores_by_idx_many(
    slab: VectorSlab, slots: np.ndarray, queries: np.ndarray, metric_l2: bool
) -> np.ndarray:
    """``(len(queries), len(slots))`` inner products (or squared L2) of every query with ``slots``.

    One faiss call per slab part for all queries, with the kernel ``VectorSlab.scores`` uses,
    so each row is bit-identical to the single-query scan.
    """
    m = queries.shape[0]
    out = np.empty((m, slots.shape[0]), dtype=np.float32)
    if slots.size == 0 or m == 0:
        return out
    q = np.ascontiguousarray(queries, dtype=np.float32)
    fn = faiss.fvec_L2sqr_by_idx if metric_l2 else faiss.fvec_inner_products_by_idx
    b = slab.n_base
    in_base = slots < b
    for part_mask, data, shift in ((in_base, slab.base, 0), (~in_base, slab.ram(), -b)):
        if not part_mask.any():
            continue
        sel = slots[part_mask] + shift
        ids = np.ascontiguousarray(np.broadcast_to(sel, (m, sel.shape[0])), dtype=np.int64)
        part = np.empty((m, sel.shape[0]), dtype=np.float32)
        fn(
            faiss.swig_ptr(part),
            faiss.swig_ptr(q),
            faiss.swig_ptr(np.ascontiguousarray(data, dtype=np.float32)),
            faiss.swig_ptr(ids),
            slab.dims,
            m,
            sel.shape[0],
        )
        if part_mask.all():
            return part
        out[:, part_mask] = part
    return out


def sq_norms(rows: np.ndarray) -> np.ndarray:
    """Per-row ``sq_norm`` of a C-contiguous float32 matrix (the same kernel, one call)."""
    out = np.empty(rows.shape[0], dtype=np.float32)
    if rows.shape[0]:
        faiss.fvec_norms_L2sqr(faiss.swig_ptr(out), faiss.swig_ptr(rows), rows.shape[1], rows.shape[0])
    return out
