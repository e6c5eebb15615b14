"""Validation of everything a caller hands the store: ids, vectors, metadata, batches, search args.

Every problem becomes a ``ValidationError`` or ``VectorError`` with a stable code; nothing here
lets a raw ``TypeError``/``UnicodeEncodeError``/``OverflowError`` through. Batch preparation
returns one outcome per item, so a bad item fails alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import orjson

from llm_infra.errors import AlreadyExistsError, InfraError, NotFoundError, ValidationError, VectorError
from llm_infra.vector import _codes
from llm_infra.vector._slab import sq_norm, sq_norms
from llm_infra.vector._types import VectorRecord

if TYPE_CHECKING:
    from llm_infra.vector._base import Columns

MAX_ID_LENGTH: Final = 512
MAX_METADATA_BYTES: Final = 1 << 20
MAX_K: Final = 10_000
MAX_EF: Final = 100_000
MAX_DEPTH: Final = 64
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1

Encoded = tuple[str | None, dict[str, Any] | None]
"""``(json text, plain dict)`` of one item's metadata."""


def dimension_mismatch(expected: int, actual: int, operation: str) -> VectorError:
    """The error ``Dimension mismatch: expected N, got M``."""
    return VectorError(
        f"Dimension mismatch: expected {expected}, got {actual}",
        operation=operation,
        dimensions=expected,
        expected=expected,
        actual=actual,
        code=_codes.DIMENSION_MISMATCH,
        remediation=[
            "check that the embedding model matches the store (stats().dimensions)",
            "a store's dimensions are fixed: create a new collection for another model",
        ],
    )


def invalid_vector(message: str, operation: str) -> VectorError:
    """A ``vector.invalid_vector`` error."""
    return VectorError(message, operation=operation, code=_codes.INVALID_VECTOR)


def exists_error(ident: str) -> AlreadyExistsError:
    """The error of inserting an id that exists."""
    return AlreadyExistsError(
        f"a vector with id {ident!r} already exists",
        resource_type="vector",
        resource_id=ident,
        code=_codes.ALREADY_EXISTS,
    )


def check_snapshot_dest(dest: str | os.PathLike[str]) -> Path:
    """``dest`` as a ``Path``: a snapshot goes to a new or empty directory."""
    target = Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExistsError(
            f"snapshot destination {target} exists and is not empty",
            resource_type="directory",
            resource_id=str(target),
            code=_codes.SNAPSHOT_EXISTS,
        )
    return target


def not_found(ident: str) -> NotFoundError:
    """The error of updating an unknown id."""
    return NotFoundError(
        f"no vector with id {ident!r}", resource_type="vector", resource_id=ident, code=_codes.NOT_FOUND
    )


def wrong_type(where: str, value: object, must_be: str, *, expected: str, code: str) -> ValidationError:
    """``<where> must be <must_be>, got <type of value>`` (``actual`` is that type's name)."""
    actual = type(value).__name__
    return ValidationError(
        f"{where} must be {must_be}, got {actual}", field=where, expected=expected, actual=actual, code=code
    )


def _valid_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def id_ok(value: object) -> bool:
    """True for a valid id (the fast check of ``check_id``)."""
    return (
        type(value) is str
        and 0 < len(value) <= MAX_ID_LENGTH
        and "\x00" not in value
        and _valid_unicode(value)
    )


def check_id(value: object, where: str = "id") -> str:
    """Validate a vector id: a non-empty ``str`` of at most 512 characters, valid Unicode, no NUL."""
    if id_ok(value):
        return value  # type: ignore[return-value]  # id_ok checked the type
    if not isinstance(value, str):
        raise wrong_type(where, value, "a string", expected="str", code=_codes.INVALID_ID)
    if value and len(value) <= MAX_ID_LENGTH and "\x00" not in value:
        if type(value) is not str:
            return check_id(str.__str__(value), where)
        raise ValidationError(
            f"{where} is not valid Unicode (it holds a lone surrogate)",
            field=where,
            expected="valid Unicode",
            code=_codes.INVALID_ID,
        )
    raise ValidationError(
        f"{where} must be 1..{MAX_ID_LENGTH} characters without NUL",
        field=where,
        expected=f"1..{MAX_ID_LENGTH} characters",
        actual=f"{len(value)} characters",
        code=_codes.INVALID_ID,
    )


def check_ids(ids: object, where: str = "ids") -> list[object]:
    """``ids`` as a list; a ``str``/``bytes`` (a common slip for ``[id]``) or a non-sequence is refused."""
    if isinstance(ids, str | bytes | bytearray | Mapping) or not isinstance(ids, Iterable):
        raise wrong_type(
            where, ids, "a sequence of ids", expected="sequence of str", code=_codes.INVALID_BATCH
        )
    return list(ids)


def _bad_meta(path: str, message: str, **extra: Any) -> ValidationError:
    return ValidationError(f"metadata {message} at {path}", field=path, code=_codes.INVALID_METADATA, **extra)


def _plain(value: object, path: str, depth: int) -> Any:
    """A plain-JSON copy of ``value`` (numpy scalars and subclasses of str/int/float become builtins)."""
    if depth > MAX_DEPTH:
        raise _bad_meta(path, f"nests deeper than {MAX_DEPTH}")
    t = type(value)
    if t is str or value is None or t is bool:
        return value
    if t is dict:
        out: dict[str, Any] = {}
        items: list[tuple[object, object]] = list(value.items())  # type: ignore[attr-defined]  # t is dict
        for key, v in items:
            if type(key) is not str:
                if not isinstance(key, str):
                    raise _bad_meta(path, "keys must be strings")
                key = str.__str__(key)  # noqa: PLW2901 - a str subclass becomes its plain value
            out[key] = _plain(v, f"{path}.{key}", depth + 1)
        return out
    if t is int:
        if not _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]  # t is int
            raise _bad_meta(path, "integer out of 64-bit range")
        return value
    if t is float:
        if not math.isfinite(value):  # type: ignore[arg-type]  # t is float
            raise _bad_meta(path, "number is not finite (NaN/inf are not JSON)")
        return value
    if t is list or t is tuple:
        seq: list[object] = list(value)  # type: ignore[call-overload]  # t is list or tuple
        return [_plain(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(seq)]
    # Subclasses and numpy scalars: reduce to the builtin value, then check it as such.
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int | np.integer):
        return _plain(int(value), path, depth)
    if isinstance(value, float | np.floating):
        return _plain(float(value), path, depth)
    if isinstance(value, Mapping):
        return _plain(dict(value), path, depth)
    if isinstance(value, list | tuple):
        return _plain(list(value), path, depth)
    raise _bad_meta(
        path,
        f"value is a {type(value).__name__}, not a JSON type",
        expected="str, number, bool, null, list or dict",
        actual=type(value).__name__,
    )


def encode_metadata(metadata: object) -> Encoded:
    """Validate metadata (a JSON object) and return ``(json text, plain dict)``.

    Raises:
        ValidationError: ``vector.invalid_metadata`` for anything that is not a JSON object
            within the limits (including strings with lone surrogates); never another exception.
    """
    if metadata is None:
        return None, None
    if not isinstance(metadata, Mapping):
        raise wrong_type("metadata", metadata, "a dict", expected="dict", code=_codes.INVALID_METADATA)
    try:
        plain: dict[str, Any] = _plain(dict(metadata), "metadata", 0)
        text = orjson.dumps(plain).decode()
    except ValidationError:
        raise
    except orjson.JSONEncodeError as exc:
        raise ValidationError(
            f"metadata cannot be stored as JSON: {exc}", field="metadata", code=_codes.INVALID_METADATA
        ) from None
    except Exception as exc:  # noqa: BLE001 - a hostile subclass (__float__ raising...): the item fails
        raise ValidationError(
            f"metadata cannot be read: {type(exc).__name__}: {exc}",
            field="metadata",
            code=_codes.INVALID_METADATA,
        ) from None
    if len(text) > MAX_METADATA_BYTES:
        raise ValidationError(
            f"metadata is {len(text)} bytes; the limit is {MAX_METADATA_BYTES}",
            field="metadata",
            code=_codes.INVALID_METADATA,
        )
    return text, plain


def decode_metadata(text: str | bytes, where: str = "a stored row") -> dict[str, Any]:
    """Parse stored metadata text; damage is a non-retryable ``vector.storage_corrupt``."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _corrupt_meta(where, str(exc)) from None
    if not isinstance(value, dict):
        raise _corrupt_meta(where, f"a {type(value).__name__}, not an object")
    return value


def _corrupt_meta(where: str, detail: str) -> VectorError:
    return VectorError(
        f"the metadata of {where} is damaged ({detail})",
        operation="read",
        code=_codes.STORAGE_CORRUPT,
        retryable=False,
        remediation=["run verify(); restore the store from a snapshot"],
    )


def check_vector(vector: object, dims: int, operation: str) -> np.ndarray:
    """One vector as a float32 row, validated (type, shape, dimension, finiteness, norm)."""
    try:
        arr = np.asarray(vector)
    except Exception as exc:  # noqa: BLE001 - any failure to read the input is a bad vector
        raise invalid_vector(f"not a numeric vector: {exc}", operation) from None
    if arr.dtype != np.float32:
        if arr.dtype.kind not in "fiu" or arr.dtype.itemsize > 8:
            raise invalid_vector(f"a vector must hold real numbers, got dtype {arr.dtype}", operation)
        with np.errstate(over="ignore", invalid="ignore"):
            arr = arr.astype(np.float32)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise invalid_vector(f"a vector must be 1-D, got shape {arr.shape}", operation)
    if arr.shape[0] != dims:
        raise dimension_mismatch(dims, int(arr.shape[0]), operation)
    arr = np.ascontiguousarray(arr)
    if not math.isfinite(sq_norm(arr)):
        if not np.isfinite(arr).all():
            raise invalid_vector("Vector contains NaN or infinite values", operation)
        raise invalid_vector("the vector's squared norm overflows float32 (values too large)", operation)
    return arr


def row_problems(mat: np.ndarray) -> np.ndarray:
    """Per row of a float32 matrix: True when it holds NaN/inf or its squared norm overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.einsum("ij,ij->i", mat, mat)
    return np.asarray(~np.isfinite(sq), dtype=np.bool_)


def row_error(row: np.ndarray, operation: str) -> VectorError:
    """The error for a row flagged by ``row_problems``."""
    if not np.isfinite(row).all():
        return invalid_vector("Vector contains NaN or infinite values", operation)
    return invalid_vector("the vector's squared norm overflows float32 (values too large)", operation)


def query_row(vector: object, dims: int, cosine: bool) -> np.ndarray:
    """A query as a ``(1, dims)`` float32 row (normalized for cosine)."""
    if (
        type(vector) is np.ndarray
        and vector.dtype == np.float32
        and vector.shape == (dims,)
        and vector.flags.c_contiguous
    ):
        # Fast path: one reduction checks finiteness (a NaN or inf element makes the sum of
        # squares NaN or inf; squares cannot cancel) and gives the norm.
        sq = sq_norm(vector)
        if math.isfinite(sq):
            if cosine and sq > 0:
                return (vector / np.float32(math.sqrt(sq))).reshape(1, dims)
            return vector.reshape(1, dims).copy()
    q = check_vector(vector, dims, "search")
    if cosine:
        norm = math.sqrt(sq_norm(q))
        if norm > 0:
            q = q / np.float32(norm)
    return q.reshape(1, dims)


def query_rows(vectors: object, dims: int, cosine: bool) -> np.ndarray:
    """Many queries as a C-contiguous ``(m, dims)`` float32 matrix (rows normalized for cosine)."""
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2 and vectors.dtype.kind in "fiu":
        if vectors.shape[1] != dims:
            raise dimension_mismatch(dims, int(vectors.shape[1]), "search_batch")
        with np.errstate(over="ignore", invalid="ignore"):
            mat = np.ascontiguousarray(vectors, dtype=np.float32)
    else:
        if isinstance(vectors, str | bytes) or not isinstance(vectors, Iterable):
            raise invalid_vector("vectors must be a 2-D array or a sequence of vectors", "search_batch")
        rows = [check_vector(v, dims, "search_batch") for v in vectors]
        mat = np.stack(rows) if rows else np.empty((0, dims), dtype=np.float32)
    sq = sq_norms(mat)
    bad = ~np.isfinite(sq)
    if bad.any():
        raise row_error(mat[int(np.flatnonzero(bad)[0])], "search_batch")
    if cosine and mat.shape[0]:
        # The same arithmetic as query_row (float64 root, float32 divide): bit-identical rows.
        norms = np.sqrt(sq.astype(np.float64)).astype(np.float32)
        norms[norms == 0] = 1.0
        mat = np.ascontiguousarray(mat / norms[:, None], dtype=np.float32)
    return mat


def check_search_args(k: object, ef_search: object, default_ef: int, min_score: object) -> int:
    """Validate ``k``, ``ef_search`` and ``min_score``; return the ef to use."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValidationError(
            f"k must be an integer in [1, {MAX_K}], got {k!r}", field="k", code=_codes.INVALID_K
        )
    ef = default_ef if ef_search is None else ef_search
    if isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= MAX_EF:
        raise ValidationError(
            f"ef_search must be an integer in [1, {MAX_EF}], got {ef_search!r}",
            field="ef_search",
            code=_codes.INVALID_EF,
        )
    if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, int | float)):
        raise ValidationError("min_score must be a number", field="min_score", code=_codes.INVALID_MIN_SCORE)
    return ef


PreparedBatch = tuple[list[str], np.ndarray, list[Encoded | None], list[InfraError | None]]
"""``(names, float32 matrix, encoded metadata per item, error per item)``."""


def _unpack_items(
    items: Iterable[VectorRecord | tuple[Any, ...]],
) -> tuple[list[object], list[object], list[object], dict[int, InfraError]]:
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise ValidationError(
            "items must be an iterable of (id, vector[, metadata]) or VectorRecord, "
            f"got {type(items).__name__}",
            field="items",
            code=_codes.INVALID_BATCH,
        )
    raw_ids: list[object] = []
    raw_vecs: list[object] = []
    raw_meta: list[object] = []
    shape_errors: dict[int, InfraError] = {}
    for i, item in enumerate(items):
        if isinstance(item, VectorRecord):
            raw_ids.append(item.id)
            raw_vecs.append(item.vector)
            raw_meta.append(item.metadata)
        elif isinstance(item, tuple | list) and len(item) in (2, 3):
            raw_ids.append(item[0])
            raw_vecs.append(item[1])
            raw_meta.append(item[2] if len(item) == 3 else None)
        else:
            raw_ids.append(f"#{i}")
            raw_vecs.append(None)
            raw_meta.append(None)
            shape_errors[i] = ValidationError(
                f"item {i} must be (id, vector[, metadata]) or a VectorRecord",
                field=f"items[{i}]",
                code=_codes.INVALID_BATCH,
            )
    return raw_ids, raw_vecs, raw_meta, shape_errors


def _matrix_from_items(
    raw_vecs: list[object], shape_errors: dict[int, InfraError], dims: int, op: str
) -> tuple[np.ndarray, list[InfraError | None]]:
    n = len(raw_vecs)
    mat = np.zeros((n, dims), dtype=np.float32)
    errors: list[InfraError | None] = [None] * n
    for i, v in enumerate(raw_vecs):
        if i in shape_errors:
            errors[i] = shape_errors[i]
        elif v is None:
            errors[i] = invalid_vector("the item has no vector", op)
        else:
            try:
                mat[i] = check_vector(v, dims, op)
            except InfraError as exc:
                errors[i] = exc
    return mat, errors


def _matrix_from_array(
    vectors: object, n: int, dims: int, op: str
) -> tuple[np.ndarray, list[InfraError | None]]:
    errors: list[InfraError | None] = [None] * n
    try:
        arr = np.asarray(vectors)
    except Exception as exc:  # noqa: BLE001 - any failure to read the input is a bad batch
        raise invalid_vector(f"vectors must be a 2-D numeric array: {exc}", op) from None
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValidationError(
            f"vectors must have shape ({n}, {dims}), got {arr.shape}",
            field="vectors",
            code=_codes.INVALID_BATCH,
        )
    if arr.dtype.kind not in "fiu" or arr.dtype.itemsize > 8:
        raise invalid_vector(f"vectors must hold real numbers, got dtype {arr.dtype}", op)
    if arr.shape[1] != dims:
        return np.zeros((n, dims), dtype=np.float32), [dimension_mismatch(dims, int(arr.shape[1]), op)] * n
    with np.errstate(over="ignore", invalid="ignore"):
        mat = np.ascontiguousarray(arr, dtype=np.float32)
    for i in np.flatnonzero(row_problems(mat)).tolist():
        errors[i] = row_error(mat[i], op)
    return mat, errors


def prepare_batch(
    items: Iterable[VectorRecord | tuple[Any, ...]] | None, columns: Columns, dims: int, op: str
) -> PreparedBatch:
    """Validate a batch item by item (see ``PreparedBatch``).

    Raises:
        ValidationError: only for arguments that make the whole call meaningless (both forms
            given, ``ids`` not a sequence, lengths that disagree); item problems are returned.
    """
    ids, vectors, metadatas = columns
    if items is not None:
        if ids is not None or vectors is not None or metadatas is not None:
            raise ValidationError(
                "pass either items or ids=/vectors=/metadatas=, not both",
                field="items",
                code=_codes.INVALID_BATCH,
            )
        raw_ids, raw_vecs, raw_meta, shape_errors = _unpack_items(items)
        mat, errors = _matrix_from_items(raw_vecs, shape_errors, dims, op)
    else:
        if ids is None or vectors is None:
            raise ValidationError(
                "pass items, or both ids= and vectors=", field="ids", code=_codes.INVALID_BATCH
            )
        raw_ids = check_ids(ids)
        n = len(raw_ids)
        raw_meta = check_ids(metadatas, "metadatas") if metadatas is not None else [None] * n
        if len(raw_meta) != n:
            raise ValidationError(
                f"metadatas has {len(raw_meta)} entries for {n} ids",
                field="metadatas",
                code=_codes.INVALID_BATCH,
            )
        mat, errors = _matrix_from_array(vectors, n, dims, op)
    n = len(raw_ids)
    names: list[str] = []
    metas: list[Encoded | None] = [None] * n
    for i in range(n):
        ident = raw_ids[i]
        if not id_ok(ident):
            names.append(ident if isinstance(ident, str) and ident and _valid_unicode(ident) else f"#{i}")
            if errors[i] is None:
                try:
                    ident = check_id(ident, f"items[{i}].id")
                except ValidationError as exc:
                    errors[i] = exc
                    continue
                names[i] = ident
            else:
                continue
        else:
            names.append(ident)  # type: ignore[arg-type]  # id_ok checked the type
        if errors[i] is None:
            m = raw_meta[i]
            if m is None:
                metas[i] = (None, None)
            else:
                try:
                    metas[i] = encode_metadata(m)
                except ValidationError as exc:
                    errors[i] = exc
    return names, mat, metas, errors
