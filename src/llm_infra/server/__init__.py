"""The llm-infra retrieval service: collections, points, search, documents, jobs and API keys over HTTP.

Built only from the layer: ``llm_infra.vector`` stores, ``llm_infra.auth`` keys/JWTs/RBAC,
``llm_infra.ratelimit``, ``llm_infra.audit``, ``llm_infra.http`` (middleware and ``serve``),
``llm_infra.mq`` (queued ingest) and ``llm_infra.otel``. ``run()`` starts it (``llm-infra serve``,
``python -m llm_infra.server``); ``create_app(settings)`` gives the ASGI app; ``run_worker()``
consumes queued jobs. See docs/service.md.
"""

from llm_infra.server._app import create_app as create_app
from llm_infra.server._run import run as run
from llm_infra.server._run import run_worker as run_worker
from llm_infra.server._settings import SERVICE_KEYS as SERVICE_KEYS
from llm_infra.server._settings import ServiceSettings as ServiceSettings
from llm_infra.server._settings import load_settings as load_settings

__all__ = [
    "SERVICE_KEYS",
    "ServiceSettings",
    "create_app",
    "load_settings",
    "run",
    "run_worker",
]
