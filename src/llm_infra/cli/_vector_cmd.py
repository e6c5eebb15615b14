"""``llm-infra vector create|import|search|stats|verify|rebuild|snapshot|migrate``."""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from llm_infra.cli import _codes
from llm_infra.cli._options import AsJson
from llm_infra.cli._output import ProgressFn, die, err, kv, lazy_progress, out, print_json, progress, table
from llm_infra.cli._state import state
from llm_infra.cli._vector_io import BadRow, Fields, count_rows, detect_format, read_rows
from llm_infra.errors import BatchError, BatchFailure, ConfigError, InfraError

if TYPE_CHECKING:
    from llm_infra.vector import VectorStoreConfig

app = typer.Typer(
    help="Operate a vector store directly: a local store directory or a postgresql:// / qdrant:// URL.",
    no_args_is_help=True,
)

_URL_SCHEMES = ("postgresql", "postgres", "qdrant", "qdrant+local")

Store = Annotated[str, typer.Argument(help="Store directory, or a postgresql:// / qdrant:// URL.")]


def _is_url(target: str) -> bool:
    return "://" in target and not target.startswith("file://")


def _local_path(target: str) -> Path:
    return Path(target.removeprefix("file://"))


def open_vector_store(
    target: str, config: VectorStoreConfig | None = None, *, progress: ProgressFn | None = None
) -> Any:
    """Open (``config`` given: or create) the store at a path or URL.

    A missing local store without ``config`` is refused before anything is created on disk.
    """
    from llm_infra import vector

    if _is_url(target):
        return _open_url(target, config)
    path = _local_path(target)
    if config is None and not path.is_dir():
        raise ConfigError(
            f"no vector store at {path}; create one with `llm-infra vector create {path} --dimensions N`",
            code="vector.config_required",
        )
    return vector.open_store(path, config, progress=progress)


def _backend_function(name: str, module: str) -> Any:
    """``llm_infra.vector.<name>``, else the function in the private module that defines it, else None."""
    from llm_infra import vector

    found = getattr(vector, name, None)
    if found is None:
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return None
    return found


def _url_opener() -> Any:
    """The scale-out backends' ``open_backend(url, config, **options)``, or None when not installed."""
    return _backend_function("open_backend", "llm_infra.vector._backends")


def _migrator() -> Any:
    """The backends' ``migrate(src, dst, *, batch_size, checkpoint, progress)``, or None."""
    return _backend_function("migrate", "llm_infra.vector._migrate")


def _open_url(target: str, config: VectorStoreConfig | None) -> Any:
    """A ``postgresql://`` store (``#name`` names the collection) or a ``qdrant://host:port/name`` one."""
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme not in _URL_SCHEMES:
        raise die(_codes.UNSUPPORTED_URL, f"no vector backend for {scheme}:// URLs")
    opener = _url_opener()
    if opener is None:
        raise die(_codes.NOT_AVAILABLE, f"this installation has no {scheme}:// vector backend")
    options: dict[str, Any] = {}
    if parts.fragment:
        target = target.split("#", 1)[0]
        if config is None:
            options["collection"] = parts.fragment
        else:
            config = config.with_options(collection=parts.fragment)
    store = opener(target, config, **options)
    if store is None:
        raise die(_codes.UNSUPPORTED_URL, f"no vector backend for {scheme}:// URLs")
    return store


@contextmanager
def _opened(target: str, config: VectorStoreConfig | None = None) -> Iterator[Any]:
    with lazy_progress("rebuilding the index on open", unit="vectors") as update:
        store = open_vector_store(target, config, progress=update)
    try:
        yield store
    finally:
        store.close()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _default_collection(target: str) -> str:
    base = urlsplit(target).path.rstrip("/").split("/")[-1] if _is_url(target) else _local_path(target).name
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", base)[:128]
    return name or "default"


@app.command("create")
def create(
    ctx: typer.Context,
    *,
    store: Store,
    dimensions: Annotated[
        int | None, typer.Option("--dimensions", "-d", help="Vector length (default: vector.dimensions).")
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option(help="Collection name (default: vector.collection, else the directory name)."),
    ] = None,
    distance: Annotated[str | None, typer.Option(help="cosine (default), l2 or dot.")] = None,
    m: Annotated[int | None, typer.Option("--m", help="HNSW graph degree.")] = None,
    ef_construction: Annotated[
        int | None, typer.Option("--ef-construction", help="HNSW build width.")
    ] = None,
    ef_search: Annotated[int | None, typer.Option("--ef-search", help="HNSW search width.")] = None,
    compression: Annotated[str | None, typer.Option(help="Index tier: none, f16, int8, binary.")] = None,
    index_field: Annotated[
        list[str] | None, typer.Option("--index-field", help="Metadata field to index; repeatable.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create a store (or open it when it exists with the same collection, dimensions and distance).

    Example: llm-infra vector create ./data/docs --dimensions 384 --index-field lang
    """
    from llm_infra.vector import CompressionConfig, HnswConfig, VectorStoreConfig

    st = state(ctx)
    cfg = st.config()
    dims = dimensions if dimensions is not None else cfg.get("vector.dimensions")
    if dims is None:
        raise die(_codes.INVALID_INPUT, "pass --dimensions (or set vector.dimensions)")
    hnsw = HnswConfig(
        m=m or cfg.get("vector.hnsw.m") or 16,
        ef_construction=ef_construction or cfg.get("vector.hnsw.ef_construction") or 200,
        ef_search=ef_search or cfg.get("vector.hnsw.ef_search") or 100,
    )
    config = VectorStoreConfig(
        collection=collection or st.setting("vector.collection") or _default_collection(store),
        dimensions=int(dims),
        distance=distance or st.setting("vector.distance") or "cosine",  # type: ignore[arg-type]
        hnsw=hnsw,
        compression=CompressionConfig(tier=compression or "none"),  # type: ignore[arg-type]
        indexed_fields=tuple(index_field or ()),
    )
    with _opened(store, config) as opened:
        stats = _plain(opened.stats())
    if as_json:
        print_json(stats)
    else:
        out().print(f"store ready at {store}")
        kv({k: stats[k] for k in ("collection", "dimensions", "distance", "count") if k in stats})


def _write(opened: Any, batch: list[tuple[str, Any, Any]], upsert: bool) -> tuple[int, list[BatchFailure]]:
    writer = opened.upsert_batch if upsert else opened.insert_batch
    try:
        result = writer(batch)
    except BatchError as exc:
        return 0, list(exc.failures)
    return result.succeeded, list(result.failures)


@app.command("import")
def import_(
    ctx: typer.Context,
    *,
    store: Store,
    file: Annotated[
        Path, typer.Argument(help="JSONL, CSV, .npy or Parquet file.", exists=True, dir_okay=False)
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl, csv, npy or parquet (default: by extension).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Records per write.")
    ] = 1000,
    upsert: Annotated[
        bool, typer.Option("--upsert/--insert", help="Replace existing ids (default) or refuse them.")
    ] = True,
    id_field: Annotated[str, typer.Option("--id-field", help="Id field/column.")] = "id",
    vector_field: Annotated[str, typer.Option("--vector-field", help="Vector field/column.")] = "vector",
    metadata_field: Annotated[
        str, typer.Option("--metadata-field", help="Metadata object field (else: every other field).")
    ] = "metadata",
    ids_file: Annotated[
        Path | None, typer.Option("--ids-file", help="For .npy: one id per line (default: row numbers).")
    ] = None,
    show: Annotated[
        int, typer.Option("--show-failures", min=0, help="How many refused records to list.")
    ] = 10,
    as_json: AsJson = False,
) -> None:
    """Write every record of FILE into the store, in batches, with a progress bar.

    Refused records (wrong dimensions, malformed lines, existing ids with --insert) are listed
    with their codes; the others are written. Exit status 1 when any record was refused.

    Example: llm-infra vector import ./data/docs vectors.jsonl --batch-size 2000
    """
    state(ctx)
    kind = detect_format(file, fmt)
    total = count_rows(file, kind)
    fields = Fields(id_field, vector_field, metadata_field)
    written = 0
    failures: list[tuple[str, InfraError]] = []
    with _opened(store) as opened, progress(f"importing {file.name}", total, unit="records") as update:
        batch: list[tuple[str, Any, Any]] = []
        seen = 0

        def flush() -> None:
            nonlocal written
            ok, failed = _write(opened, batch, upsert)
            written += ok
            failures.extend((f.item_id, f.error) for f in failed)
            batch.clear()

        for row in read_rows(file, kind, fields=fields, ids_file=ids_file, batch_size=batch_size):
            seen += 1
            if isinstance(row, BadRow):
                failures.append((row.where, row.error))
            else:
                batch.append((row.id, row.vector, row.metadata))
                if len(batch) >= batch_size:
                    flush()
            update(seen, total)
        if batch:
            flush()
        update(seen, seen)
        opened.flush()
    if as_json:
        print_json(
            {
                "written": written,
                "read": seen,
                "refused": [{"record": where, "code": e.code, "message": e.message} for where, e in failures],
            }
        )
    else:
        out().print(f"imported {written} of {seen} records into {store}")
    if failures:
        console = err()
        for where, error in failures[:show]:
            console.print(f"  {where}: [{error.code}] {error.message}", markup=False)
        if len(failures) > show:
            console.print(f"  ... and {len(failures) - show} more", markup=False)
        codes = sorted({e.code for _, e in failures})
        raise die(
            _codes.IMPORT_PARTIAL,
            f"{len(failures)} of {seen} records were refused ({', '.join(codes)})",
            refused=len(failures),
            written=written,
        )


def _query_vector(vector: str | None, vector_file: Path | None) -> Any:
    import numpy as np

    from llm_infra.json import loads

    if (vector is None) == (vector_file is None):
        raise die(_codes.INVALID_INPUT, "give exactly one of --vector and --vector-file")
    if vector_file is not None:
        if vector_file.suffix == ".npy":
            data = np.load(vector_file, allow_pickle=False)
            return data.reshape(-1)
        vector = vector_file.read_text(encoding="utf-8")
    assert vector is not None
    try:
        parsed = loads(vector)
    except InfraError as exc:
        raise die(_codes.INVALID_INPUT, f"--vector must be a JSON array of numbers: {exc.message}") from exc
    if not isinstance(parsed, list):
        raise die(_codes.INVALID_INPUT, "--vector must be a JSON array of numbers")
    return parsed


@app.command("search")
def search(
    ctx: typer.Context,
    *,
    store: Store,
    vector: Annotated[
        str | None, typer.Option("--vector", "-v", help="Query vector as a JSON array.")
    ] = None,
    vector_file: Annotated[
        Path | None, typer.Option("--vector-file", help="Query vector file (.json or .npy).")
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=10_000, help="Results wanted.")] = 10,
    filter_: Annotated[
        str | None, typer.Option("--filter", help='Metadata filter as JSON, e.g. \'{"lang": "en"}\'.')
    ] = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Drop results scoring below it.")
    ] = None,
    ef_search: Annotated[
        int | None, typer.Option("--ef-search", help="Graph search width for this query.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The k nearest stored vectors (scores: higher is better), optionally filtered by metadata.

    Example: llm-infra vector search ./data/docs --vector '[0.1, 0.2, 0.3]' -k 5 --filter '{"lang": "en"}'
    """
    from llm_infra.json import loads

    state(ctx)
    query = _query_vector(vector, vector_file)
    flt = None
    if filter_ is not None:
        try:
            flt = loads(filter_)
        except InfraError as exc:
            raise die(_codes.INVALID_INPUT, f"--filter must be JSON: {exc.message}") from exc
    with _opened(store) as opened:
        results = opened.search(query, k, flt, ef_search, min_score=min_score)
    rows = [{"id": r.id, "score": float(r.score), "metadata": r.metadata} for r in results]
    if as_json:
        print_json(rows)
        return
    from llm_infra.json import dumps

    table(
        f"{len(rows)} results",
        ["id", "score", "metadata"],
        [[r["id"], r["score"], dumps(r["metadata"]).decode() if r["metadata"] else None] for r in rows],
    )


@app.command("stats")
def stats(ctx: typer.Context, store: Store, as_json: AsJson = False) -> None:
    """Size, parameters, memory and disk use, and index freshness.

    Example: llm-infra vector stats ./data/docs --json
    """
    state(ctx)
    with _opened(store) as opened:
        data = _plain(opened.stats())
    if as_json:
        print_json(data)
    else:
        kv(
            {
                k: v if not isinstance(v, dict) else ", ".join(f"{a}={b}" for a, b in v.items())
                for k, v in data.items()
            }
        )


@app.command("verify")
def verify(ctx: typer.Context, store: Store, as_json: AsJson = False) -> None:
    """Check the database, the index files and memory against each other; exit 1 on any problem.

    Example: llm-infra vector verify ./data/docs
    """
    state(ctx)
    with _opened(store) as opened, err().status("verifying (database, index files, memory)"):
        report = _plain(opened.verify())
    if as_json:
        print_json(report)
    else:
        kv(report)
    if not report.get("ok", False):
        problems = "; ".join(report.get("problems") or ()) or "verification failed"
        raise die(_codes.VERIFY_FAILED, f"the store at {store} is inconsistent: {problems}")


@app.command("rebuild")
def rebuild(ctx: typer.Context, store: Store) -> None:
    """Rebuild the ANN index from the stored vectors (the source of truth), with a progress bar.

    Example: llm-infra vector rebuild ./data/docs
    """
    state(ctx)
    with _opened(store) as opened:
        with progress("rebuilding index", unit="vectors") as update:
            try:
                opened.rebuild(progress=update)
            except TypeError:  # a backend whose rebuild takes no progress callback
                opened.rebuild()
        count = opened.count()
    out().print(f"rebuilt the index of {store} ({count} vectors)")


@app.command("snapshot")
def snapshot(
    ctx: typer.Context,
    *,
    store: Store,
    dest: Annotated[Path, typer.Argument(help="New (or empty) directory for the copy.")],
) -> None:
    """Write a consistent copy of the store to DEST (open it like any store).

    Example: llm-infra vector snapshot ./data/docs ./backups/docs-2024-06-01
    """
    state(ctx)
    with _opened(store) as opened, progress("snapshot", 1) as update:
        opened.snapshot(dest)
        update(1, 1)
    out().print(f"snapshot of {store} written to {dest}")


@app.command("migrate")
def migrate(
    ctx: typer.Context,
    *,
    src: Annotated[str, typer.Argument(help="Source store (path or URL).")],
    dst: Annotated[
        str, typer.Argument(help="Destination store (path or URL); created with the source's config.")
    ],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=100_000)] = 1000,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Resume file: an interrupted migration continues from it."),
    ] = None,
) -> None:
    """Copy every record from SRC to DST (e.g. a local store to PostgreSQL), resumable.

    Example: llm-infra vector migrate ./data/docs 'postgresql://postgres@127.0.0.1/test#docs'
    """
    state(ctx)
    run = _migrator()
    if run is None:
        raise die(_codes.NOT_AVAILABLE, "this installation's llm_infra.vector has no migrate()")
    with (
        _opened(src) as source,
        _opened(dst, source.config) as target,
        progress(f"migrating {source.count()} records", source.count()) as update,
    ):
        run(source, target, batch_size=batch_size, checkpoint=checkpoint, progress=update)
        done = target.count()
    out().print(f"migrated to {dst}: {done} records")


__all__ = ["app", "open_vector_store"]
