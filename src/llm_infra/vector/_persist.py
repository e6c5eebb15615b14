"""Persistence of the derived state: the index bundle, the vectors file and the manifest.

``_persist`` writes ``index-<gen>.bin`` (and ``vectors-<gen>.bin`` for compressed tiers), then
the manifest, each through ``llm_infra.fs.atomic_writer``; the manifest also records how far
the database had come (label sequence, delete count, live rows). On open, ``_load_index``
checks every file against the manifest before its bytes reach faiss, and
``_check_database`` compares the database with the manifest: a database behind it (lost
commits, e.g. after WAL damage) is reported loudly, remembered in the database, and fails
``verify()`` until ``rebuild()`` accepts the database as it is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from llm_infra.vector import _files
from llm_infra.vector._ann import AnnIndex
from llm_infra.vector._planner import Planner

logger = logging.getLogger("llm_infra.vector")

DAMAGE_KEY: Final = "damage"
"""Meta key: the problems found when the database was behind its manifest (JSON list)."""

Loaded = tuple[AnnIndex, np.ndarray, np.ndarray | None]
"""A verified index: the graph, its slot labels, the full vectors of a compressed tier."""


class Persistence(Planner):
    """Writes and loads the derived files; checks the database against them."""

    def _index_params(self) -> dict[str, Any]:
        cfg = self._cfg
        return {
            "dimensions": cfg.dimensions,
            "distance": str(cfg.distance),
            "m": cfg.hnsw.m,
            "ef_construction": cfg.hnsw.ef_construction,
            "tier": cfg.compression.tier,
            "memory_budget_mb": cfg.compression.memory_budget_mb,
        }

    def _load_index(self, manifest: _files.Manifest) -> Loaded | None:
        """Load and verify the persisted index; None (after a warning) when it cannot be used."""
        assert self._dir is not None
        self._generation = manifest.generation
        if manifest.params != self._index_params():
            logger.info("vector store %s: index parameters changed; rebuilding the index", self._dir)
            return None
        path = self._dir / manifest.index.name
        try:
            data, digest = _files.sha256_file(path)
        except OSError as exc:
            logger.warning(
                "vector store %s: index file unreadable (%s); rebuilding from SQLite", self._dir, exc
            )
            return None
        if len(data) != manifest.index.size or digest != manifest.index.sha256:
            logger.warning(
                "vector store %s: index file %s failed its checksum; rebuilding from SQLite",
                self._dir,
                manifest.index.name,
            )
            return None
        try:
            header, labels, blob = _files.decode_index_bundle(data)
            if (
                header.get("tier") != manifest.tier
                or header.get("dimensions") != self._dims
                or labels.shape[0] != manifest.count
            ):
                raise ValueError("index header does not match the manifest")
            ann = AnnIndex.deserialize(blob, manifest.tier, self._dims, self._distance, header)
            if ann.ntotal != manifest.count:
                raise ValueError("index size does not match the manifest")
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            logger.warning(
                "vector store %s: index file unusable (%s); rebuilding from SQLite", self._dir, exc
            )
            return None
        vectors: np.ndarray | None = None
        if manifest.tier != "none":
            if manifest.vectors is None:
                return None
            vpath = self._dir / manifest.vectors.name
            try:
                size, vdigest = _files.sha256_stream(vpath)
                if size != manifest.vectors.size or vdigest != manifest.vectors.sha256:
                    raise ValueError("checksum mismatch")
                vectors = _files.map_vectors(vpath, manifest.count, self._dims)
            except (OSError, ValueError) as exc:
                logger.warning(
                    "vector store %s: vectors file unusable (%s); rebuilding from SQLite", self._dir, exc
                )
                return None
        return ann, labels, vectors

    def _check_database(self, manifest: _files.Manifest | None, index_labels: np.ndarray | None) -> None:
        """Compare the database with the manifest and the index; record what is missing."""
        stored = self._points.meta_get(DAMAGE_KEY)
        problems: list[str] = []
        if stored:
            try:
                problems.extend(str(p) for p in orjson.loads(stored))
            except orjson.JSONDecodeError:
                problems.append("an earlier open found the database behind its manifest")
        found = self._database_behind(manifest, index_labels)
        if found:
            logger.error(
                "vector store %s: THE DATABASE IS BEHIND ITS INDEX/MANIFEST; acknowledged writes are "
                "missing: %s. verify() fails until the store is restored from a snapshot or "
                "rebuild() accepts the database as it is.",
                self._path_text,
                "; ".join(found),
            )
            problems.extend(p for p in found if p not in problems)
            self._points.meta_set(DAMAGE_KEY, orjson.dumps(problems).decode())
        self._damage = problems

    def _database_behind(
        self, manifest: _files.Manifest | None, index_labels: np.ndarray | None
    ) -> list[str]:
        if manifest is None:
            return []
        seq = self._points.sequence()
        deletes = self._points.deletes()
        live = int(self._points.execute("SELECT count(*) FROM points")[0][0])
        found: list[str] = []
        expected_seq = max(manifest.seq or 0, manifest.max_label)
        if seq < expected_seq:
            lost = ""
            if index_labels is not None and index_labels.size:
                missing = int(np.count_nonzero(index_labels > seq))
                lost = f" ({missing} of them are in the index file)"
            found.append(
                f"labels {seq + 1}..{expected_seq} were written before the manifest but are not in the "
                f"database{lost}"
            )
        if manifest.deletes is not None and deletes < manifest.deletes:
            found.append(
                f"the database records {deletes} deletes, the manifest {manifest.deletes}: "
                "later deletes are lost"
            )
        if (
            not found
            and manifest.live is not None
            and manifest.seq == seq
            and manifest.deletes == deletes
            and live != manifest.live
        ):
            found.append(f"the database holds {live} rows, the manifest says {manifest.live}")
        return found

    def _persist(self) -> None:
        """Write the index bundle (and vectors file) and then the manifest, atomically."""
        directory = self._dir
        if directory is None:
            return
        with self._index_mutex:
            # The points lock keeps the database counters and the slot table at one point in time.
            with self._points.lock, self._rw.read:
                if self._ann is None or self._persisted_version == self._ann_version:
                    return
                version = self._ann_version
                g = self._g
                state = self._derived_state(self._ann)
            gen = self._generation + 1
            self._write_derived(directory, gen, *state)
            full = state[3]
            if full is not None:
                mapped = _files.map_vectors(directory / f"vectors-{gen}.bin", g, self._dims)
                with self._rw.write:
                    if self._g >= g and self._ann_version == version:
                        self._slab.replace(mapped, self._slab.rows(g, self._n).copy())
            self._generation = gen
            self._persisted_version = version
            self._persisted_g = g
            self._derived = {f"index-{gen}.bin"} | ({f"vectors-{gen}.bin"} if full is not None else set())
            _files.cleanup(directory, self._derived)

    def _write_derived(  # noqa: PLR0917 - private helper; every argument is required
        self,
        directory: Path,
        gen: int,
        tier: str,
        labels: np.ndarray,
        blob: np.ndarray,
        full: np.ndarray | None,
        extra: dict[str, Any],
        counters: tuple[int, int, int],
    ) -> None:
        header = {"tier": tier, "dimensions": self._dims, "count": int(labels.shape[0]), **extra}
        index_name = f"index-{gen}.bin"
        size, sha = _files.write_file(
            directory / index_name, _files.encode_index_bundle(header, labels, blob)
        )
        vectors_entry = None
        if full is not None:
            vname = f"vectors-{gen}.bin"
            vsize, vsha = _files.write_file(directory / vname, _files.vectors_chunks(full))
            vectors_entry = _files.FileEntry(vname, vsize, vsha)
        seq, deletes, live = counters
        manifest = _files.Manifest(
            generation=gen,
            index=_files.FileEntry(index_name, size, sha),
            vectors=vectors_entry,
            count=int(labels.shape[0]),
            max_label=int(labels.max(initial=0)),
            tier=tier,
            params=self._index_params(),
            config=self._cfg.to_dict(),
            seq=seq,
            deletes=deletes,
            live=live,
        )
        _files.write_manifest(directory, manifest)

    def _snapshot_derived(self, target: Path) -> None:
        """Write the current graph as generation 1 of the store at ``target`` (after its database)."""
        with self._index_mutex, self._points.lock, self._rw.read:
            if self._ann is None:
                return
            state = self._derived_state(self._ann)
        self._write_derived(target, 1, *state)

    def _derived_state(
        self, ann: AnnIndex
    ) -> tuple[str, np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any], tuple[int, int, int]]:
        """``_write_derived``'s arguments after the generation (caller holds the points and read locks)."""
        g = self._g
        labels = self._labels[:g].copy()
        blob = ann.serialize()
        extra = ann.header()
        tier = ann.tier
        full = self._slab.rows(0, g).copy() if tier != "none" else None
        counters = (self._points.sequence(), self._points.deletes(), self._live)
        return tier, labels, blob, full, extra, counters

    def _check_files(self, problems: list[str], checked: list[str]) -> None:
        """Verify the derived files named by the manifest against their checksums."""
        if self._dir is None:
            return
        manifest = _files.read_manifest(self._dir)
        if manifest is None:
            return
        checked.append("index file")
        for entry in (manifest.index, manifest.vectors):
            if entry is None:
                continue
            try:
                size, sha = _files.sha256_stream(self._dir / entry.name)
            except OSError as exc:
                problems.append(f"{entry.name}: {exc.strerror}")
                continue
            if size != entry.size or sha != entry.sha256:
                problems.append(f"{entry.name} failed its checksum")
