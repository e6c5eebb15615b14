"""Edge cases: nesting limits, long lines, odd TOML keys, sources' corners, and helper internals."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pydantic
import pytest

from llm_infra.config import (
    DESIGN_KEYS,
    VECTOR_DIMENSIONS,
    Config,
    ConfigLoader,
    ConfigWatcher,
    DefaultsSource,
    Key,
)
from llm_infra.config._casts import describe_value
from llm_infra.config._parse import Locator, excerpt
from llm_infra.config._sources import Layer
from llm_infra.config._tree import MAX_DEPTH, set_path, thaw, too_deep
from llm_infra.errors import ConfigError
from llm_infra.secrets import MASK, Secret


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", '{"a": ' + "[" * 200 + "]" * 200 + "}"),
        ("deep.toml", "a = " + "[" * 200 + "]" * 200 + "\n"),
        ("deep.yaml", "".join(" " * i + f"k{i}:\n" for i in range(80)) + " " * 80 + "v\n"),
    ],
)
def test_too_deep_documents(tmp_path: Path, name: str, text: str) -> None:
    """Documents nested deeper than MAX_DEPTH are refused with a positioned error."""
    path = _file(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[]).with_file(path).load()
    assert info.value.code == "config.too_deep"
    assert info.value.attributes["line"] >= 1
    assert f"deeper than {MAX_DEPTH} levels" in info.value.message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("rec.json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("rec.toml", "a = " + "[" * 100_000 + "]" * 100_000 + "\n"),
        ("rec.yaml", "a: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ],
)
def test_pathological_nesting_is_a_parse_error(tmp_path: Path, name: str, text: str) -> None:
    """Nesting that would exhaust the parser's recursion is a parse error, not a RecursionError."""
    path = _file(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[]).with_file(path).load()
    assert info.value.code == "config.parse_error"
    # The quoted line is cut to a window, not 200,000 characters.
    assert len(info.value.message) < 1000


def test_too_deep_env_and_mappings() -> None:
    """Deep env JSON values and deep mappings are refused; pathological env JSON stays a string."""
    deep = "[" * 80 + "]" * 80
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[]).with_env(environ={"LLM_X": deep}).load()
    assert info.value.code == "config.too_deep"
    assert info.value.source == "env LLM_X"
    huge = "[" * 100_000 + "]" * 100_000
    assert ConfigLoader(keys=[]).with_env(environ={"LLM_X": huge}).load().get("x") == huge
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(MAX_DEPTH + 2):
        node["n"] = {}
        node = node["n"]
    for build in (
        lambda: ConfigLoader().with_overrides(nested),
        lambda: ConfigLoader().with_defaults(nested),
    ):
        with pytest.raises(ConfigError) as info:
            build()
        assert info.value.code == "config.too_deep"
    assert too_deep({"a": [[1]]}, limit=1) == ("a", "0")
    assert too_deep({"a": 1}) is None


def test_excerpt_window() -> None:
    """A long offending line is shown as a window around the column, with the caret still aligned."""
    line = "x" * 300 + "!" + "y" * 300
    shown = excerpt(line + "\n", 1, 301, ())
    source, caret = shown.splitlines()
    assert source.count("...") == 2
    assert source[caret.index("^")] == "!"
    start = excerpt("z" * 200 + "\n", 1, 2, ()).splitlines()
    assert start[0].endswith("...")
    assert start[1].index("^") == start[0].index("| ") + 3
    assert excerpt("", 5, 1, ()).startswith("   5 | ")


def test_toml_locator_odd_keys() -> None:
    """The TOML key scanner tolerates malformed lines and keeps going."""
    text = (
        '"unterminated = 1\n'
        "'also unterminated = 1\n"
        "= 1\n"
        "a. = 1\n"
        "[table\n"
        "a b = 1\n"
        '"bad\\q" = 1\n'
        's = """one line"""\n'
        "good = 1\n"
        'arr = [\'x]\', "y\\"]", 3]\n'
        "after_arr = 2\n"
        'ml = """\n'
        "never closed\n"
    )
    locator = Locator(text, "toml")
    assert locator.locate(("good",)) == (9, 1)
    assert locator.locate(("bad\\q",)) == (7, 1)
    assert locator.locate(("after_arr",)) == (11, 1)
    assert locator.locate(("ml",)) == (12, 1)
    assert locator.locate(("a",)) is None


def test_env_object_values_merge_and_conflict() -> None:
    """A JSON object in one env var merges with nested vars; object-vs-value clashes are conflicts."""
    cfg = ConfigLoader(keys=[]).with_env(environ={"LLM_A": '{"b": 1}', "LLM_A__C": "2"}).load()
    assert cfg.get("a") == {"b": 1, "c": 2}
    tree: dict[str, object] = {}

    def conflict(path: tuple[str, ...]) -> Any:
        raise ValueError(path)

    set_path(tree, ("a",), 1, conflict)
    with pytest.raises(ValueError, match="'a'"):
        set_path(tree, ("a",), {"b": 1}, conflict)
    set_path(tree, ("m",), {"x": 1}, conflict)
    with pytest.raises(ValueError, match="'m'"):
        set_path(tree, ("m",), 2, conflict)
    set_path(tree, ("m",), {"y": 2}, conflict)
    assert tree["m"] == {"x": 1, "y": 2}


def test_defaults_source_forms() -> None:
    """DefaultsSource takes single keys, iterables of keys and mappings, and describes itself."""
    source = DefaultsSource(VECTOR_DIMENSIONS, DESIGN_KEYS[:3], {"app.x": 1}, name="mine")
    assert repr(source) == f"DefaultsSource('mine', keys={1 + 3})"
    assert source.declared_names() == ("app.x",)
    layer = Layer("file", "f", {})
    assert repr(layer) == "Layer('file', 'f')"


def test_section_merge_skips_keys_outside() -> None:
    """Merging section configs keeps working with declared keys outside the section."""
    cfg = ConfigLoader().with_overrides({"vector.dimensions": 3, "http.max_retries": 1}).load()
    merged = cfg.section("vector").merge(Config({"collection": "c"}))
    assert merged.to_dict() == {"dimensions": 3, "collection": "c"}


def test_key_identity_cast_and_reprs() -> None:
    """A key without a usable cast passes values through; reprs and defaults display sensibly."""
    key = Key("x", default=[1])
    assert key.convert([2]) == [2]
    assert Key("y", cast=int).default_repr() == "(required)"
    assert describe_value("z" * 100).endswith("...")
    assert len(describe_value("z" * 100)) < 80
    assert describe_value({"a": 1, "password": "p"}) == "a section (a, password)"
    assert describe_value({str(i): i for i in range(7)}) == "a section (0, 1, 2, 3, 4, ...)"
    assert thaw("plain", reveal_secrets=False, secret=True) == MASK
    assert thaw(Secret([Secret("a")]), reveal_secrets=True) == ["a"]


@dataclasses.dataclass
class _Shapes:
    maybe: list[int | None]
    anything: Any = None
    computed: int = dataclasses.field(init=False, default=0)


def test_bind_corners() -> None:
    """Union with None inside lists, ``Any`` fields and ``init=False`` fields bind."""
    cfg = ConfigLoader(keys=[]).with_overrides({"s": {"maybe": [1, None], "anything": {"k": 1}}}).load()
    shapes = cfg.bind(_Shapes, "s")
    assert shapes.maybe == [1, None]
    assert shapes.anything == {"k": 1}


class _Inner(pydantic.BaseModel):
    token: pydantic.SecretStr


class _Outer(pydantic.BaseModel):
    inner: _Inner | None = None


def test_bind_pydantic_optional_nested_secret() -> None:
    """A SecretStr inside an optional nested model receives the revealed value."""
    cfg = ConfigLoader(keys=[], environ={"T": "tok"}).with_overrides({"o.inner.token": "${env:T}"}).load()
    outer = cfg.bind(_Outer, "o")
    assert outer.inner is not None
    assert outer.inner.token.get_secret_value() == "tok"


def test_watch_thread_failure_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """If the file watcher itself fails, the thread logs it and ends instead of dying silently."""
    import watchfiles

    path = _file(tmp_path, "a.toml", "x = 1\n")

    def broken_watch(*args: object, **kwargs: object) -> Any:
        raise OSError("inotify limit reached")

    monkeypatch.setattr(watchfiles, "watch", broken_watch)
    watcher = ConfigWatcher(ConfigLoader(keys=[]).with_file(path))
    with caplog.at_level(logging.ERROR, logger="llm_infra.config"):
        watcher.start()
        assert watcher._thread is not None
        watcher._thread.join(10)
        watcher.stop()
    assert "the configuration watcher stopped" in caplog.text
