"""The error-code modules of json, ids and validation: one described constant per ``<area>.<reason>``.

Parametrised by area so that further areas can be added to ``AREAS``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

AREAS = ["json", "ids", "validation"]


def _codes(area: str) -> ModuleType:
    return importlib.import_module(f"llm_infra.{area}._codes")


def _constants(module: ModuleType) -> dict[str, str]:
    return {k: v for k, v in vars(module).items() if k.isupper() and k != "DESCRIPTIONS"}


@pytest.mark.parametrize("area", AREAS)
def test_every_code_is_a_described_constant(area: str) -> None:
    """Each constant is ``<area>.<reason>`` with a one-line description; nothing else is described."""
    module = _codes(area)
    assert set(_constants(module).values()) == set(module.DESCRIPTIONS)
    for code, text in module.DESCRIPTIONS.items():
        assert re.fullmatch(rf"{area}\.[a-z][a-z0-9_]*", code), code
        assert text
        assert "\n" not in text
    assert sorted(module.__all__) == sorted([*_constants(module), "DESCRIPTIONS"])


@pytest.mark.parametrize("area", AREAS)
def test_sources_raise_only_the_constants(area: str) -> None:
    """No module of the area writes a code as a string literal, and every constant is raised somewhere."""
    folder = Path(_codes(area).__file__).parent
    text = "".join(
        p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py")) if p.name != "_codes.py"
    )
    assert not re.search(r"\bcode=['\"]", text)
    assert set(re.findall(r"_codes\.([A-Z_]+)", text)) == set(_constants(_codes(area)))
