"""The filter planner and the search kernels over the slot table (no SQLite access).

A filter is evaluated on the payload index to a mask of live slots. Selective filters (at most
``max(exact_scan_min_rows, exact_scan_fraction * g)`` matches) are scanned exactly over the
matching rows; others search the graph with an ``IDSelectorBitmap`` and an ef raised with the
filter's selectivity, merged with the exact scan of the tail. Raw kernel outputs (inner
products or squared L2 distances) become higher-is-better scores in ``_to_scores`` only.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np

from llm_infra.vector._filters import MetadataFilter
from llm_infra.vector._slab import dense_scores, scores_by_idx_many
from llm_infra.vector._slots import SlotState

_FILTER_EF_CAP: Final = 4_096
_FILTER_EF_PIVOT: Final = 0.3
_FILTER_EF_BOOST_CAP: Final = 16.0
_BATCH_CELLS: Final = 1 << 22  # query x candidate scores computed per kernel call in a batch
Hits = tuple[np.ndarray, np.ndarray]
"""``(scores, slots)``, best first."""
_EMPTY_F: Final = np.empty(0, np.float32)
_EMPTY_I: Final = np.empty(0, np.int64)


def topk(scores: np.ndarray, slots: np.ndarray, k: int) -> Hits:
    """The ``k`` best of ``scores``/``slots``, best first (ties keep their order)."""
    if scores.shape[0] > k:
        part = np.argpartition(-scores, k - 1)[:k]
        scores, slots = scores[part], slots[part]
    order = np.argsort(-scores, kind="stable")
    return scores[order], slots[order]


def filter_key(flt: MetadataFilter) -> object:
    """A cache key for ``flt``, or None when it is not hashable.

    Filters are frozen dataclasses whose equality includes their class; the repr tells apart
    values that compare equal across types (``1``, ``1.0`` and ``True``).
    """
    try:
        key = (flt, repr(flt))
        hash(key)
    except (TypeError, RecursionError):
        return None
    return key


class Planner(SlotState):
    """Plans and runs searches over the slot table (callers hold the read lock)."""

    def _to_scores(self, raw: np.ndarray) -> np.ndarray:
        """Kernel output (inner products, or squared L2 distances) as higher-is-better scores."""
        return raw if self._ip else -np.sqrt(np.maximum(raw, 0.0))

    def _exact_limit(self) -> float:
        return max(float(self._cfg.exact_scan_min_rows), self._cfg.exact_scan_fraction * self._g)

    def _plan_locked(self, flt: MetadataFilter | None) -> Literal["exact", "graph"]:
        if self._g == 0:
            return "exact"
        if flt is None:
            return "graph"
        matched = int(np.count_nonzero(self._filter_mask(flt)[0]))
        return "exact" if matched <= self._exact_limit() else "graph"

    def _filter_mask(self, flt: MetadataFilter) -> tuple[np.ndarray, bool]:
        """The live slots matching ``flt``, and whether the payload index decided it (cacheable)."""
        n = self._n
        indexed = True
        try:
            mask = self._payload.evaluate(flt, n)
        except (TypeError, KeyError):
            # A user-defined MetadataFilter subclass: evaluate its own matches() per live row.
            indexed = False
            mask = np.zeros(n, dtype=np.bool_)
            for slot in np.flatnonzero(self._alive[:n]).tolist():
                mask[slot] = flt.matches(self._meta_dict(slot))
        mask &= self._alive[:n]
        return mask, indexed

    def _exact_scores(self, slots: np.ndarray, q: np.ndarray) -> np.ndarray:
        return self._to_scores(self._slab.scores(slots, q, not self._ip))

    def _cached_exact(self, key: object, q: np.ndarray, k: int) -> Hits | None:
        """The exact scan of a filter seen before at this write generation, or None."""
        gen = self._write_gen
        entry = self._scan_cache.get(key, gen)
        if entry is None:
            return None
        slots = entry.slots
        if not (self._g == 0 or slots.shape[0] <= self._exact_limit()):
            return None  # the graph grew since: re-plan
        rows = entry.rows
        if rows is None and entry.uses >= 2:
            gathered = np.ascontiguousarray(self._slab.gather(slots), dtype=np.float32)
            if self._scan_cache.attach_rows(key, gen, entry, gathered):
                rows = gathered
        if rows is None:
            return topk(self._exact_scores(slots, q), slots, k)
        return topk(self._to_scores(dense_scores(rows, q, not self._ip)), slots, k)

    def _filtered_ef(self, mask: np.ndarray, ef: int) -> tuple[np.ndarray, int, int]:
        """The graph bitmap of a filter mask, the ef raised with its selectivity, the graph matches."""
        g = self._g
        graph_matched = int(np.count_nonzero(mask[:g]))
        bitmap = np.packbits(mask[:g], bitorder="little")
        selectivity = max(graph_matched, 1) / g
        # Measured on 50k/100k x 384 (docs/vector.md): the ef a selector-filtered HNSW search
        # needs for recall 0.95 grows roughly with 1/selectivity^2 below ~30%.
        boost = min(_FILTER_EF_BOOST_CAP, (_FILTER_EF_PIVOT / selectivity) ** 2)
        return bitmap, max(ef, min(_FILTER_EF_CAP, math.ceil(ef * boost))), graph_matched

    def _unfiltered_bitmap(self, ef: int) -> tuple[np.ndarray | None, int]:
        """The liveness bitmap of the graph (None without tombstones) and the ef to use."""
        g = self._g
        if not self._dead_graph:
            return None, ef
        if self._alive_bits is None:
            self._alive_bits = np.packbits(self._alive[:g], bitorder="little")
        return self._alive_bits, math.ceil(ef * g / max(g - self._dead_graph, 1))

    def _graph_hits(
        self, q: np.ndarray, dist: np.ndarray, found: np.ndarray, want: int, mask: np.ndarray | None
    ) -> Hits:
        """Scores of one query's graph candidates (``-1`` padding removed).

        When the graph returned fewer than it holds (duplicates and tombstones can cut an HNSW
        search short), the graph's live (matching) slots are scanned exactly instead, so a
        search never silently returns too few results.
        """
        if found.shape[0] < want:
            g = self._g
            slots = np.flatnonzero(self._alive[:g] if mask is None else mask[:g])
            return self._exact_scores(slots, q).astype(np.float32, copy=False), slots
        if self._tier == "none":
            return self._to_scores(dist).astype(np.float32, copy=False), found
        return self._exact_scores(found, q).astype(np.float32, copy=False), found

    def _search_locked(self, q: np.ndarray, k: int, flt: MetadataFilter | None, ef: int) -> Hits:
        n, g = self._n, self._g
        empty = (_EMPTY_F, _EMPTY_I)
        if self._live == 0:
            return empty
        kk = k * self._cfg.compression.factor_for(self._tier)
        bitmap: np.ndarray | None
        mask: np.ndarray | None = None
        if flt is not None:
            key = filter_key(flt)
            if key is not None:
                hit = self._cached_exact(key, q, k)
                if hit is not None:
                    return hit
            mask, indexed = self._filter_mask(flt)
            matched = int(np.count_nonzero(mask))
            if matched == 0:
                return empty
            if g == 0 or matched <= self._exact_limit():
                slots = np.flatnonzero(mask)
                if key is not None and indexed:
                    self._scan_cache.put(key, self._write_gen, slots)
                return topk(self._exact_scores(slots, q), slots, k)
            bitmap, ef, graph_live = self._filtered_ef(mask, ef)
            tail: np.ndarray | None = np.flatnonzero(mask[g:]) + g
        else:
            bitmap, ef = self._unfiltered_bitmap(ef)
            graph_live = g - self._dead_graph
            tail = None if self._live - graph_live == 0 else np.arange(g, n, dtype=np.int64)
        parts_s: list[np.ndarray] = []
        parts_i: list[np.ndarray] = []
        if g:
            assert self._ann is not None
            want = min(kk, graph_live)
            dist, found = self._ann.search(q, min(kk, g), max(ef, kk), bitmap)
            if found.shape[0] and found[-1] < 0:
                ok = found >= 0
                found, dist = found[ok], dist[ok]
            if tail is None and self._tier == "none" and found.shape[0] >= want:
                # faiss returns the graph's hits best first: nothing to merge or re-rank.
                return self._to_scores(dist), found
            scores, found = self._graph_hits(q, dist, found, want, mask)
            parts_s.append(scores)
            parts_i.append(found)
        if tail is not None and tail.size:
            if flt is None:
                scores = self._to_scores(self._slab.scores_range(g, n, q, not self._ip))
                live = self._alive[g:n]
                if not live.all():
                    tail, scores = tail[live], scores[live]
            else:
                scores = self._exact_scores(tail, q)
            parts_s.append(scores.astype(np.float32, copy=False))
            parts_i.append(tail)
        if not parts_s:
            return empty
        if len(parts_s) == 1:
            return topk(parts_s[0], parts_i[0], k)
        return topk(np.concatenate(parts_s), np.concatenate(parts_i), k)

    # ------------------------------------------------------------------ batches

    def _exact_many(self, slots: np.ndarray, qs: np.ndarray, k: int) -> list[Hits]:
        """Exact top-k of every query over ``slots``: one kernel call per chunk of queries."""
        out: list[Hits] = []
        step = max(1, _BATCH_CELLS // max(slots.shape[0], 1))
        for lo in range(0, qs.shape[0], step):
            raw = scores_by_idx_many(self._slab, slots, qs[lo : lo + step], not self._ip)
            scores = self._to_scores(raw)
            out.extend(topk(row, slots, k) for row in scores)
        return out

    def _search_many_lists(
        self, qs: np.ndarray, k: int, flt: MetadataFilter | None, ef: int
    ) -> tuple[list[list[int]], list[list[float]]]:
        """``_search_many_locked`` as per-query ``(slots, scores)`` lists, best first.

        The common plan (no filter, every live vector in a float32 graph) converts the whole
        batch with one ``tolist()`` per matrix instead of per-query array work.
        """
        g = self._g
        if (
            flt is None
            and g
            and self._tier == "none"
            and self._live == g - self._dead_graph
            and self._ann is not None
        ):
            bitmap, ef = self._unfiltered_bitmap(ef)
            dist, found = self._ann.search_many(qs, min(k, g), max(ef, k), bitmap)
            if found.shape[1] >= min(k, self._live) and (found.size == 0 or int(found.min()) >= 0):
                return found.tolist(), self._to_scores(dist).tolist()
        hits = self._search_many_locked(qs, k, flt, ef)
        return [h[1].tolist() for h in hits], [h[0].tolist() for h in hits]

    def _search_many_locked(self, qs: np.ndarray, k: int, flt: MetadataFilter | None, ef: int) -> list[Hits]:
        """``_search_locked`` for every row of ``qs``, with one graph call for the whole batch."""
        m = qs.shape[0]
        n, g = self._n, self._g
        if self._live == 0:
            return [(_EMPTY_F, _EMPTY_I)] * m
        kk = k * self._cfg.compression.factor_for(self._tier)
        bitmap: np.ndarray | None
        if flt is not None:
            mask, _ = self._filter_mask(flt)
            matched = int(np.count_nonzero(mask))
            if matched == 0:
                return [(_EMPTY_F, _EMPTY_I)] * m
            if g == 0 or matched <= self._exact_limit():
                return self._exact_many(np.flatnonzero(mask), qs, k)
            bitmap, ef, graph_live = self._filtered_ef(mask, ef)
            tail: np.ndarray | None = np.flatnonzero(mask[g:]) + g
        else:
            mask = None
            bitmap, ef = self._unfiltered_bitmap(ef)
            graph_live = g - self._dead_graph
            tail = None if self._live - graph_live == 0 else np.arange(g, n, dtype=np.int64)
        graph: list[Hits] = []
        fallbacks: list[bool] = []
        if g:
            assert self._ann is not None
            want = min(kk, graph_live)
            dist, found = self._ann.search_many(qs, min(kk, g), max(ef, kk), bitmap)
            for i in range(m):
                row_slots, row_dist = found[i], dist[i]
                if row_slots.shape[0] and row_slots[-1] < 0:
                    ok = row_slots >= 0
                    row_slots, row_dist = row_slots[ok], row_dist[ok]
                fallbacks.append(row_slots.shape[0] < want)
                graph.append(self._graph_hits(qs[i], row_dist, row_slots, want, mask))
            if tail is None and self._tier == "none":
                # As in _search_locked: faiss order as is, unless a row fell back to a scan.
                return [
                    hits if hits[1].shape[0] >= want and not fell_back else topk(hits[0], hits[1], k)
                    for hits, fell_back in zip(graph, fallbacks, strict=True)
                ]
        out: list[Hits] = []
        tail_scores: np.ndarray | None = None
        if tail is not None and tail.size and flt is not None:
            tail_scores = self._to_scores(scores_by_idx_many(self._slab, tail, qs, not self._ip))
        live_tail = None if tail is None or flt is not None else self._alive[g:n]
        for i in range(m):
            parts_s = [graph[i][0]] if graph else []
            parts_i = [graph[i][1]] if graph else []
            if tail is not None and tail.size:
                if tail_scores is not None:
                    parts_s.append(tail_scores[i])
                    parts_i.append(tail)
                else:
                    row = self._to_scores(self._slab.scores_range(g, n, qs[i], not self._ip))
                    if live_tail is not None and not live_tail.all():
                        parts_s.append(row[live_tail].astype(np.float32, copy=False))
                        parts_i.append(tail[live_tail])
                    else:
                        parts_s.append(row.astype(np.float32, copy=False))
                        parts_i.append(tail)
            if not parts_s:
                out.append((_EMPTY_F, _EMPTY_I))
            elif len(parts_s) == 1:
                out.append(topk(parts_s[0], parts_i[0], k))
            else:
                out.append(topk(np.concatenate(parts_s), np.concatenate(parts_i), k))
        return out
