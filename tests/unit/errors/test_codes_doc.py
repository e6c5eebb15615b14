"""The error-code table of docs/errors.md is generated from every area's ``_codes`` module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_infra.errors._codes_doc import code_modules, codes_table, main, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "errors.md"
CODE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def test_docs_errors_table_is_up_to_date() -> None:
    """Regenerate with ``python -m llm_infra.errors._codes_doc docs/errors.md`` when this fails."""
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text


def test_every_area_module_is_found_and_well_formed() -> None:
    """Each _codes module maps every constant to a one-line meaning, named <area>.<reason>."""
    modules = {module.__name__ for module in code_modules()}
    assert {"llm_infra.config._codes", "llm_infra.errors._codes", "llm_infra.audit._codes"} <= modules
    for module in code_modules():
        area = module.__name__.split(".")[1]
        # A module may name another area's code it raises (crypto raises auth.invalid_token); the
        # table lists each code under its own area. ``errors`` holds the generic codes of every area.
        constants = {
            value
            for name, value in vars(module).items()
            if name.isupper()
            and isinstance(value, str)
            and (area == "errors" or value.startswith(f"{area}."))
        }
        assert constants == set(module.DESCRIPTIONS), module.__name__
        for code, meaning in module.DESCRIPTIONS.items():
            assert CODE.match(code), code
            assert meaning
            assert "\n" not in meaning


def test_table_lists_the_codes_and_main_rewrites_a_page(tmp_path: Path) -> None:
    """The table has one row per code; main() rewrites the page between the markers."""
    table = codes_table()
    assert "| `config.file_too_large` | config |" in table
    assert "| `audit.head_missing` | audit |" in table
    page = tmp_path / "errors.md"
    page.write_text(DOC.read_text(encoding="utf-8").replace(table, ""), encoding="utf-8")
    assert main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")
    assert main([]) == 2


@pytest.mark.parametrize("area", ["config", "otel", "audit", "cache", "errors"])
def test_area_codes_exist(area: str) -> None:
    """The areas of this layer all define their codes."""
    assert any(m.__name__ == f"llm_infra.{area}._codes" for m in code_modules())
