"""``verify()``: the database, the slot table, the graph and the derived files, checked together.

Every check is exact: stored vectors (in the search space the graph uses) must equal the
in-memory copies bit for bit, every metadata row must parse as a JSON object equal to the
in-memory copy, and the ids must agree. A database found behind its manifest at open (lost
commits) is reported with what is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from llm_infra.errors import InfraError
from llm_infra.vector._types import VerifyReport

if TYPE_CHECKING:
    from llm_infra.vector._opening import Opening


def _check_sqlite(store: Opening, problems: list[str], checked: list[str]) -> None:
    try:
        result = store._points.execute("PRAGMA quick_check", (), "verify")
    except InfraError as exc:
        problems.append(f"sqlite: {exc.message}")
        return
    checked.append("sqlite")
    if not result or result[0][0] != "ok":
        problems.append(f"sqlite quick_check: {result[0][0] if result else 'no answer'}")


def _check_metadata(store: Opening, rows: list[Any], live: list[int], problems: list[str]) -> None:
    bad: list[str] = []
    differ: list[str] = []
    for slot, (_, ident, text, _) in zip(live, rows, strict=True):
        if text is None:
            if store._meta[slot] is not None:
                differ.append(ident)
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            bad.append(ident)
            continue
        if not isinstance(value, dict):
            bad.append(ident)
        elif value != store._meta_plain(slot):
            differ.append(ident)
    if bad:
        problems.append(f"{len(bad)} metadata rows do not parse as JSON objects (ids: {', '.join(bad[:5])})")
    if differ:
        problems.append(f"{len(differ)} metadata rows differ from memory (ids: {', '.join(differ[:5])})")


def _check_rows(store: Opening, rows: list[Any], problems: list[str], checked: list[str]) -> None:
    """Compare the database rows with the slot table (caller holds the read lock)."""
    checked.append("ids")
    live = np.flatnonzero(store._alive[: store._n])
    mem_labels = store._labels[live]
    db_labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    if not np.array_equal(mem_labels, db_labels):
        problems.append(f"memory holds {live.size} vectors, the database {len(rows)}")
        return
    if not rows:
        return
    live_list = live.tolist()
    if any(store._ids[s] != r[1] for s, r in zip(live_list, rows, strict=True)):
        problems.append("in-memory ids differ from the database")
    checked.append("metadata")
    _check_metadata(store, rows, live_list, problems)
    checked.append("vectors")
    try:
        mat = store._search_space(store._points.decode_vectors([r[3] for r in rows], store._dims, "verify"))
    except InfraError as exc:
        problems.append(exc.message)
        return
    mem = store._slab.gather(live)
    same = np.all(mat == mem, axis=1)
    if not same.all():
        differ = [rows[i][1] for i in np.flatnonzero(~same)[:5].tolist()]
        problems.append(
            f"{int((~same).sum())} stored vectors differ from the in-memory copies (ids: {', '.join(differ)})"
        )


def verify_store(store: Opening) -> VerifyReport:
    """The report of ``LocalVectorStore.verify`` (caller holds the write mutex)."""
    problems: list[str] = list(store._damage)
    checked: list[str] = []
    _check_sqlite(store, problems, checked)
    checked.append("manifest")
    rows = store._points.execute(
        "SELECT label, id, metadata, vector FROM points ORDER BY label", (), "verify"
    )
    with store._rw.read:
        _check_rows(store, rows, problems, checked)
        if store._ann is not None and store._ann.ntotal != store._g:
            problems.append(f"graph holds {store._ann.ntotal} vectors, expected {store._g}")
    store._check_files(problems, checked)
    return VerifyReport(ok=not problems, count=len(rows), problems=tuple(problems), checked=tuple(checked))
