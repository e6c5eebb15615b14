"""Every ```python block of docs/*.md runs on its own (fresh namespace, imports included) in a temp cwd."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = sorted(p for p in DOCS.glob("*.md") if _BLOCK.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_doc_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each python example of the page executes on its own, as a reader would paste it."""
    monkeypatch.chdir(tmp_path)
    text = page.read_text(encoding="utf-8")
    for number, match in enumerate(_BLOCK.finditer(text), start=1):
        # A real module in sys.modules, so examples may define dataclasses and pickle-able classes.
        module = types.ModuleType(f"docs_{page.stem}_{number}")
        monkeypatch.setitem(sys.modules, module.__name__, module)
        line = text.count("\n", 0, match.start()) + 2
        code = compile(match.group(1), f"{page.name}:block{number}:line{line}", "exec")
        exec(code, module.__dict__)
    assert os.getcwd() == str(tmp_path)
