"""Readers for ``vector import``: JSONL, CSV, ``.npy`` and Parquet (when pyarrow is installed).

Each reader yields ``Row``s, or ``BadRow``s for input it cannot turn into a record (the import
reports those with their line and goes on, so nothing is dropped silently).
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from llm_infra.cli import _codes
from llm_infra.cli._output import die
from llm_infra.errors import ConfigError, InfraError

FORMATS: Final = ("jsonl", "csv", "npy", "parquet")
_EXTENSIONS: Final = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".npy": "npy",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True, slots=True)
class Fields:
    """Column names of the id, the vector and the metadata object."""

    id: str = "id"
    vector: str = "vector"
    metadata: str = "metadata"


@dataclass(frozen=True, slots=True)
class Row:
    """One record to write."""

    id: str
    vector: Any
    metadata: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class BadRow:
    """Input that is not a record; ``where`` locates it (``line 7``)."""

    where: str
    error: InfraError


def detect_format(path: Path, fmt: str | None) -> str:
    """``fmt`` when given, else the format of the file's extension."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise die(_codes.UNKNOWN_FORMAT, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise die(_codes.UNKNOWN_FORMAT, f"cannot tell the format of {path.name}; pass --format")
    return found


def count_rows(path: Path, fmt: str) -> int | None:
    """The number of records (for the progress bar), or None when it is not cheap to know."""
    if fmt == "npy":
        return int(_load_npy(path).shape[0])
    if fmt == "parquet":
        return int(_parquet(path).ParquetFile(path).metadata.num_rows)
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return max(lines - 1, 0) if fmt == "csv" else lines


def _bad(where: str, message: str) -> BadRow:
    return BadRow(where, ConfigError(message, code=_codes.INVALID_INPUT))


def _from_mapping(obj: Mapping[str, Any], fields: Fields, where: str) -> Row | BadRow:
    if fields.id not in obj or obj[fields.id] is None:
        return _bad(where, f"no {fields.id!r} field")
    if fields.vector not in obj:
        return _bad(where, f"no {fields.vector!r} field")
    raw_id = obj[fields.id]
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        return _bad(where, f"{fields.id!r} must be a string or an integer")
    if fields.metadata in obj:
        metadata = obj[fields.metadata]
        if metadata is not None and not isinstance(metadata, Mapping):
            return _bad(where, f"{fields.metadata!r} must be an object")
    else:
        metadata = {k: v for k, v in obj.items() if k not in (fields.id, fields.vector)} or None
    return Row(str(raw_id), obj[fields.vector], dict(metadata) if metadata is not None else None)


def _jsonl(path: Path, fields: Fields) -> Iterator[Row | BadRow]:
    from llm_infra.json import loads

    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                obj = loads(line)
            except InfraError as exc:
                yield BadRow(where, exc)
                continue
            if not isinstance(obj, dict):
                yield _bad(where, "a line must hold a JSON object")
                continue
            yield _from_mapping(obj, fields, where)


def _csv_vector(text: str) -> Any:
    from llm_infra.json import loads

    text = text.strip()
    if text.startswith("["):
        return loads(text)
    return [float(part) for part in text.replace(",", " ").replace(";", " ").split()]


def _csv(path: Path, fields: Fields) -> Iterator[Row | BadRow]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for number, record in enumerate(reader, start=2):
            where = f"line {number}"
            if not record.get(fields.id) or record.get(fields.vector) is None:
                yield _bad(where, f"needs the columns {fields.id!r} and {fields.vector!r}")
                continue
            try:
                vector = _csv_vector(record[fields.vector])
            except (InfraError, ValueError) as exc:
                yield _bad(where, f"the {fields.vector!r} column is not a list of numbers: {exc}")
                continue
            metadata = {
                k: v
                for k, v in record.items()
                if k not in (fields.id, fields.vector) and k and v not in ("", None)
            }
            yield Row(record[fields.id], vector, metadata or None)


def _load_npy(path: Path) -> Any:
    import numpy as np

    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise die(_codes.INVALID_INPUT, f"{path.name} is not a .npy array: {exc}") from exc
    if data.ndim != 2:
        raise die(
            _codes.INVALID_INPUT, f"{path.name} must hold a 2-D array (rows x dimensions), got {data.shape}"
        )
    return data


def _npy(path: Path, ids_file: Path | None) -> Iterator[Row | BadRow]:
    data = _load_npy(path)
    ids: list[str] | None = None
    if ids_file is not None:
        ids = [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(ids) != data.shape[0]:
            raise die(
                _codes.INVALID_INPUT,
                f"{ids_file.name} has {len(ids)} ids for {data.shape[0]} vectors",
            )
    for index in range(data.shape[0]):
        yield Row(ids[index] if ids is not None else str(index), data[index], None)


def _parquet(path: Path) -> Any:
    try:
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise ConfigError(
            "reading Parquet needs pyarrow, which is not installed; run: pip install pyarrow",
            code="config.missing_extra",
            remediation=["pip install pyarrow"],
        ) from exc
    return pq


def _parquet_rows(path: Path, fields: Fields, batch_size: int) -> Iterator[Row | BadRow]:
    pq = _parquet(path)
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        for record in batch.to_pylist():
            number += 1
            yield _from_mapping(record, fields, f"row {number}")


def read_rows(
    path: Path, fmt: str, *, fields: Fields, ids_file: Path | None = None, batch_size: int = 1000
) -> Iterator[Row | BadRow]:
    """Every record of ``path`` in format ``fmt``, in file order."""
    if fmt == "jsonl":
        return _jsonl(path, fields)
    if fmt == "csv":
        return _csv(path, fields)
    if fmt == "npy":
        return _npy(path, ids_file)
    return _parquet_rows(path, fields, batch_size)


__all__ = ["FORMATS", "BadRow", "Fields", "Row", "count_rows", "detect_format", "read_rows"]
