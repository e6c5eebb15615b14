"""Lazy imports of optional backends with an install hint, and lazy package attributes."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any


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


def lazy_getattr(
    package: str, modules: Mapping[str, str], *, needs: Sequence[str] = (), extra: str = ""
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name of ``modules`` from its module on first use.

    Args:
        package: the package's ``__name__`` (for the ``AttributeError`` message).
        modules: each lazy name with the module that defines it.
        needs: modules to ``require`` first, so a missing dependency names its pip line.
        extra: the llm-infra extra that brings ``needs``.
    """

    def module_getattr(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        for dependency in needs:
            require(dependency, extra)
        return getattr(importlib.import_module(module), name)

    return module_getattr
