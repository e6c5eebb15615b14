"""docs/troubleshooting.md is true for this code: every code it lists is produced by the source,
and every fix the command prints is written there, under its code, word for word."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from llm_infra.cli import _codes
from llm_infra.cli._guide import FIXES, anchor, heading, slug

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "troubleshooting.md"
SRC = ROOT / "src" / "llm_infra"
_HEADING = re.compile(r"^### `([^`]+)`\s*$", re.MULTILINE)
_ERROR_LINE = re.compile(r"error\[([a-z_.]+)\]")


@cache
def _source() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.py")))


@cache
def _sections() -> dict[str, str]:
    text = GUIDE.read_text(encoding="utf-8")
    marks = list(_HEADING.finditer(text))
    return {
        m.group(1): text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        for i, m in enumerate(marks)
    }


def produced(code: str) -> bool:
    """Whether the source can produce ``code``.

    A literal ``"code"`` (constants in ``_codes.py`` modules included); ``auth.<kind>`` from
    ``AuthError(kind="<kind>")``; ``<area>.<reason>`` from the shared converters' f-string template.
    """
    source = _source()
    if f'"{code}"' in source:
        return True
    area, _, reason = code.partition(".")
    if area == "<area>":
        return "{area}." + reason + '"' in source
    if area == "auth" and f'kind="{reason}"' in source:
        return True
    if reason in ("redis_unavailable", "postgres_unavailable"):
        return "{area}." + reason + '"' in source and f'area="{area}"' in source
    return False


def test_guide_lists_every_entry_and_nothing_else() -> None:
    """The guide's headings are exactly the entries of ``FIXES``."""
    assert sorted(_sections()) == sorted(heading(entry) for entry in FIXES)


@pytest.mark.parametrize("code", sorted(_HEADING.findall(GUIDE.read_text(encoding="utf-8"))))
def test_every_listed_code_is_produced_by_the_source(code: str) -> None:
    """No code in the guide is invented: the source raises it."""
    assert produced(code), f"{code} is listed in docs/troubleshooting.md but no source produces it"


def test_every_code_in_the_examples_is_produced() -> None:
    """The ``error[...]`` lines quoted in the examples name real codes too."""
    for code in set(_ERROR_LINE.findall(GUIDE.read_text(encoding="utf-8"))):
        assert produced(code) or produced("<area>." + code.partition(".")[2]), code


@pytest.mark.parametrize("entry", sorted(FIXES))
def test_fixes_are_quoted_word_for_word(entry: str) -> None:
    """Each fix the command prints appears, as a list item, in the entry's section."""
    section = _sections()[heading(entry)]
    for line in FIXES[entry]:
        assert f"- {line}\n" in section, f"{entry}: {line!r} missing from its section"


def test_printed_anchors_point_at_headings() -> None:
    """The ``see:`` link the command prints resolves to a heading of the guide."""
    slugs = {slug(f"`{h}`") for h in _sections()}
    printed = [
        "vector.locked",
        "ratelimit.redis_unavailable",
        "auth.postgres_unavailable",
        *_codes.DESCRIPTIONS,
    ]
    for code in printed:
        assert anchor(code) in slugs, code


def test_common_problems_are_covered() -> None:
    """The guide covers the problems users hit first."""
    listed = set(_sections())
    for code in (
        "config.parse_error",
        "config.missing_extra",
        "vector.dimension_mismatch",
        "vector.locked",
        "vector.storage_corrupt",
        "auth.invalid_credentials",
        "auth.insufficient_permissions",
        "rate_limited",
        "http.timeout",
        "circuit.open",
        "<area>.redis_unavailable",
        "<area>.postgres_unavailable",
    ):
        assert code in listed, code


def test_the_checker_rejects_an_invented_code() -> None:
    """The check is not vacuous."""
    assert not produced("vector.made_up_reason")
    assert not produced("auth.made_up_kind")
    assert produced("vector.locked")
    assert produced("auth.invalid_token")
