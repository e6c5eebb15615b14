"""Error codes of the vector backends, composition wrappers, migration and embedders."""

from __future__ import annotations

from typing import Final

INVALID_URL: Final = "vector.invalid_url"
PG_EXTENSION_MISSING: Final = "vector.pg_extension_missing"
PG_DIMENSIONS_UNSUPPORTED: Final = "vector.pg_dimensions_unsupported"
PG_COLLECTION_NAME: Final = "vector.pg_collection_name"
POSTGRES_UNAVAILABLE: Final = "vector.postgres_unavailable"
POSTGRES_ERROR: Final = "vector.postgres_error"
QDRANT_UNAVAILABLE: Final = "vector.qdrant_unavailable"
QDRANT_ERROR: Final = "vector.qdrant_error"
COLLECTION_MISSING: Final = "vector.collection_missing"
CONFIG_MISMATCH: Final = "vector.config_mismatch"
CLOSED: Final = "vector.closed"
MIGRATION_MISMATCH: Final = "vector.migration_mismatch"
MIGRATION_CHECKPOINT: Final = "vector.migration_checkpoint"
MIGRATION_UNSUPPORTED: Final = "vector.migration_unsupported"
EMBEDDER_DIMENSION_MISMATCH: Final = "vector.embedder_dimension_mismatch"
EMBEDDER_MISMATCH: Final = "vector.embedder_mismatch"
EMBEDDER_ERROR: Final = "vector.embedder_error"
EMBEDDER_MODEL_MISSING: Final = "vector.embedder_model_missing"
INVALID_TEXT: Final = "vector.invalid_text"
RUVECTOR_ERROR: Final = "vector.ruvector_error"

DESCRIPTIONS: Final[dict[str, str]] = {
    INVALID_URL: "a vector store URL has an unknown scheme or is missing its collection",
    PG_EXTENSION_MISSING: "the pgvector extension is missing from the database (CREATE EXTENSION vector)",
    PG_DIMENSIONS_UNSUPPORTED: "pgvector cannot index vectors of this many dimensions with this tier",
    PG_COLLECTION_NAME: "the collection name is too long for a Postgres table name",
    POSTGRES_UNAVAILABLE: "Postgres could not be reached or the transaction must be retried (retryable)",
    POSTGRES_ERROR: "Postgres rejected a statement of the vector backend",
    QDRANT_UNAVAILABLE: "Qdrant could not be reached (retryable)",
    QDRANT_ERROR: "Qdrant rejected a request of the vector backend",
    COLLECTION_MISSING: "the collection does not exist and no config was given to create it",
    CONFIG_MISMATCH: "the config contradicts the stored collection (collection, dimensions, distance)",
    CLOSED: "the store was closed",
    MIGRATION_MISMATCH: "the migrated destination differs from the source (counts, vectors or metadata)",
    MIGRATION_CHECKPOINT: "a migration checkpoint file is unreadable or belongs to another migration",
    MIGRATION_UNSUPPORTED: "a store cannot be iterated, so it cannot be a migration source",
    EMBEDDER_DIMENSION_MISMATCH: "an embedder returned vectors of another length than expected",
    EMBEDDER_MISMATCH: "the collection was built with another embedding model",
    EMBEDDER_ERROR: "an embedding endpoint returned a malformed answer",
    EMBEDDER_MODEL_MISSING: "the local embedding model files are not installed",
    INVALID_TEXT: "a text to embed is not a non-empty string",
    RUVECTOR_ERROR: "a ruvector-compatible call failed (the operation is named)",
}
