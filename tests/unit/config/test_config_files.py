"""File sources: TOML, JSON and YAML, with and without a BOM, and key positions for provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_infra.config import ConfigLoader, FileSource, load_config
from llm_infra.config._parse import Locator
from llm_infra.errors import ConfigError

BOM = b"\xef\xbb\xbf"

DOCUMENTS = {
    "toml": '[vector]\ndimensions = 384\ncollection = "docs"\n[vector.hnsw]\nm = 8\n',
    "json": (
        '{\n  "vector": {\n    "dimensions": 384,\n    "collection": "docs",\n    "hnsw": {"m": 8}\n  }\n}\n'
    ),
    "yaml": "vector:\n  dimensions: 384\n  collection: docs\n  hnsw:\n    m: 8\n",
}
# (line, column) of vector.dimensions and vector.hnsw.m in each document
POSITIONS = {
    "toml": ((2, 1), (5, 1)),
    "json": ((3, 5), (5, 14)),
    "yaml": ((2, 3), (5, 5)),
}
EXPECTED = {"dimensions": 384, "collection": "docs", "hnsw": {"m": 8}}


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
@pytest.mark.parametrize("fmt", ["toml", "json", "yaml"])
def test_formats_with_and_without_bom(tmp_path: Path, fmt: str, bom: bool) -> None:
    """Each format loads the same tree, with or without a UTF-8 byte-order mark, and locates keys."""
    path = tmp_path / f"config.{fmt}"
    path.write_bytes((BOM if bom else b"") + DOCUMENTS[fmt].encode())
    cfg = ConfigLoader(keys=[]).with_file(path).load()
    assert cfg.section("vector").to_dict() == EXPECTED
    dims, m = POSITIONS[fmt]
    origin = cfg.explain("vector.dimensions").origin
    assert origin is not None
    assert (origin.kind, origin.path, origin.line, origin.column) == ("file", str(path), *dims)
    hnsw_m = cfg.explain("vector.hnsw.m").origin
    assert hnsw_m is not None
    assert (hnsw_m.line, hnsw_m.column) == m
    assert str(hnsw_m) == f"file {path}:{m[0]}:{m[1]}"


def test_yml_extension_and_explicit_format(tmp_path: Path) -> None:
    """``.yml`` is YAML; an explicit format overrides the extension."""
    yml = tmp_path / "a.yml"
    yml.write_text("a: 1\n", encoding="utf-8")
    conf = tmp_path / "a.conf"
    conf.write_text("a = 2\n", encoding="utf-8")
    assert ConfigLoader(keys=[]).with_file(yml).load().get("a") == 1
    assert ConfigLoader(keys=[]).with_file(conf, format="toml").load().get("a") == 2
    assert FileSource(conf, format="YML").format == "yaml"


@pytest.mark.parametrize("name", ["config.ini", "config"])
def test_unknown_extension(name: str) -> None:
    """A file whose format cannot be told is a ConfigError that suggests ``format=``."""
    with pytest.raises(ConfigError) as info:
        FileSource(name)
    assert info.value.code == "config.unknown_format"
    assert "format=" in info.value.message


def test_unknown_explicit_format() -> None:
    """An explicit format must be toml, json or yaml."""
    with pytest.raises(ConfigError) as info:
        FileSource("a.toml", format="ini")
    assert info.value.code == "config.unknown_format"


def test_missing_required_file_names_path(tmp_path: Path) -> None:
    """A required file that does not exist fails with its path."""
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.code == "config.file_not_found"
    err = info.value
    assert err.code == "config.file_not_found"
    assert str(path) in err.message
    assert err.source == str(path)
    assert any("required=False" in step for step in err.context.remediation)


def test_optional_missing_file_is_recorded(tmp_path: Path) -> None:
    """An optional missing file is skipped but recorded, and shows up in missing-key remediation."""
    path = tmp_path / "nope.toml"
    cfg = ConfigLoader(keys=[]).with_file(path, required=False).load()
    assert cfg.info.files == ((str(path), False),)
    with pytest.raises(ConfigError) as info:
        cfg.require("vector.dimensions")
    assert info.value.code == "config.missing_key"
    assert any(f"{path} (not found)" in step for step in info.value.context.remediation)


def test_unreadable_file(tmp_path: Path) -> None:
    """A path that exists but cannot be read as a file is a ConfigError, not an OSError."""
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[]).with_file(directory).load()
    assert info.value.code == "config.not_a_regular_file"
    assert str(directory) in info.value.message


def test_empty_documents(tmp_path: Path) -> None:
    """Empty TOML, YAML (no document) and ``{}`` JSON give an empty config."""
    for name, text in (("e.toml", ""), ("e.yaml", "# nothing\n"), ("e.json", "{}")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert ConfigLoader(keys=[]).with_file(path).load().to_dict() == {}


def test_yaml_null_section_means_unset(tmp_path: Path) -> None:
    """A YAML key with no value (``section:``) does not block values set by other sources."""
    path = tmp_path / "n.yaml"
    path.write_text("vector:\nhttp:\n  timeout_secs: 5\n", encoding="utf-8")
    cfg = ConfigLoader(keys=[]).with_file(path).with_env(environ={"LLM_VECTOR__DIMENSIONS": "3"}).load()
    assert cfg.to_dict() == {"http": {"timeout_secs": 5}, "vector": {"dimensions": 3}}


def test_yaml_int_keys_become_strings(tmp_path: Path) -> None:
    """Integer mapping keys (``404: ...``) are turned into strings rather than rejected."""
    path = tmp_path / "k.yaml"
    path.write_text("codes:\n  404: missing\n  500: [a, {1: b}]\n", encoding="utf-8")
    cfg = ConfigLoader(keys=[]).with_file(path).load()
    assert cfg.to_dict() == {"codes": {"404": "missing", "500": ["a", {"1": "b"}]}}


def test_yaml_merge_keys_and_small_aliases(tmp_path: Path) -> None:
    """Anchors, aliases and ``<<`` merge keys within the limits work as in any YAML loader."""
    path = tmp_path / "m.yaml"
    path.write_text(
        "base: &base\n  timeout: 5\n  retries: 2\nservice:\n  <<: *base\n  retries: 3\n", encoding="utf-8"
    )
    cfg = ConfigLoader(keys=[]).with_file(path).load()
    assert cfg.get("service") == {"timeout": 5, "retries": 3}


def test_toml_locator_skips_multiline_values() -> None:
    """Keys after multi-line strings and arrays are located; unknown paths fall back to an ancestor."""
    text = (
        'title = """\nnot_a_key = 1\n"""\n'
        "list = [\n  1,\n  2, # ] not the end\n]\n"
        "'quoted.key' = 1\n"
        'a."b.c" = 2\n'
        "[[servers]]\nhost = 'x'\n"
        "[section]\ninline = { x = 1 }\n"
        "lit = '''\nmulti\n'''\n"
        "after = 3\n"
        "bad line without equals\n"
    )
    locator = Locator(text, "toml")
    assert locator.locate(("not_a_key",)) is None
    assert locator.locate(("list",)) == (4, 1)
    assert locator.locate(("quoted.key",)) == (8, 1)
    assert locator.locate(("a", "b.c")) == (9, 1)
    assert locator.locate(("a",)) == (9, 1)
    assert locator.locate(("servers",)) == (10, 1)
    assert locator.locate(("section", "inline", "x")) == (13, 1)
    assert locator.locate(("section", "after")) == (17, 1)


def test_json_locator_ignores_values_and_arrays() -> None:
    """String values and objects inside arrays are not mistaken for keys."""
    text = '{"a": "b", "list": [{"x": 1}], "c": {"d": "e:f"}}'
    locator = Locator(text, "json")
    assert locator.locate(("a",)) == (1, 2)
    assert locator.locate(("c", "d")) == (1, 38)
    assert locator.locate(("list", "x")) == (1, 12)
    assert locator.locate(("zzz",)) is None


def test_locator_survives_unparsable_text() -> None:
    """A locator over text that no longer parses reports nothing instead of failing."""
    assert Locator("a: [1\nb", "yaml").locate(("a",)) is None
