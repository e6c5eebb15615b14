"""Lazy imports of optional backends with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``ConfigError`` with the exact ``pip install`` line.

    Args:
        module: the module to import, e.g. ``"redis.asyncio"``.
        extra: the llm-infra extra that brings it, e.g. ``"redis"``.

    Raises:
        ConfigError: with code ``config.missing_extra`` when the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from llm_infra.errors import ConfigError

        raise ConfigError(
            f"{module!r} is not installed; run: pip install 'llm-infra[{extra}]'",
            code="config.missing_extra",
            remediation=[f"pip install 'llm-infra[{extra}]'"],
        ) from exc
