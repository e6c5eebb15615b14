"""``migrate(src, dst)``: copy a collection between any two backends, resumable and verified.

The source is read page by page (``scan``), each page is upserted into the destination, and
then a checkpoint (the source cursor and the count so far) is written atomically. Upserts are
idempotent, so a crash between a page and its checkpoint only repeats that page. At the end
the counts and a sample of vectors and metadata are compared.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from llm_infra.errors import ValidationError, VectorError
from llm_infra.fs import atomic_write
from llm_infra.vector import _backend_codes as codes
from llm_infra.vector._types import VectorRecord

Progress = Callable[[int, int], None]
"""``progress(copied, total)`` after each page."""

_CHECKPOINT_VERSION: Final = 1
_DB_FILE: Final = "store.sqlite"


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationReport:
    """What ``migrate`` did.

    Attributes:
        copied: records copied by this run.
        resumed_from: records already copied by an earlier, interrupted run.
        source_count: records in the source at the end.
        dest_count: records in the destination at the end.
        sampled: records compared vector by vector and metadata by metadata.
        problems: differences found (empty when ``ok``).
        elapsed: seconds this run took.

    .. versionadded:: 0.2.0
    """

    copied: int
    resumed_from: int
    source_count: int
    dest_count: int
    sampled: int
    problems: tuple[str, ...] = field(default=())
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when counts and the sample agree."""
        return not self.problems


def _local_scan(store: Any, cursor: str | None, limit: int) -> tuple[list[VectorRecord], str | None]:
    """Pages of an embedded store, read from its database file (read-only, by row label)."""
    path = str(getattr(store, "path", ":memory:"))
    if path == ":memory:":
        raise VectorError(
            "an in-memory embedded store cannot be a migration source; snapshot() it to a directory first",
            operation="migrate",
            code=codes.MIGRATION_UNSUPPORTED,
        )
    db = sqlite3.connect(f"file:{Path(path) / _DB_FILE}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT label, id, vector, metadata FROM points WHERE label > ? ORDER BY label LIMIT ?",
            (int(cursor or 0), limit),
        ).fetchall()
    finally:
        db.close()
    records = [
        VectorRecord(
            id=r[1],
            vector=np.frombuffer(r[2], dtype="<f4").astype(np.float32),
            metadata=None if r[3] is None else orjson.loads(r[3]),
        )
        for r in rows
    ]
    return records, (str(rows[-1][0]) if len(rows) == limit else None)


def scan_page(store: Any, cursor: str | None, limit: int) -> tuple[list[VectorRecord], str | None]:
    """A page of any store (records with vectors) and the next cursor (None at the end).

    Stores with a ``scan(cursor, limit)`` method (the remote backends and the wrappers) use it;
    the embedded store is read from its database file.
    """
    scan = getattr(store, "scan", None)
    if callable(scan):
        page, nxt = scan(cursor, limit)
        return list(page), nxt
    from llm_infra.vector._store import LocalVectorStore

    if isinstance(store, LocalVectorStore):
        return _local_scan(store, cursor, limit)
    raise VectorError(
        f"{type(store).__name__} cannot be iterated (no scan(cursor, limit))",
        operation="migrate",
        code=codes.MIGRATION_UNSUPPORTED,
    )


def _identity(store: Any) -> dict[str, Any]:
    cfg = getattr(store, "config", None)
    if cfg is None:
        stats = store.stats()
        return {
            "collection": stats.collection,
            "dimensions": stats.dimensions,
            "distance": str(stats.distance),
        }
    return {"collection": cfg.collection, "dimensions": cfg.dimensions, "distance": str(cfg.distance)}


def _load_checkpoint(path: Path, ident: dict[str, Any]) -> tuple[str | None, int, bool]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None, 0, False
    except (OSError, orjson.JSONDecodeError) as exc:
        raise VectorError(
            f"the migration checkpoint {path} is unreadable: {exc}",
            operation="migrate",
            code=codes.MIGRATION_CHECKPOINT,
        ) from exc
    if (
        not isinstance(data, dict)
        or data.get("version") != _CHECKPOINT_VERSION
        or data.get("identity") != ident
    ):
        raise VectorError(
            f"the migration checkpoint {path} belongs to another migration; delete it to start over",
            operation="migrate",
            code=codes.MIGRATION_CHECKPOINT,
        )
    return data.get("cursor"), int(data.get("copied", 0)), bool(data.get("done", False))


def _save_checkpoint(path: Path, ident: dict[str, Any], cursor: str | None, copied: int, done: bool) -> None:
    payload = {
        "version": _CHECKPOINT_VERSION,
        "identity": ident,
        "cursor": cursor,
        "copied": copied,
        "done": done,
    }
    atomic_write(path, orjson.dumps(payload))


def _compare(src: Any, dst: Any, ids: list[str], tolerance: float) -> list[str]:
    problems: list[str] = []
    for ident in ids:
        a = src.get(ident, with_vector=True)
        b = dst.get(ident, with_vector=True)
        if a is None:
            continue  # deleted from the source meanwhile
        if b is None:
            problems.append(f"{ident!r} is missing from the destination")
            continue
        if a.metadata != b.metadata:
            problems.append(f"{ident!r} has different metadata")
        if (
            a.vector is None
            or b.vector is None
            or not np.allclose(a.vector, b.vector, rtol=tolerance, atol=tolerance)
        ):
            problems.append(f"{ident!r} has a different vector")
    return problems


def migrate(
    src: Any,
    dst: Any,
    *,
    batch_size: int = 1000,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    verify_sample: int = 100,
    strict: bool = True,
    bulk_load: bool = True,
) -> MigrationReport:
    """Copy every record of ``src`` into ``dst`` (any two ``VectorStore`` backends).

    Args:
        src: the source store (embedded, pgvector, Qdrant, or a wrapper of one).
        dst: the destination store, created with the same dimensions and distance.
        batch_size: records per page (one upsert per page).
        checkpoint: a file recording progress; a rerun with the same file resumes after the
            last page copied, and a finished migration only verifies.
        progress: ``progress(copied, total)`` after each page.
        verify_sample: records compared (vector and metadata) at the end.
        strict: raise when the verification finds a difference (else only report it).
        bulk_load: use the destination's ``bulk_load()`` when it has one (pgvector: the HNSW
            index is built once at the end instead of row by row).

    Raises:
        VectorError: ``vector.migration_mismatch`` (dimensions or distance differ, or the
            verification failed with ``strict``), ``vector.migration_checkpoint``,
            ``vector.migration_unsupported``.

    .. versionadded:: 0.2.0
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(
            "batch_size must be a positive integer", field="batch_size", code="vector.invalid_batch"
        )
    started = time.monotonic()
    src_id, dst_id = _identity(src), _identity(dst)
    for key in ("dimensions", "distance"):
        if src_id[key] != dst_id[key]:
            raise VectorError(
                f"source and destination differ in {key}: {src_id[key]} vs {dst_id[key]}",
                operation="migrate",
                code=codes.MIGRATION_MISMATCH,
            )
    ident = {"source": src_id, "dest": dst_id}
    ck = Path(checkpoint) if checkpoint is not None else None
    cursor, resumed, done = _load_checkpoint(ck, ident) if ck is not None else (None, 0, False)
    total = int(src.count())
    copied = 0
    bulk = getattr(dst, "bulk_load", None) if bulk_load and not done else None
    with bulk() if callable(bulk) else contextlib.nullcontext():
        copied = _copy(src, dst, ck, ident, cursor, resumed, done, batch_size, progress, total)
    return _verify(src, dst, resumed, copied, verify_sample, strict, time.monotonic() - started)


def _copy(  # noqa: PLR0917 - private helper of migrate
    src: Any,
    dst: Any,
    ck: Path | None,
    ident: dict[str, Any],
    cursor: str | None,
    resumed: int,
    done: bool,
    batch_size: int,
    progress: Progress | None,
    total: int,
) -> int:
    copied = 0
    while not done:
        page, nxt = scan_page(src, cursor, batch_size)
        if page:
            dst.upsert_batch(page)
            copied += len(page)
        cursor, done = nxt, nxt is None
        if ck is not None:
            _save_checkpoint(ck, ident, cursor, resumed + copied, done)
        if progress is not None:
            progress(resumed + copied, total)
    return copied


def _verify(  # noqa: PLR0917 - private helper of migrate
    src: Any, dst: Any, resumed: int, copied: int, sample: int, strict: bool, elapsed: float
) -> MigrationReport:
    source_count, dest_count = int(src.count()), int(dst.count())
    problems: list[str] = []
    if source_count != dest_count:
        problems.append(f"the source has {source_count} records, the destination {dest_count}")
    ids: list[str] = []
    cursor: str | None = None
    while len(ids) < 20 * max(sample, 1):
        page, cursor = scan_page(src, cursor, 1000)
        ids.extend(r.id for r in page)
        if cursor is None:
            break
    picked = random.Random(0).sample(ids, min(sample, len(ids)))
    tier = getattr(getattr(getattr(dst, "config", None), "compression", None), "tier", "none")
    problems.extend(_compare(src, dst, picked, 1e-2 if tier == "f16" else 1e-5))
    report = MigrationReport(
        copied=copied,
        resumed_from=resumed,
        source_count=source_count,
        dest_count=dest_count,
        sampled=len(picked),
        problems=tuple(problems),
        elapsed=elapsed,
    )
    if problems and strict:
        raise VectorError(
            f"migration verification failed: {problems[0]} ({len(problems)} problems)",
            operation="migrate",
            code=codes.MIGRATION_MISMATCH,
        )
    return report
