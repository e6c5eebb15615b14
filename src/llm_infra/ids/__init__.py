"""Identifiers: UUIDv4, time-ordered UUIDv7 and ULID, NanoID, Snowflake, error ids.

All functions return strings (``Snowflake.next_id`` returns an int) and are thread-safe; the
time-ordered ids are monotonic within the process::

    >>> from llm_infra import ids
    >>> len(ids.uuid7()), len(ids.ulid()), len(ids.nanoid())
    (36, 26, 21)
"""

from llm_infra.ids._ids import DEFAULT_SNOWFLAKE_EPOCH_MS as DEFAULT_SNOWFLAKE_EPOCH_MS
from llm_infra.ids._ids import NANOID_ALPHABET as NANOID_ALPHABET
from llm_infra.ids._ids import Snowflake as Snowflake
from llm_infra.ids._ids import SnowflakeParts as SnowflakeParts
from llm_infra.ids._ids import nanoid as nanoid
from llm_infra.ids._ids import new_error_id as new_error_id
from llm_infra.ids._ids import ulid as ulid
from llm_infra.ids._ids import uuid4 as uuid4
from llm_infra.ids._ids import uuid7 as uuid7

__all__ = [
    "DEFAULT_SNOWFLAKE_EPOCH_MS",
    "NANOID_ALPHABET",
    "Snowflake",
    "SnowflakeParts",
    "nanoid",
    "new_error_id",
    "ulid",
    "uuid4",
    "uuid7",
]
