"""The background indexer: absorbs tail slots into the graph, compacts it, persists it.

The worker thread holds only a weak reference to its store (between steps it holds nothing),
so a store that is dropped without ``close()`` is garbage-collected; a ``weakref.finalize``
then stops and joins the worker and closes the database and the lock. The same finalizer runs
at interpreter exit for every store still open, so no indexer thread is inside faiss while the
interpreter tears down.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Final

import numpy as np

from llm_infra._internal._attrs import readonly
from llm_infra.errors import VectorError
from llm_infra.vector import _codes
from llm_infra.vector._ann import AnnIndex, estimate_bytes_per_vector
from llm_infra.vector._persist import Persistence
from llm_infra.vector._slab import VectorSlab
from llm_infra.vector._types import Progress

logger = logging.getLogger("llm_infra.vector")

_ABSORB_STEP: Final = 512
_FLUSH_STEP: Final = 2_048
_MIN_COMPACT: Final = 64
_AUTOPERSIST_MIN: Final = 50_000


class WorkerControl:
    """What the worker thread and the store's finalizer share (never the store itself)."""

    __slots__ = ("error", "stop", "thread", "wake")

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.stop = False
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def halt(self) -> None:
        """Stop the worker and wait for it (unless called from the worker itself)."""
        thread = self.thread
        self.stop = True
        self.wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.thread = None

    def stopped(self) -> bool:
        """The stop flag (for ``_absorb``/``_compact``)."""
        return self.stop


def _work(ref: weakref.ReferenceType[Indexer], control: WorkerControl) -> None:
    """The worker loop: wait for a wake-up, then do one round of work on the store (if alive)."""
    while True:
        control.wake.wait()
        control.wake.clear()
        if control.stop:
            return
        store = ref()
        if store is None:
            return
        try:
            store._index_round(control)
        except BaseException as exc:
            control.error = exc
            logger.exception("vector store %s: background indexing failed", store._path_text)
            return
        finally:
            del store


class Indexer(Persistence):
    """Graph maintenance: absorbing the tail, compaction, the background worker."""

    _worker_control: WorkerControl

    worker_error: readonly[BaseException | None] = readonly(
        "_worker_control.error", "The exception that stopped the background indexer, if any."
    )

    def _index_round(self, control: WorkerControl) -> None:
        self._absorb(stop=control.stopped)
        if control.stop:
            return
        if self._needs_compaction():
            self._compact(stop=control.stopped)
        if self._dir is not None and self._g - self._persisted_g >= max(_AUTOPERSIST_MIN, self._persisted_g):
            # Bound what a crash makes the next open replay (and re-index).
            self._persist()

    def _kick(self) -> None:
        control = self._worker_control
        if self._closed and control.thread is None:
            return
        if control.thread is None or not control.thread.is_alive():
            control.stop = False
            control.thread = threading.Thread(
                target=_work, args=(weakref.ref(self), control), name="llm-infra-vector-indexer", daemon=True
            )
            control.thread.start()
        control.wake.set()

    def _stop_worker(self) -> None:
        self._worker_control.halt()

    def wait_indexed(self, timeout: float | None = None) -> bool:
        """Block until the background indexer has absorbed every pending vector.

        Returns False on timeout (or when the indexer stopped with ``worker_error``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._g < self._n:
            if self.worker_error is not None or (deadline is not None and time.monotonic() > deadline):
                return False
            self._kick()
            time.sleep(0.005)
        return True

    def _resolve_tier(self, count: int) -> str:
        comp = self._cfg.compression
        if comp.tier != "auto":
            return comp.tier
        assert comp.memory_budget_mb is not None
        budget = comp.memory_budget_mb * (1 << 20)
        for tier in ("none", "f16", "int8", "binary"):
            if estimate_bytes_per_vector(tier, self._dims, self._cfg.hnsw.m) * max(count, 1) <= budget:
                return tier
        logger.warning("vector store %s: even the binary tier exceeds the memory budget", self._path_text)
        return "binary"

    def _new_ann(self, count: int, sample: Callable[[], np.ndarray]) -> AnnIndex:
        tier = self._resolve_tier(count)
        ann = AnnIndex.create(
            tier, self._dims, self._distance, self._cfg.hnsw.m, self._cfg.hnsw.ef_construction
        )
        if not ann.is_trained:
            with self._rw.read:
                rows = np.array(sample())
            ann.train(rows)
        return ann

    def _absorb(self, *, progress: Progress | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Move tail slots into the graph in small steps (MemoryError halves the step)."""
        step = _ABSORB_STEP if stop is not None else _FLUSH_STEP
        with self._index_mutex:
            total = self._n
            while stop is None or not stop():
                with self._rw.read:
                    g, n = self._g, self._n
                    if g >= n:
                        break
                    hi = min(n, g + step)
                    rows = self._slab.rows(g, hi)
                    ann = self._ann
                ann_new = ann is None
                if ann is None:
                    ann = self._new_ann(self._live, partial(self._slab.rows, g, n))
                try:
                    self._absorb_step(ann, ann_new, rows, g, hi)
                except MemoryError:
                    if hi - g <= 1:
                        raise VectorError(
                            "out of memory while indexing, even one vector at a time",
                            operation="index",
                            code=_codes.OUT_OF_MEMORY,
                        ) from None
                    step = max(1, (hi - g) // 2)
                    logger.warning(
                        "vector store %s: MemoryError while indexing; step now %d", self._path_text, step
                    )
                    continue
                if progress is not None:
                    progress(hi, max(total, hi))

    def _absorb_step(self, ann: AnnIndex, ann_new: bool, rows: np.ndarray, g: int, hi: int) -> None:
        with self._rw.write:
            before = ann.ntotal
            try:
                ann.add(rows)
            except MemoryError:
                if ann.ntotal != before:
                    self._drop_graph_locked()
                raise
            if ann_new:
                self._ann = ann
                self._tier = ann.tier
            self._g = hi
            self._ann_version += 1
            self._dead_graph += int(np.count_nonzero(~self._alive[g:hi]))
            self._alive_bits = None
            view = ann.storage_view()
            if view is not None:
                self._slab.rebase(view)

    def _drop_graph_locked(self) -> None:
        """Forget the graph (caller holds the write lock); every slot becomes tail."""
        self._slab.materialize()
        self._write_gen += 1
        self._ann = None
        self._g = 0
        self._dead_graph = 0
        self._alive_bits = None
        self._ann_version += 1

    def _needs_compaction(self) -> bool:
        g = self._g
        return g >= _MIN_COMPACT and self._dead_graph > self._cfg.compaction_threshold * g

    def _maybe_compact_locked(self) -> None:
        if self._cfg.background_indexing and self._needs_compaction():
            self._worker_control.wake.set()

    def _compact(self, progress: Progress | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Rebuild the graph over the live slots; searches continue on the old one meanwhile.

        ``stop`` (the background indexer's) abandons the new graph, leaving the old one in place.
        """
        with self._index_mutex:
            with self._rw.read:
                g0 = self._g
                keep = np.flatnonzero(self._alive[:g0])
                vecs = self._slab.gather(keep)
            ann = self._new_ann(keep.shape[0], lambda: vecs) if keep.size else None
            if ann is not None:
                for lo in range(0, keep.shape[0], _FLUSH_STEP):
                    if stop is not None and stop():
                        return
                    ann.add(vecs[lo : lo + _FLUSH_STEP])
                    if progress is not None:
                        progress(min(lo + _FLUSH_STEP, keep.shape[0]), keep.shape[0])
            with self._rw.write:
                n = self._n
                order = np.concatenate([keep, np.arange(g0, n, dtype=np.int64)])
                tail = self._slab.rows(g0, n).copy()
                self._reorder(order, int(keep.shape[0]))
                self._ann = ann
                if ann is not None:
                    self._tier = ann.tier
                view = None if ann is None else ann.storage_view()
                self._slab = self._new_slab(view if view is not None else vecs, tail, ann is None)
                if not self._payload_pending:
                    self._payload.rebuild([self._meta_plain(slot) for slot in range(self._n)])
                self._ann_version += 1

    def _new_slab(self, base: np.ndarray, tail: np.ndarray, no_graph: bool) -> VectorSlab:
        slab = VectorSlab(self._dims)
        slab.replace(base, tail)
        if no_graph:
            slab.replace(np.empty((0, self._dims), np.float32), tail)
        return slab
