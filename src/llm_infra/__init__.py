"""llm-infra: one infrastructure layer for LLM-operations services.

The root package holds only the version and the error root; it imports no subpackage, so
``import llm_infra`` stays cheap. Import what you need from its subpackage::

    from llm_infra.errors import InfraError
    from llm_infra.vector import open_store
"""

from __future__ import annotations

from llm_infra.errors._base import InfraError as InfraError

__version__ = "0.1.0"

__all__ = ["InfraError", "__version__"]
