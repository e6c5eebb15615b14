"""Error codes of the ``ratelimit`` area (``ratelimit.<reason>``), one constant each."""

from __future__ import annotations

from typing import Final

INVALID: Final = "ratelimit.invalid"
INVALID_COST: Final = "ratelimit.invalid_cost"
COST_EXCEEDS_BURST: Final = "ratelimit.cost_exceeds_burst"
NAME_CONFLICT: Final = "ratelimit.name_conflict"
NO_SYNC_CLIENT: Final = "ratelimit.no_sync_client"
NO_ASYNC_CLIENT: Final = "ratelimit.no_async_client"
REDIS_UNAVAILABLE: Final = "ratelimit.redis_unavailable"
REDIS_ERROR: Final = "ratelimit.redis_error"
MISORDERED: Final = "ratelimit.misordered"
AREA: Final = "ratelimit"
"""The ``area`` given to the shared redis error converter (codes ``ratelimit.redis_*``)."""

DESCRIPTIONS: Final[dict[str, str]] = {
    INVALID: "a limit parameter (limit, period, burst, algorithm, max_keys, prefix) is out of range",
    INVALID_COST: "the cost of a check is not an int >= 0",
    COST_EXCEEDS_BURST: "the cost of a check is larger than the limit can ever allow at once",
    NAME_CONFLICT: "two different limits use the same name on one backend",
    NO_SYNC_CLIENT: "the Redis backend was built with only an async client and a sync check was made",
    NO_ASYNC_CLIENT: "the Redis backend was built with only a sync client and an async check was made",
    REDIS_UNAVAILABLE: "Redis could not be reached or timed out (retryable)",
    REDIS_ERROR: "Redis refused the rate-limit script",
    MISORDERED: "RateLimitMiddleware keyed by identity runs outside the auth middleware",
}

__all__ = [
    "AREA",
    "COST_EXCEEDS_BURST",
    "DESCRIPTIONS",
    "INVALID",
    "INVALID_COST",
    "MISORDERED",
    "NAME_CONFLICT",
    "NO_ASYNC_CLIENT",
    "NO_SYNC_CLIENT",
    "REDIS_ERROR",
    "REDIS_UNAVAILABLE",
]
