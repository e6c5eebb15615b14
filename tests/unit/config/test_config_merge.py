"""Deep merge: semantics, list rule, conflicts, and associativity (property-tested)."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra.config import Config, Key
from llm_infra.config._tree import Path, merge_trees, thaw
from llm_infra.errors import ConfigError


class _Conflict(Exception):
    pass


def _conflict(path: Path) -> NoReturn:
    raise _Conflict(path)


def _merge(*trees: dict[str, Any]) -> Any:
    try:
        return thaw(merge_trees(list(trees), _conflict), reveal_secrets=True)
    except _Conflict:
        return "conflict"


KEYS = st.sampled_from(["a", "b", "c"])
SCALARS = st.one_of(st.integers(-3, 3), st.text("xy", max_size=2), st.booleans())
VALUES = st.recursive(
    st.one_of(SCALARS, st.lists(SCALARS, max_size=3)),
    lambda children: st.dictionaries(KEYS, children, max_size=3),
    max_leaves=8,
)
TREES = st.dictionaries(KEYS, VALUES, max_size=3)


@settings(max_examples=300, deadline=None)
@given(TREES, TREES, TREES)
def test_tree_merge_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    """(a + b) + c equals a + (b + c), conflicts included (both groupings fail or both agree)."""
    left_inner = _merge(a, b)
    right_inner = _merge(b, c)
    left = "conflict" if left_inner == "conflict" else _merge(left_inner, c)
    right = "conflict" if right_inner == "conflict" else _merge(a, right_inner)
    assert left == right
    assert left == _merge(a, b, c)


@settings(max_examples=100, deadline=None)
@given(TREES, TREES, TREES)
def test_config_merge_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    """``Config.merge`` is associative in values and in provenance."""

    try:
        ca, cb, cc = Config(a, name="a"), Config(b, name="b"), Config(c, name="c")
    except ConfigError:
        return
    try:
        left: Config | None = ca.merge(cb).merge(cc)
    except ConfigError:
        left = None
    try:
        right: Config | None = ca.merge(cb.merge(cc))
    except ConfigError:
        right = None
    assert (left is None) == (right is None)
    if left is not None and right is not None:
        assert left == right
        assert left.to_dict() == right.to_dict()
        assert [str(e) for e in left.explain_all()] == [str(e) for e in right.explain_all()]


def test_sections_merge_key_by_key() -> None:
    """Sections merge recursively; values of the later config win."""
    base = Config({"db": {"host": "a", "port": 1}, "x": 1})
    top = Config({"db": {"port": 2, "user": "u"}})
    assert base.merge(top).to_dict() == {"db": {"host": "a", "port": 2, "user": "u"}, "x": 1}


def test_lists_are_replaced_wholesale() -> None:
    """A later list replaces an earlier one (no concatenation, no index-wise merge)."""
    merged = Config({"hosts": ["a", "b", "c"]}).merge(Config({"hosts": ["d"]}))
    assert merged.get("hosts") == ("d",)


def test_section_value_conflict() -> None:
    """A section meeting a value is an error whichever comes first."""
    with pytest.raises(ConfigError) as info:
        Config({"db": {"host": "a"}}).merge(Config({"db": "postgres://"}))
    assert info.value.code == "config.type_conflict"
    assert "is a section in override (mapping) but a value in override (mapping)" in info.value.message
    with pytest.raises(ConfigError) as raised:
        Config({"db": 1}).merge(Config({"db": {"host": "a"}}))
    assert raised.value.code == "config.type_conflict"


def test_empty_section_merges() -> None:
    """An empty section is kept and merges with later content."""
    assert Config({"a": {}}).to_dict() == {"a": {}}
    assert Config({"a": {}}).merge(Config({"a": {"b": 1}})).to_dict() == {"a": {"b": 1}}


def test_merge_keeps_provenance_and_declared_keys() -> None:
    """After a merge, explain names the layer that won and what it shadowed; declared keys carry over."""
    key = Key("app.port", cast=int)
    left = Config({"app.port": 1}, name="left")
    right = Config({"app.port": "2"}, name="right")
    merged = left.merge(right)
    explanation = merged.explain("app.port")
    assert explanation.origin is not None
    assert explanation.origin.name == "right"
    assert [o.name for o in explanation.shadowed] == ["left"]
    assert merged.get(key) == 2
    assert merged.sources == ("left", "right")


def test_merge_combines_load_info() -> None:
    """Merged configs remember both loads' files and prefixes."""
    from llm_infra.config import LoadInfo

    a = LoadInfo(files=(("a.toml", True),), env_prefixes=("LLM_",), loaded_at=1.0)
    b = LoadInfo(files=(("b.toml", False),), env_prefixes=("LLM_", "APP_"), loaded_at=2.0)
    assert a.combine(b) == LoadInfo((("a.toml", True), ("b.toml", False)), ("LLM_", "APP_"), 2.0)
