"""HTTP for llm-infra: a resilient, traced client (sync and async) and server primitives for ASGI apps.

Client::

    from llm_infra.http import HttpClient, HttpTimeout
    from llm_infra.resilience import RetryPolicy

    with HttpClient(base_url="https://api.example.com", timeout=HttpTimeout(deadline=10.0),
                    retry=RetryPolicy(max_attempts=4), circuit_breaker=True) as client:
        items = client.get("/items").json()

Non-2xx responses raise ``HttpError`` (problem+json details, masked body excerpt, ``retry_after``);
idempotent calls are retried with backoff and ``Retry-After``; one breaker per host; every attempt
is a CLIENT span with W3C propagation. ``AsyncHttpClient`` is the asyncio twin (aiohttp's pool
when the ``http-async`` extra is installed); both drive one sans-I/O attempt flow, retry with
``llm_infra.resilience.RetryState`` and bound each call with one ``Deadline``. Server side:
``serve``/``start_server`` run any ASGI app under uvicorn behind the
middleware stack (request ids, access log, server spans, size limits, deadlines, problem+json)
and a protocol that closes every connection once its head, body or idle timeout passes.
"""

from llm_infra.http._async import AsyncHttpClient as AsyncHttpClient
from llm_infra.http._errors import parse_retry_after as parse_retry_after
from llm_infra.http._middleware import AccessLogMiddleware as AccessLogMiddleware
from llm_infra.http._middleware import BodyLimitMiddleware as BodyLimitMiddleware
from llm_infra.http._middleware import CorsConfig as CorsConfig
from llm_infra.http._middleware import CorsMiddleware as CorsMiddleware
from llm_infra.http._middleware import DeadlineMiddleware as DeadlineMiddleware
from llm_infra.http._middleware import HeaderLimitMiddleware as HeaderLimitMiddleware
from llm_infra.http._middleware import ProblemMiddleware as ProblemMiddleware
from llm_infra.http._middleware import RequestIdMiddleware as RequestIdMiddleware
from llm_infra.http._middleware import TracingMiddleware as TracingMiddleware
from llm_infra.http._middleware import current_request_id as current_request_id
from llm_infra.http._middleware import new_request_id as new_request_id
from llm_infra.http._middleware import problem_response as problem_response
from llm_infra.http._options import DEFAULT_USER_AGENT as DEFAULT_USER_AGENT
from llm_infra.http._options import IDEMPOTENT_METHODS as IDEMPOTENT_METHODS
from llm_infra.http._options import BearerAuth as BearerAuth
from llm_infra.http._options import HttpTimeout as HttpTimeout
from llm_infra.http._server import ServerHandle as ServerHandle
from llm_infra.http._server import serve as serve
from llm_infra.http._server import start_server as start_server
from llm_infra.http._server_config import ServerConfig as ServerConfig
from llm_infra.http._sync import HttpClient as HttpClient

__all__ = [
    "AccessLogMiddleware",
    "AsyncHttpClient",
    "BearerAuth",
    "BodyLimitMiddleware",
    "CorsConfig",
    "CorsMiddleware",
    "DEFAULT_USER_AGENT",
    "DeadlineMiddleware",
    "HeaderLimitMiddleware",
    "HttpClient",
    "HttpTimeout",
    "IDEMPOTENT_METHODS",
    "ProblemMiddleware",
    "RequestIdMiddleware",
    "ServerConfig",
    "ServerHandle",
    "TracingMiddleware",
    "current_request_id",
    "new_request_id",
    "parse_retry_after",
    "problem_response",
    "serve",
    "start_server",
]
