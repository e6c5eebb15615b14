"""Recovery: retry with backoff, circuit breaker, timeouts, resource pool, health, batch processing.

Retry and breaker decisions come from ``InfraError.retryable``/``retry_after`` only. Retrying is
one pure state machine (``RetryState.on_error(exc, now) -> delay | None``) driven by ``retry`` and
by both HTTP clients; the circuit breaker is a pure state machine
(``before_call(now)``/``record(ok, now)``) with thin sync and async drivers; every clock is injectable::

    from llm_infra.resilience import CircuitBreaker, RetryPolicy, retry

    breaker = CircuitBreaker("search", failure_threshold=5, reset_timeout=30.0)

    @retry(RetryPolicy(max_attempts=4, base_delay=0.2, deadline=10.0))
    @breaker
    async def search(query: str) -> list[str]: ...
"""

from llm_infra.resilience._batch import ParallelBatchProcessor as ParallelBatchProcessor
from llm_infra.resilience._batch import ProcessedBatch as ProcessedBatch
from llm_infra.resilience._breaker import CircuitBreaker as CircuitBreaker
from llm_infra.resilience._breaker import CircuitState as CircuitState
from llm_infra.resilience._breaker import Listener as Listener
from llm_infra.resilience._breaker import circuit as circuit
from llm_infra.resilience._breaker import counts_as_failure as counts_as_failure
from llm_infra.resilience._health import Capabilities as Capabilities
from llm_infra.resilience._health import Degradable as Degradable
from llm_infra.resilience._health import HealthChecker as HealthChecker
from llm_infra.resilience._health import HealthState as HealthState
from llm_infra.resilience._health import HealthStatus as HealthStatus
from llm_infra.resilience._pool import ResourcePool as ResourcePool
from llm_infra.resilience._retry import Jitter as Jitter
from llm_infra.resilience._retry import RetryAttempt as RetryAttempt
from llm_infra.resilience._retry import RetryOn as RetryOn
from llm_infra.resilience._retry import RetryPolicy as RetryPolicy
from llm_infra.resilience._retry import RetryState as RetryState
from llm_infra.resilience._retry import is_testing as is_testing
from llm_infra.resilience._retry import retry as retry
from llm_infra.resilience._retry import set_testing as set_testing
from llm_infra.resilience._timeout import Deadline as Deadline
from llm_infra.resilience._timeout import with_timeout as with_timeout

__all__ = [
    "Capabilities",
    "CircuitBreaker",
    "CircuitState",
    "Deadline",
    "Degradable",
    "HealthChecker",
    "HealthState",
    "HealthStatus",
    "Jitter",
    "Listener",
    "ParallelBatchProcessor",
    "ProcessedBatch",
    "ResourcePool",
    "RetryAttempt",
    "RetryOn",
    "RetryPolicy",
    "RetryState",
    "circuit",
    "counts_as_failure",
    "is_testing",
    "retry",
    "set_testing",
    "with_timeout",
]
