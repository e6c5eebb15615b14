"""Rate limiting: GCRA (default), token bucket and sliding window, in memory or in Redis.

``RateLimiter(limit, period, burst=None, algorithm="gcra", backend=None, clock=None)`` decides
with ``check(key, cost=1) -> Decision(allowed, remaining, retry_after, reset_after, limit)`` or
raises ``RateLimitedError`` from ``acquire``. The memory backend answers in about a microsecond;
``RedisBackend`` runs one atomic Lua script per decision, so one limit holds across processes.
``RateLimitMiddleware`` applies a limiter to an ASGI app with the IETF ``RateLimit-*`` headers.

Example::

    >>> from llm_infra.ratelimit import RateLimiter
    >>> limiter = RateLimiter(limit=10, period=60.0)
    >>> decision = limiter.check("user:42")
    >>> decision.allowed, decision.remaining
    (True, 9)
"""

from llm_infra.ratelimit._core import Algorithm as Algorithm
from llm_infra.ratelimit._core import Decision as Decision
from llm_infra.ratelimit._core import LimitSpec as LimitSpec
from llm_infra.ratelimit._limiter import RateLimiter as RateLimiter
from llm_infra.ratelimit._memory import MemoryBackend as MemoryBackend
from llm_infra.ratelimit._metrics import register_metrics as register_metrics
from llm_infra.ratelimit._middleware import RateLimitEvent as RateLimitEvent
from llm_infra.ratelimit._middleware import RateLimitMiddleware as RateLimitMiddleware
from llm_infra.ratelimit._middleware import client_address as client_address
from llm_infra.ratelimit._middleware import client_network as client_network
from llm_infra.ratelimit._middleware import identity_subject as identity_subject
from llm_infra.ratelimit._middleware import rate_limit_headers as rate_limit_headers
from llm_infra.ratelimit._middleware import request_key as request_key
from llm_infra.ratelimit._redis import RedisBackend as RedisBackend

__all__ = [
    "Algorithm",
    "Decision",
    "LimitSpec",
    "MemoryBackend",
    "RateLimitEvent",
    "RateLimitMiddleware",
    "RateLimiter",
    "RedisBackend",
    "client_address",
    "client_network",
    "identity_subject",
    "rate_limit_headers",
    "register_metrics",
    "request_key",
]
