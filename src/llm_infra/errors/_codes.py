"""Generic error codes: the defaults of the error classes and the conversions of foreign errors.

Each area's own codes live in ``llm_infra.<area>._codes``; docs/errors.md lists all of them
(``python -m llm_infra.errors._codes_doc docs/errors.md``).
"""

from __future__ import annotations

from typing import Final

INTERNAL_ERROR: Final = "internal.error"
INTERNAL_UNEXPECTED: Final = "internal.unexpected"
IO_ERROR: Final = "io.error"
IO_FAILED: Final = "io.failed"
IO_NOT_FOUND: Final = "io.not_found"
IO_PERMISSION_DENIED: Final = "io.permission_denied"
IO_DISK_FULL: Final = "io.disk_full"
VALIDATION_INVALID: Final = "validation.invalid"
SERIALIZATION_INVALID: Final = "serialization.invalid"
TIMEOUT_EXCEEDED: Final = "timeout.exceeded"
EXTERNAL_ERROR: Final = "external.error"
BATCH_ALL_FAILED: Final = "batch.all_failed"

DESCRIPTIONS: Final[dict[str, str]] = {
    INTERNAL_ERROR: "An InfraError raised without a more specific code.",
    INTERNAL_UNEXPECTED: "A foreign exception with no registered converter (a bug to report).",
    IO_ERROR: "A filesystem operation failed.",
    IO_FAILED: "An atomic write or another file operation failed (see the errno in the context).",
    IO_NOT_FOUND: "A file or directory does not exist.",
    IO_PERMISSION_DENIED: "The process may not read or write the path.",
    IO_DISK_FULL: "The disk (or the quota) is full.",
    VALIDATION_INVALID: "An input value is invalid (the field and the expectation are named).",
    SERIALIZATION_INVALID: "Data cannot be encoded or decoded.",
    TIMEOUT_EXCEEDED: "An operation did not finish within its deadline.",
    EXTERNAL_ERROR: "An external service failed.",
    BATCH_ALL_FAILED: "Every item of a batch failed.",
}
