"""llm-infra: one infrastructure layer for LLM-operations services.

The root package holds only the version and the error root; it imports no subpackage, so
``import llm_infra`` stays cheap. Import what you need from its subpackage::

    from llm_infra.errors import InfraError
    from llm_infra.vector import open_store
"""

from __future__ import annotations

import logging

from llm_infra.errors._base import InfraError as InfraError

# A library does not print: without the application's logging configuration, records of the
# ``llm_infra.*`` loggers go nowhere (instead of Python's last-resort handler on stderr).
logging.getLogger("llm_infra").addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = ["InfraError", "__version__"]
