"""Error codes of ``llm_infra.vector`` (``vector.<reason>``), each with a one-line meaning."""

from __future__ import annotations

from typing import Final

ALREADY_EXISTS: Final = "vector.already_exists"
CLOSED: Final = "vector.closed"
CONFIG_MISMATCH: Final = "vector.config_mismatch"
CONFIG_REQUIRED: Final = "vector.config_required"
DIMENSION_MISMATCH: Final = "vector.dimension_mismatch"
EMBEDDER_MISMATCH: Final = "vector.embedder_mismatch"
INVALID_BATCH: Final = "vector.invalid_batch"
INVALID_EF: Final = "vector.invalid_ef"
INVALID_FILTER: Final = "vector.invalid_filter"
INVALID_ID: Final = "vector.invalid_id"
INVALID_K: Final = "vector.invalid_k"
INVALID_METADATA: Final = "vector.invalid_metadata"
INVALID_MIN_SCORE: Final = "vector.invalid_min_score"
INVALID_VECTOR: Final = "vector.invalid_vector"
IO: Final = "vector.io"
LOCKED: Final = "vector.locked"
NOT_FOUND: Final = "vector.not_found"
OUT_OF_MEMORY: Final = "vector.out_of_memory"
SNAPSHOT_EXISTS: Final = "vector.snapshot_exists"
STORAGE: Final = "vector.storage"
STORAGE_CORRUPT: Final = "vector.storage_corrupt"
STORAGE_MISSING: Final = "vector.storage_missing"

DESCRIPTIONS: Final[dict[str, str]] = {
    ALREADY_EXISTS: "insert of an id that already exists (or repeats within the batch)",
    CLOSED: "the store was closed (also: a call that raced close())",
    CONFIG_MISMATCH: "the config contradicts the stored collection, dimensions or distance",
    CONFIG_REQUIRED: "no store at the path and no VectorStoreConfig to create one",
    DIMENSION_MISMATCH: "a vector's length differs from the store's dimensions",
    EMBEDDER_MISMATCH: "the config names another embedder model than the one the collection was built with",
    INVALID_BATCH: "a batch argument has the wrong shape or type",
    INVALID_EF: "ef_search is not an integer in [1, 100000]",
    INVALID_FILTER: "a malformed metadata filter (the path names the offending part)",
    INVALID_ID: "an id is not a 1..512 character string of valid Unicode without NUL",
    INVALID_K: "k is not an integer in [1, 10000]",
    INVALID_METADATA: "metadata is not a JSON object within the limits",
    INVALID_MIN_SCORE: "min_score is not a number",
    INVALID_VECTOR: "a vector is not numeric, not 1-D, holds NaN/inf or its squared norm overflows",
    IO: "a file of the store could not be created or read",
    LOCKED: "the store directory is open in another store object or process",
    NOT_FOUND: "no vector has this id",
    OUT_OF_MEMORY: "indexing ran out of memory even one vector at a time",
    SNAPSHOT_EXISTS: "the snapshot destination exists and is not empty",
    STORAGE: "a transient SQLite failure (locked, busy); retry",
    STORAGE_CORRUPT: "the database or a stored row is damaged; run verify() and restore from a snapshot",
    STORAGE_MISSING: "the database file is missing beside an existing index and manifest",
}
