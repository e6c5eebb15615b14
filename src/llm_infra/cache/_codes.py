"""Error codes of ``llm_infra.cache``."""

from __future__ import annotations

from typing import Final

ASYNC_BACKEND: Final = "cache.async_backend"
INVALID_SIZE: Final = "cache.invalid_size"
INVALID_TTL: Final = "cache.invalid_ttl"
INVALID_LEVEL: Final = "cache.invalid_level"
INVALID_NAME: Final = "cache.name"
NO_BACKEND: Final = "cache.no_backend"
REDIS_ERROR: Final = "cache.redis_error"
REDIS_UNAVAILABLE: Final = "cache.redis_unavailable"

DESCRIPTIONS: Final[dict[str, str]] = {
    ASYNC_BACKEND: "A sync function or call was paired with an async cache level.",
    INVALID_SIZE: "max_size is not an int >= 0.",
    INVALID_TTL: "A time-to-live is not a finite number of seconds > 0 (or None).",
    INVALID_LEVEL: "A TieredCache level is not a cache.",
    INVALID_NAME: "A cache name for the metrics is empty or not a string.",
    NO_BACKEND: "RedisCache was given neither a client nor a URL.",
    REDIS_ERROR: "Redis refused a cache command.",
    REDIS_UNAVAILABLE: "Redis cannot be reached (retryable).",
}
