"""Every error path: file, line, column and quoted line; key, expected type and source of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_infra.config import (
    VECTOR_DIMENSIONS,
    ConfigLoader,
    Key,
    int_range,
    load_config,
)
from llm_infra.config._parse import YAML_MAX_ALIASES
from llm_infra.errors import ConfigError, SerializationError


def _load(tmp_path: Path, name: str, data: str | bytes) -> ConfigError:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(path).load()
    return info.value


def _assert_position(err: ConfigError, path: Path, line: int, column: int, quoted: str) -> None:
    assert err.source == str(path)
    assert err.attributes["path"] == str(path)
    assert err.attributes["line"] == line
    assert err.attributes["column"] == column
    assert f"{path} at line {line}, column {column}" in err.message
    assert quoted in err.message
    caret_line = err.message.splitlines()[-1]
    source_line = err.message.splitlines()[-2]
    # The caret sits under the reported column of the quoted line.
    assert caret_line.index("^") == source_line.index("| ") + 2 + column - 1
    cause = err.__cause__
    assert isinstance(cause, SerializationError)
    assert (cause.line, cause.column, cause.path) == (line, column, str(path))


PARSE_ERRORS = [
    ("bad.toml", "a = 1\nb = abc\n", 2, 5, "b = abc", "Invalid value"),
    ("dup.toml", "a = 1\na = 2\n", 2, 6, "a = 2", "Cannot overwrite"),
    ("eof.toml", 'a = 1\ns = "open', 2, 10, 's = "open', "Unterminated string"),
    ("bad.json", '{\n  "a": 1,\n  "b": \n}\n', 4, 1, "}", "Expecting value"),
    ("trail.json", '{"a": 1,}', 1, 9, '{"a": 1,}', "Expecting property name"),
    ("top.json", "\n  [1, 2]", 2, 3, "[1, 2]", "top level must be an object"),
    ("bad.yaml", "a:\n  b: [1, 2\nc: 3\n", 3, 2, "c: 3", "did not find expected"),
    ("tab.yaml", "a:\n\tb: 1\n", 2, 1, "b: 1", "found character"),
    ("top.yaml", "- 1\n- 2\n", 1, 1, "- 1", "top level must be a mapping"),
    (
        "tag.yaml",
        "a: !!python/object:os.system x\n",
        1,
        4,
        "a: !!python",
        "could not determine a constructor",
    ),
    ("multi.yaml", "a: 1\n---\nb: 2\n", 2, 1, "---", "expected a single document"),
    ("boolkey.yaml", "on: push\n", 1, 1, "on: push", "read as a boolean"),
    ("nullkey.yaml", "~: 1\n", 1, 1, "~: 1", "read as null"),
    ("listkey.yaml", "? [a, b]\n: 1\n", 1, 3, "? [a, b]", "read as a collection"),
    ("undef.yaml", "a: *nope\n", 1, 4, "a: *nope", "undefined alias"),
    ("recursive.yaml", "a: &x [1, *x]\n", 1, 4, "a: &x", "recursive alias"),
]


@pytest.mark.parametrize(
    ("name", "text", "line", "column", "quoted", "problem"), PARSE_ERRORS, ids=[p[0] for p in PARSE_ERRORS]
)
def test_parse_errors_are_positioned(
    tmp_path: Path, name: str, text: str, line: int, column: int, quoted: str, problem: str
) -> None:
    """A parse error names the file, line and column, quotes the line, and puts a caret under the column."""
    err = _load(tmp_path, name, text)
    assert err.code == "config.parse_error"
    assert problem in err.message
    _assert_position(err, tmp_path / name, line, column, quoted)


def test_invalid_utf8_is_positioned(tmp_path: Path) -> None:
    """A byte that is not UTF-8 is reported at its line and (byte) column."""
    err = _load(tmp_path, "latin.toml", b'a = 1\nname = "caf\xe9"\n')
    assert err.code == "config.parse_error"
    assert "invalid UTF-8 byte 0xe9" in err.message
    _assert_position(err, tmp_path / "latin.toml", 2, 12, 'name = "caf')


def test_yaml_control_character(tmp_path: Path) -> None:
    """A control character YAML refuses is reported at its position."""
    err = _load(tmp_path, "ctl.yaml", "a: 1\nb: x\x07y\n")
    assert err.code == "config.parse_error"
    _assert_position(err, tmp_path / "ctl.yaml", 2, 5, "b: x")


def test_billion_laughs_rejected(tmp_path: Path) -> None:
    """The classic alias bomb (few aliases, a billion expanded nodes) is rejected before construction."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    err = _load(tmp_path, "lol.yaml", "\n".join(lines) + "\n")
    assert err.code == "config.yaml_limits"
    assert "more than 100000 nodes" in err.message
    assert err.attributes["line"] in range(1, 10)
    assert err.attributes["column"] == 4


def test_too_many_aliases_rejected(tmp_path: Path) -> None:
    """More than 100 aliases are rejected even when the expansion would be small."""
    body = "x: &x 1\nitems:\n" + "".join("  - *x\n" for _ in range(YAML_MAX_ALIASES + 1))
    err = _load(tmp_path, "aliases.yaml", body)
    assert err.code == "config.yaml_limits"
    assert "more than 100 aliases" in err.message
    _assert_position(err, tmp_path / "aliases.yaml", 1, 4, "x: &x 1")


def test_hundred_aliases_allowed(tmp_path: Path) -> None:
    """Exactly 100 aliases are within the limit."""
    path = tmp_path / "ok.yaml"
    path.write_text(
        "x: &x 1\nitems:\n" + "".join("  - *x\n" for _ in range(YAML_MAX_ALIASES)), encoding="utf-8"
    )
    assert len(ConfigLoader(keys=[]).with_file(path).load().get("items")) == YAML_MAX_ALIASES


def test_wrong_type_from_file_names_key_type_and_position(tmp_path: Path) -> None:
    """A value of the wrong type names the key, the expected type and the file:line:column it came from."""
    path = tmp_path / "c.toml"
    path.write_text('[vector]\ncollection = "docs"\n  dimensions = "many"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(path).load()
    assert info.value.code == "config.wrong_type"
    err = info.value
    assert err.code == "config.wrong_type"
    assert err.key == "vector.dimensions"
    assert "expected int in [1, 65536]" in err.message
    assert "got str 'many'" in err.message
    assert err.source == f"file {path}:3:3"
    assert f"{path}:3:3" in err.message


@pytest.mark.parametrize(
    ("loader_factory", "source"),
    [
        (
            lambda: ConfigLoader().with_env(environ={"LLM_VECTOR__DIMENSIONS": "[1]"}),
            "env LLM_VECTOR__DIMENSIONS",
        ),
        (lambda: ConfigLoader().with_overrides({"vector.dimensions": 0}), "override"),
        (lambda: ConfigLoader().with_defaults({"vector.dimensions": "x"}), "default"),
    ],
    ids=["env", "override", "default"],
)
def test_wrong_type_names_every_source_kind(loader_factory: object, source: str) -> None:
    """Wrong-type errors name the env var, the override or the default that set the value."""
    with pytest.raises(ConfigError) as info:
        loader_factory().load()  # type: ignore[operator]
    assert info.value.code == "config.wrong_type"
    assert info.value.key == "vector.dimensions"
    assert info.value.source == source
    assert f"from {source}" in info.value.message


def test_all_wrong_types_reported_at_once() -> None:
    """Several bad values are reported together, each with its own key and source."""
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_overrides({"vector.dimensions": "x", "http.max_retries": True}).load()
    assert info.value.code == "config.wrong_type"
    err = info.value
    assert "2 configuration problems" in err.message
    assert [e["key"] for e in err.attributes["errors"]] == ["vector.dimensions", "http.max_retries"]


def test_wrong_type_on_read_of_undeclared_key() -> None:
    """A key not declared at load is checked when read, with the same message."""
    key = Key("app.port", cast=int_range(1, 65535))
    cfg = ConfigLoader(keys=[]).with_overrides({"app.port": 70000}).load()
    with pytest.raises(ConfigError) as info:
        cfg.get(key)
    assert info.value.code == "config.wrong_type"
    assert "expected int in [1, 65535], got int 70000 from override" in info.value.message


def test_wrong_type_includes_custom_cast_message() -> None:
    """A custom cast's own message is kept for non-secret values."""

    def port(value: object) -> int:
        raise ValueError("ports must be numeric")

    key = Key("app.port", cast=port)
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[key]).with_overrides({"app.port": "http"}).load()
    assert info.value.code == "config.wrong_type"
    assert "(ports must be numeric)" in info.value.message


def test_missing_key_remediation(tmp_path: Path) -> None:
    """``get_typed`` of a missing key follows the troubleshooting guide: files tried, env var, near misses."""
    path = tmp_path / "config.toml"
    path.write_text("[vector]\ndimension = 3\n", encoding="utf-8")
    cfg = load_config(path, environ={})
    with pytest.raises(ConfigError) as info:
        cfg.get(VECTOR_DIMENSIONS)
    assert info.value.code == "config.missing_key"
    err = info.value
    assert err.code == "config.missing_key"
    assert err.key == "vector.dimensions"
    assert "Missing required config key 'vector.dimensions'" in err.message
    steps = "\n".join(err.context.remediation)
    assert f"{path} (loaded)" in steps
    assert "LLM_VECTOR__DIMENSIONS (or LLM_VECTOR_DIMENSIONS)" in steps
    assert "did you mean 'vector.dimension'?" in steps
    assert "cfg.explain('vector.dimensions')" in steps


def test_missing_key_without_file_or_env() -> None:
    """With no file and no env source the remediation says how to add them."""
    cfg = ConfigLoader(keys=[]).load()
    with pytest.raises(ConfigError) as info:
        cfg["vector.collection"]
    assert info.value.code == "config.missing_key"
    steps = "\n".join(info.value.context.remediation)
    assert "no configuration file was loaded" in steps
    assert ".with_env(prefix='LLM_')" in steps


def test_type_conflict_between_files(tmp_path: Path) -> None:
    """A key that is a section in one file and a value in another names both files and lines."""
    first, second = tmp_path / "a.toml", tmp_path / "b.json"
    first.write_text("[db]\nhost = 'x'\n", encoding="utf-8")
    second.write_text('{\n "db": "postgres://"\n}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[]).with_file(first).with_file(second).load()
    assert info.value.code == "config.type_conflict"
    err = info.value
    assert err.code == "config.type_conflict"
    assert f"section in file {first}:1:1" in err.message
    assert f"value in file {second}:2:2" in err.message


@pytest.mark.parametrize("name", ["", "a..b", ".a", "a b", "a.b!"])
def test_invalid_key_names(name: str) -> None:
    """Key names need non-empty segments of letters, digits, ``_`` and ``-``."""
    with pytest.raises(ConfigError) as info:
        Key(name)  # type: ignore[var-annotated]
    assert info.value.code == "config.invalid_key"


def test_invalid_lookup_name() -> None:
    """Reading a malformed dotted name is a ConfigError, and ``in`` says False."""
    cfg = ConfigLoader(keys=[]).load()
    with pytest.raises(ConfigError) as raised:
        cfg.get("a..b")
    assert raised.value.code == "config.invalid_key"
    assert "a..b" not in cfg


def test_invalid_mapping_keys() -> None:
    """Mappings with non-string or malformed keys are refused by the dict-based sources."""
    with pytest.raises(ConfigError) as raised:
        ConfigLoader(keys=[]).with_overrides({1: "x"})  # type: ignore[dict-item]
    assert raised.value.code == "config.invalid_source"
    with pytest.raises(ConfigError) as raised:
        ConfigLoader(keys=[]).with_overrides({"a..b": 1})
    assert raised.value.code == "config.invalid_source"
    with pytest.raises(ConfigError) as raised:
        ConfigLoader(keys=[]).with_defaults({"a": {2: "x"}})  # type: ignore[dict-item]
    assert raised.value.code == "config.invalid_source"
    with pytest.raises(ConfigError) as raised:
        ConfigLoader(keys=[]).with_defaults({"a": 1, "a.b": 2})
    assert raised.value.code == "config.type_conflict"
