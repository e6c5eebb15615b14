"""Tests of merge_patch (RFC 7386 appendix A), JSON Pointer (RFC 6901 §5) and diff."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra import json
from llm_infra.errors import InfraError, NotFoundError, ValidationError

RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_examples(target: Any, patch: Any, result: Any) -> None:
    """Every example of RFC 7386 appendix A gives the RFC's result, without mutating inputs."""
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    assert json.merge_patch(target, patch) == result
    assert target == before_target
    assert patch == before_patch


RFC6901_DOC = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}

RFC6901_EXAMPLES = [
    ("", RFC6901_DOC),
    ("/foo", ["bar", "baz"]),
    ("/foo/0", "bar"),
    ("/", 0),
    ("/a~1b", 1),
    ("/c%d", 2),
    ("/e^f", 3),
    ("/g|h", 4),
    ("/i\\j", 5),
    ('/k"l', 6),
    ("/ ", 7),
    ("/m~0n", 8),
]

RFC6901_FRAGMENTS = [
    ("#", RFC6901_DOC),
    ("#/foo", ["bar", "baz"]),
    ("#/foo/0", "bar"),
    ("#/", 0),
    ("#/a~1b", 1),
    ("#/c%25d", 2),
    ("#/e%5Ef", 3),
    ("#/g%7Ch", 4),
    ("#/i%5Cj", 5),
    ("#/k%22l", 6),
    ("#/%20", 7),
    ("#/m~0n", 8),
]


@pytest.mark.parametrize(("pointer", "value"), RFC6901_EXAMPLES + RFC6901_FRAGMENTS)
def test_pointer_get_rfc6901_examples(pointer: str, value: Any) -> None:
    """The RFC 6901 §5 and §6 examples resolve to the RFC's values."""
    assert json.pointer_get(RFC6901_DOC, pointer) == value


def test_escape_order_is_tilde_one_first() -> None:
    """'~01' decodes to '~1' (not '/'), as RFC 6901 §4 requires."""
    assert json.parse_pointer("/~01") == ["~1"]
    assert json.pointer_get({"~1": "x"}, "/~01") == "x"
    assert json.escape_token("a/~b") == "a~1~0b"


@pytest.mark.parametrize(
    "pointer", ["foo", "/foo/01", "/foo/-1", "/foo/x", "/m~2n", "/m~", "/foo/\u0661"], ids=repr
)
def test_invalid_pointers(pointer: str) -> None:
    """Malformed pointers and array indexes raise ValidationError json.invalid_pointer."""
    with pytest.raises(ValidationError) as info:
        json.pointer_get(RFC6901_DOC, pointer)
    assert info.value.code == "json.invalid_pointer"
    assert info.value.field == "pointer"


@pytest.mark.parametrize("pointer", ["/missing", "/foo/2", "/foo/-", "/foo/0/x", "/a~1b/c"])
def test_missing_paths(pointer: str) -> None:
    """Unresolvable pointers raise NotFoundError, or return the default when one is given."""
    with pytest.raises(NotFoundError) as info:
        json.pointer_get(RFC6901_DOC, pointer)
    assert info.value.code == "json.pointer_not_found"
    assert json.pointer_get(RFC6901_DOC, pointer, default=None) is None


def test_pointer_set() -> None:
    """pointer_set adds and replaces members, replaces and appends array items, and replaces the root."""
    doc: Any = {"a": {"b": [1, 2]}}
    assert json.pointer_set(doc, "/a/c", 3) is doc
    json.pointer_set(doc, "/a/b/0", 10)
    json.pointer_set(doc, "/a/b/-", 30)
    json.pointer_set(doc, "/a/b/3", 40)
    json.pointer_set(doc, "/x~1y", {"z": None})
    assert doc == {"a": {"b": [10, 2, 30, 40], "c": 3}, "x/y": {"z": None}}
    assert json.pointer_set(doc, "", [1]) == [1]


@pytest.mark.parametrize(
    ("pointer", "error", "code"),
    [
        ("/nope/x", NotFoundError, "json.pointer_not_found"),
        ("/a/b/9", NotFoundError, "json.pointer_not_found"),
        ("/a/b/01", ValidationError, "json.invalid_pointer"),
        ("/s/x", NotFoundError, "json.pointer_not_found"),
    ],
)
def test_pointer_set_errors(pointer: str, error: type[InfraError], code: str) -> None:
    """Setting under a missing parent, past the end or into a scalar fails clearly."""
    with pytest.raises(error) as info:
        json.pointer_set({"a": {"b": [1]}, "s": "str"}, pointer, 0)
    assert info.value.code == code


def apply_changes(doc: Any, changes: list[json.JsonChange]) -> Any:
    """Apply diff output as RFC 6902 operations (add/remove/replace)."""
    doc = copy.deepcopy(doc)
    for change in changes:
        if change.op == "remove":
            tokens = json.parse_pointer(change.path)
            parent = json.pointer_get(doc, "".join("/" + json.escape_token(t) for t in tokens[:-1]))
            if isinstance(parent, list):
                del parent[int(tokens[-1])]
            else:
                del parent[tokens[-1]]
        else:
            doc = json.pointer_set(doc, change.path, copy.deepcopy(change.new))
    return doc


def test_diff_reports_paths() -> None:
    """diff lists add/remove/replace with JSON Pointer paths and RFC 6902 patch forms."""
    old = {"a": 1, "b": {"c": [1, 2, 3]}, "d/e": True, "gone": 0}
    new = {"a": 2, "b": {"c": [1, 5]}, "d/e": 1, "new": None}
    changes = json.diff(old, new)
    assert [(c.op, c.path) for c in changes] == [
        ("replace", "/a"),
        ("replace", "/b/c/1"),
        ("remove", "/b/c/2"),
        ("replace", "/d~1e"),
        ("remove", "/gone"),
        ("add", "/new"),
    ]
    assert changes[0].old == 1
    assert changes[0].new == 2
    assert changes[0].to_patch() == {"op": "replace", "path": "/a", "value": 2}
    assert changes[2].to_patch() == {"op": "remove", "path": "/b/c/2"}
    assert json.diff({"x": 1}, {"x": 1.0}) == []
    assert json.diff([True], [1]) != []
    assert json.diff({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-100, 100) | st.text(max_size=3),
    lambda c: (
        st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(["a", "b", "c/d", "~"]), c, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values, json_values)
@settings(max_examples=200)
def test_diff_applies_as_patch(old: Any, new: Any) -> None:
    """Applying diff(old, new) to old yields new; diff(x, x) is empty."""
    assert apply_changes(old, json.diff(old, new)) == new
    assert json.diff(old, copy.deepcopy(old)) == []


@given(json_values, json_values)
@settings(max_examples=200)
def test_merge_patch_properties(target: Any, patch: Any) -> None:
    """Merge patch is idempotent and never leaves a null from an object patch."""
    once = json.merge_patch(target, patch)
    assert json.merge_patch(once, patch) == once
    if isinstance(patch, dict):
        assert all(
            once.get(k) is not None for k, v in patch.items() if v is not None and not isinstance(v, dict)
        )
        assert all(k not in once for k, v in patch.items() if v is None)
