"""Error codes of the ``ids`` area (``ids.<reason>``), one constant each."""

from __future__ import annotations

from typing import Final

INVALID_SIZE: Final = "ids.invalid_size"
INVALID_ALPHABET: Final = "ids.invalid_alphabet"
INVALID_WORKER: Final = "ids.invalid_worker"
INVALID_EPOCH: Final = "ids.invalid_epoch"
INVALID_ROLLBACK: Final = "ids.invalid_rollback"
CLOCK_ROLLBACK: Final = "ids.clock_rollback"
CLOCK_STALLED: Final = "ids.clock_stalled"
CLOCK_BEFORE_EPOCH: Final = "ids.clock_before_epoch"
TIMESTAMP_OVERFLOW: Final = "ids.timestamp_overflow"

DESCRIPTIONS: Final[dict[str, str]] = {
    INVALID_SIZE: "nanoid was asked for fewer than 1 character",
    INVALID_ALPHABET: "a custom nanoid alphabet does not have 2 to 256 distinct characters",
    INVALID_WORKER: "a Snowflake worker_id is outside 0..1023",
    INVALID_EPOCH: "a Snowflake epoch_ms is negative",
    INVALID_ROLLBACK: "a Snowflake max_rollback_ms is negative",
    CLOCK_ROLLBACK: "the clock stepped back by more than max_rollback_ms (retryable, retry_after set)",
    CLOCK_STALLED: "the clock did not advance while a Snowflake waited for the next millisecond (retryable)",
    CLOCK_BEFORE_EPOCH: "the clock reads a time before the Snowflake epoch",
    TIMESTAMP_OVERFLOW: "the time is beyond the 41-bit Snowflake range of the epoch",
}

__all__ = [
    "CLOCK_BEFORE_EPOCH",
    "CLOCK_ROLLBACK",
    "CLOCK_STALLED",
    "DESCRIPTIONS",
    "INVALID_ALPHABET",
    "INVALID_EPOCH",
    "INVALID_ROLLBACK",
    "INVALID_SIZE",
    "INVALID_WORKER",
    "TIMESTAMP_OVERFLOW",
]
