"""safe_join: a traversal corpus with zero escapes, and the error codes of each rejection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.errors import ValidationError
from llm_infra.fs import safe_join, safe_join_url

CORPUS: list[tuple[str, str]] = [
    ("..", "fs.path_traversal"),
    ("../etc/passwd", "fs.path_traversal"),
    ("a/../../b", "fs.path_traversal"),
    ("a/b/../../..", "fs.path_traversal"),
    ("./..", "fs.path_traversal"),
    ("a/./../..", "fs.path_traversal"),
    ("/etc/passwd", "fs.absolute_path"),
    ("//server/share", "fs.absolute_path"),
    ("\\\\server\\share", "fs.absolute_path"),
    ("\\windows\\system32", "fs.absolute_path"),
    ("C:\\Windows", "fs.absolute_path"),
    ("c:/windows", "fs.absolute_path"),
    ("..\\..\\etc\\passwd", "fs.invalid_path"),
    ("a\\..\\..\\b", "fs.invalid_path"),
    ("a\x00b", "fs.invalid_path"),
    ("\x00", "fs.invalid_path"),
    ("ok/\x00/../x", "fs.invalid_path"),
    ("\uff0e\uff0e", "fs.path_traversal"),  # fullwidth full stops
    ("\uff0e\uff0e/\uff0e\uff0e/etc", "fs.path_traversal"),
    ("\u2025", "fs.path_traversal"),  # two dot leader: NFKC ".."
    ("a/\uff0e\uff0e/\uff0e\uff0e", "fs.path_traversal"),
    ("\uff0e", "fs.path_traversal"),
    ("x\uff0fy", "fs.path_traversal"),  # fullwidth solidus: NFKC "/"
    ("\uff3c..", "fs.path_traversal"),  # fullwidth reverse solidus
]
# Names that look dangerous but are ordinary file names on POSIX (they stay inside the root).
HARMLESS = [
    "%2e%2e",
    "%2e%2e%2fetc%2fpasswd",
    "..%2f..%2fetc",
    "%252e%252e",
    "...",
    "....",
    "a..b",
    "..a",
    "a/./b",
    "./a",
    "a//b",
    "\u3002\u3002",  # ideographic full stops: not dots after NFKC
    "~",
    "~root",
    "$HOME",
    "a b",
    "\u202e",
]


@pytest.mark.parametrize(("part", "code"), CORPUS)
def test_corpus_is_rejected_with_its_code(tmp_path: Path, part: str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        safe_join(tmp_path, part)
    assert info.value.code == code
    with pytest.raises(ValidationError) as again:
        safe_join(tmp_path, "sub", part)
    assert again.value.code == code


@pytest.mark.parametrize("part", HARMLESS)
def test_harmless_names_stay_inside(tmp_path: Path, part: str) -> None:
    joined = safe_join(tmp_path, part)
    root = tmp_path.resolve()
    assert joined.resolve() == root or root in joined.resolve().parents


def test_symlink_escape_is_refused_and_inside_links_are_fine(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "out").symlink_to(outside)
    (root / "in").symlink_to(root / "real")
    (root / "abs").symlink_to("/etc")
    for part in ("out", "out/x", "abs/passwd"):
        with pytest.raises(ValidationError) as info:
            safe_join(root, part)
        assert info.value.code == "fs.symlink_escape"
    assert safe_join(root, "in", "f").name == "f"


def test_bad_types_and_remote_roots() -> None:
    with pytest.raises(ValidationError) as info:
        safe_join("/tmp", 3)  # type: ignore[arg-type]
    assert info.value.code == "fs.invalid_path"
    with pytest.raises(ValidationError) as remote:
        safe_join("s3://bucket", "a")
    assert remote.value.code == "fs.invalid_path"
    assert safe_join_url("s3://bucket/prefix/", "a", "b.json") == "s3://bucket/prefix/a/b.json"
    assert safe_join_url("memory://x") == "memory://x"
    with pytest.raises(ValidationError) as url:
        safe_join_url("s3://bucket", "../other")
    assert url.value.code == "fs.path_traversal"


def test_root_itself_and_pathlike_parts(tmp_path: Path) -> None:
    assert safe_join(tmp_path) == tmp_path.resolve()
    assert safe_join(tmp_path, Path("a") / "b") == tmp_path.resolve() / "a" / "b"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="./\\\x00aé.\uff0e\u2025~%2:C", max_size=12), max_size=4))
def test_no_input_escapes_the_root(parts: list[str]) -> None:
    root = Path(os.environ.get("TMPDIR", "/tmp")).resolve() / "safe-join-root"
    try:
        joined = safe_join(root, *parts)
    except ValidationError as exc:
        codes = {"fs.invalid_path", "fs.absolute_path", "fs.path_traversal", "fs.symlink_escape"}
        if exc.code not in codes:
            raise
        return
    resolved = Path(os.path.normpath(joined))
    assert resolved == root or root in resolved.parents
