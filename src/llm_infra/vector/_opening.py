"""Opening a store: the directory and its lock, the stored config, the index, the slot table.

The database is the source of truth. A missing database beside an existing manifest is an
error (never replaced by an empty store); a verified index is adopted and the rows it does not
cover are replayed as tail slots; an index that cannot be used is rebuilt from the database.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import orjson

from llm_infra.errors import ConfigError, VectorError
from llm_infra.fs._atomic import io_error
from llm_infra.vector import _codes, _files
from llm_infra.vector._config import Distance, VectorStoreConfig
from llm_infra.vector._indexer import Indexer, WorkerControl
from llm_infra.vector._payload import grow
from llm_infra.vector._persist import Loaded
from llm_infra.vector._points import DB_FILE, PointsTable
from llm_infra.vector._types import Progress

logger = logging.getLogger("llm_infra.vector")


def merge_config(
    stored: VectorStoreConfig, config: VectorStoreConfig | None, where: str
) -> VectorStoreConfig:
    """The config in force when a store created with ``stored`` is reopened with ``config``.

    Raises:
        ConfigError: ``vector.config_mismatch`` when collection, dimensions or distance differ.
        VectorError: ``vector.embedder_mismatch`` when both name an embedder model and they differ.
    """
    if config is None:
        return stored
    for name in ("collection", "dimensions", "distance"):
        if getattr(config, name) != getattr(stored, name):
            raise ConfigError(
                f"the store at {where} has {name}={getattr(stored, name)!s}; "
                f"the config says {getattr(config, name)!s}",
                key=name,
                code=_codes.CONFIG_MISMATCH,
            )
    if stored.embedder_model is not None:
        if config.embedder_model is None:
            return replace(config, embedder_model=stored.embedder_model)
        if config.embedder_model != stored.embedder_model:
            raise VectorError(
                f"the collection at {where} was built with embedder {stored.embedder_model!r}; "
                f"the config names {config.embedder_model!r}",
                operation="open",
                code=_codes.EMBEDDER_MISMATCH,
                remediation=[
                    "open it with the same embedder model",
                    "or create a new collection and re-embed the texts "
                    "(vectors of different models do not compare)",
                ],
            )
    return config


class Resources:
    """What a store owns outside Python's memory: released by ``close()`` or by the finalizer."""

    __slots__ = ("control", "lock", "points")

    def __init__(self, control: WorkerControl) -> None:
        self.control = control
        self.points: PointsTable | None = None
        self.lock: _files.StoreLock | None = None

    def release(self) -> None:
        """Stop the worker, close the database, drop the directory lock (idempotent)."""
        self.control.halt()
        if self.points is not None:
            self.points.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


class Opening(Indexer):
    """Loads a store from its directory (or creates it)."""

    _resources: Resources

    def _open(self, config: VectorStoreConfig | None, progress: Progress | None) -> None:
        if self._dir is not None:
            try:
                self._dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise io_error(exc, "create", self._dir) from exc
            self._resources.lock = _files.StoreLock(self._dir)
            if (self._dir / _files.MANIFEST).exists() and not (self._dir / DB_FILE).exists():
                raise VectorError(
                    f"the store at {self._dir} has an index and a manifest but no database "
                    f"({DB_FILE}); refusing to create an empty store over it",
                    operation="open",
                    code=_codes.STORAGE_MISSING,
                    remediation=[
                        f"restore {DB_FILE} (and its -wal file) from a backup or snapshot",
                        "or remove the directory to start an empty store",
                    ],
                )
        self._points = PointsTable(self._dir)
        self._resources.points = self._points
        stored = self._points.meta_get("config")
        if stored is None:
            if config is None:
                raise ConfigError(
                    f"no vector store at {self._path_text}; pass a VectorStoreConfig to create one",
                    code=_codes.CONFIG_REQUIRED,
                )
            cfg = config
        else:
            cfg = merge_config(VectorStoreConfig.from_dict(orjson.loads(stored)), config, self._path_text)
        if stored is None or config is not None:
            self._points.meta_set("config", orjson.dumps(cfg.to_dict()).decode())
        self._cfg = cfg
        self._dims = cfg.dimensions
        self._distance = cfg.distance
        self._cosine = cfg.distance is Distance.COSINE
        self._ip = cfg.distance is not Distance.L2
        self._points.set_synchronous(cfg.durability == "full")
        self._reset_memory()
        self._damage = []
        manifest = _files.read_manifest(self._dir) if self._dir is not None else None
        loaded = self._load_index(manifest) if manifest is not None else None
        if manifest is not None and loaded is not None:
            self._derived = {manifest.index.name} | ({manifest.vectors.name} if manifest.vectors else set())
        if self._dir is not None:
            self._check_database(manifest, None if loaded is None else loaded[1])
        self._load_rows(loaded, manifest, progress)
        if self._dir is not None:
            _files.cleanup(self._dir, self._derived)

    def _load_rows(
        self,
        loaded: Loaded | None,
        manifest: _files.Manifest | None,
        progress: Progress | None,
    ) -> None:
        rows = self._points.execute("SELECT label, id, metadata FROM points ORDER BY label", (), "open")
        live_labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        top = max(self._points.sequence(), int(live_labels[-1]) if rows else 0)
        if manifest is not None:
            top = max(top, manifest.max_label)
        self._next_label = top + 1
        tail_rows = np.arange(len(rows))
        found = np.zeros(0, np.bool_)
        pos = np.zeros(0, np.int64)
        if loaded is not None:
            idx_labels = loaded[1]
            g = idx_labels.shape[0]
            pos = np.searchsorted(live_labels, idx_labels)
            pos_c = np.minimum(pos, max(len(rows) - 1, 0))
            found = (pos < len(rows)) & (live_labels[pos_c] == idx_labels) if rows else np.zeros(g, np.bool_)
            in_index = np.zeros(len(rows), dtype=np.bool_)
            in_index[pos[found]] = True
            tail_rows = np.flatnonzero(~in_index)
            if tail_rows.size and g and live_labels[tail_rows].min() <= idx_labels.max():
                logger.warning("vector store %s: index does not match the database; rebuilding", self._dir)
                loaded = None
                tail_rows = np.arange(len(rows))
        if loaded is not None:
            self._adopt_index(loaded, rows, found, pos)
        rebuild = loaded is None and bool(rows)
        if tail_rows.size:
            labels = live_labels[tail_rows]
            if loaded is not None:
                vrows = self._points.execute(
                    "SELECT vector FROM points WHERE label > ? ORDER BY label",
                    (int(loaded[1].max(initial=0)),),
                )
            else:
                vrows = self._points.execute("SELECT vector FROM points ORDER BY label")
            mat = self._points.decode_vectors([r[0] for r in vrows], self._dims)
            if mat.shape[0] != labels.shape[0]:  # pragma: no cover - rows changed under an exclusive lock
                raise VectorError("the database changed while opening", operation="open", code=_codes.STORAGE)
            picked = [rows[i] for i in tail_rows.tolist()]
            self._append_slots(
                labels, [r[1] for r in picked], [r[2] for r in picked], None, self._search_space(mat)
            )
        if rebuild:
            self._absorb(progress=progress)
            self._persist()

    def _adopt_index(
        self, loaded: Loaded, rows: list[tuple[int, str, str | None]], found: np.ndarray, pos: np.ndarray
    ) -> None:
        ann, idx_labels, vectors = loaded
        g = idx_labels.shape[0]
        self._labels = grow(self._labels, g, 0)
        self._alive = grow(self._alive, g, False)
        self._labels[:g] = idx_labels
        self._alive[:g] = found
        found_list = found.tolist()
        pos_list = pos.tolist()
        self._ids = [rows[p][1] if f else None for p, f in zip(pos_list, found_list, strict=True)]
        self._meta = [rows[p][2] if f else None for p, f in zip(pos_list, found_list, strict=True)]
        self._id_to_slot = {ident: slot for slot, ident in enumerate(self._ids) if ident is not None}
        self._ann = ann
        self._tier = ann.tier
        self._n = self._g = g
        self._dead_graph = g - int(found.sum())
        self._live = g - self._dead_graph
        view = ann.storage_view()
        base = view if view is not None else vectors
        assert base is not None  # one of them is set for a verified index
        self._slab.replace(base, np.empty((0, self._dims), np.float32))
        self._persisted_version = self._ann_version
        self._persisted_g = g
        self._payload_pending = bool(self._payload.fields)
