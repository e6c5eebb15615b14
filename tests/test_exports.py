"""Each public subpackage's ``__all__`` is pinned: adding or removing a public name is a deliberate act."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import llm_infra

EXPORTS: dict[str, list[str]] = {
    "llm_infra.errors": [
        "AlreadyExistsError",
        "AuthError",
        "BatchError",
        "BatchFailure",
        "BatchResult",
        "CircuitOpenError",
        "ConfigError",
        "CryptoError",
        "ErrorContext",
        "ErrorKind",
        "ExternalError",
        "HttpError",
        "InfraError",
        "IoError",
        "MessageQueueError",
        "NotFoundError",
        "OperationTimeout",
        "RateLimitedError",
        "SerializationError",
        "SourceLocation",
        "TraceIds",
        "ValidationError",
        "VectorError",
        "error_context",
        "register_converter",
        "to_infra_error",
    ],
    "llm_infra.secrets": ["MASK", "Secret", "reveal"],
    "llm_infra.testing": ["FakeClock"],
}

PUBLIC = sorted(
    m.name
    for m in pkgutil.iter_modules(llm_infra.__path__, "llm_infra.")
    if not m.name.split(".")[-1].startswith("_")
)


def test_every_public_subpackage_is_pinned() -> None:
    """Every public subpackage appears in EXPORTS and vice versa."""
    assert sorted(EXPORTS) == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_pinned_sorted_and_resolvable(name: str) -> None:
    """``__all__`` equals the pinned list, is sorted, and every name resolves to a documented object."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == EXPORTS[name]
    assert exported == sorted(exported)
    assert module.__doc__
    for attr in exported:
        obj = getattr(module, attr)
        if callable(obj):
            assert obj.__doc__, f"{name}.{attr} has no docstring"
