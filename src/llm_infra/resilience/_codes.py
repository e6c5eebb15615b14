"""Error codes of ``llm_infra.resilience`` (``resilience.<reason>``), one constant each."""

from __future__ import annotations

from typing import Final

INVALID_POLICY: Final = "resilience.invalid_policy"
INVALID_BREAKER: Final = "resilience.invalid_breaker"
INVALID_POOL: Final = "resilience.invalid_pool"
INVALID_HEALTH_CHECKER: Final = "resilience.invalid_health_checker"
INVALID_BATCH_PROCESSOR: Final = "resilience.invalid_batch_processor"
ASYNC_FN_IN_SYNC_PROCESS: Final = "resilience.async_fn_in_sync_process"
UNKNOWN_OPTION: Final = "resilience.unknown_option"
DUPLICATE_BATCH_ID: Final = "resilience.duplicate_batch_id"
POOL_CLOSED: Final = "resilience.pool_closed"
POOL_TIMEOUT: Final = "resilience.pool_timeout"
POOL_FACTORY_FAILED: Final = "resilience.pool_factory_failed"

DESCRIPTIONS: Final[dict[str, str]] = {
    INVALID_POLICY: "a RetryPolicy (or set_testing) value is out of range",
    INVALID_BREAKER: "a CircuitBreaker threshold or timeout is out of range",
    INVALID_POOL: "a ResourcePool size or retry_after is out of range",
    INVALID_HEALTH_CHECKER: "a HealthChecker interval or timeout is out of range",
    INVALID_BATCH_PROCESSOR: "a ParallelBatchProcessor worker count is out of range",
    ASYNC_FN_IN_SYNC_PROCESS: "an async function was given to the synchronous batch processor",
    UNKNOWN_OPTION: "retry() was given an option that belongs on RetryPolicy",
    DUPLICATE_BATCH_ID: "two items of one batch share an id",
    POOL_CLOSED: "a ResourcePool was used after close()",
    POOL_TIMEOUT: "no ResourcePool permit became free in time (retryable, with retry_after)",
    POOL_FACTORY_FAILED: "the ResourcePool factory raised while creating a resource",
}
"""Each ``resilience.*`` code and its one-line meaning."""
