"""The ``llm-infra`` command line (typer + rich).

``llm-infra serve`` runs the retrieval service; the other commands operate what it is built from:
``config show|validate``, ``vector create|import|search|stats|verify|rebuild|snapshot|migrate``,
``keys create|list|revoke``, ``jwt issue|verify``, ``audit verify``, ``id uuid7|ulid|snowflake``,
``mq publish|consume`` and ``doctor``. Configuration comes from ``./llm-infra.toml`` (or
``--config``) and ``LLM_*`` environment variables. Every error prints its code, message and
remediation and exits with status 1 (2 for usage errors); ``--debug`` adds the traceback.
``python -m llm_infra`` is the same command. See docs/cli.md.
"""

from llm_infra.cli._app import app as app
from llm_infra.cli._app import main as main

__all__ = ["app", "main"]
