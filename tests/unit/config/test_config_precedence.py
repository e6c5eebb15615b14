"""Source precedence: defaults < file < environment < overrides, over all 16 combinations."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from llm_infra.config import ConfigLoader, DefaultsSource, DictSource, EnvSource, FileSource, Key

SOURCES = ("defaults", "file", "env", "overrides")
COMBINATIONS = [combo for size in range(5) for combo in itertools.combinations(SOURCES, size)]
EXPECTED_KIND = {"defaults": "default", "file": "file", "env": "env", "overrides": "override"}

KEY = Key("app.level", cast=int, default=-1)


def _loader(tmp_path: Path, combo: tuple[str, ...], *, reverse: bool) -> ConfigLoader:
    environ = {"LLM_APP__LEVEL": "3", "LLM_APP__FROM_ENV": "true"}
    config_file = tmp_path / "app.toml"
    config_file.write_text("[app]\nlevel = 2\nfrom_file = true\n", encoding="utf-8")
    builders = {
        "defaults": lambda ld: ld.with_defaults({"app.level": 1, "app.from_defaults": True}),
        "file": lambda ld: ld.with_file(config_file),
        "env": lambda ld: ld.with_env(environ=environ),
        "overrides": lambda ld: ld.with_overrides({"app.level": 4, "app.from_overrides": True}),
    }
    loader = ConfigLoader(keys=[KEY], environ={})
    for name in reversed(combo) if reverse else combo:
        loader = builders[name](loader)
    return loader


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed-calls"])
@pytest.mark.parametrize("combo", COMBINATIONS, ids=lambda c: "+".join(c) or "none")
def test_highest_present_source_wins(tmp_path: Path, combo: tuple[str, ...], reverse: bool) -> None:
    """Whatever the subset of sources and the call order, the highest-ranked source sets the value."""
    cfg = _loader(tmp_path, combo, reverse=reverse).load()
    expected = {"defaults": 1, "file": 2, "env": 3, "overrides": 4}
    if not combo:
        assert "app.level" not in cfg
        assert cfg.get(KEY) == -1
        assert cfg.to_dict() == {}
        return
    winner = max(combo, key=SOURCES.index)
    assert cfg.get(KEY) == expected[winner]
    assert cfg.get("app.level") == expected[winner]
    explanation = cfg.explain("app.level")
    assert explanation.origin is not None
    assert explanation.origin.kind == EXPECTED_KIND[winner]
    shadowed = [origin.kind for origin in explanation.shadowed]
    assert shadowed == [EXPECTED_KIND[s] for s in sorted(combo, key=SOURCES.index, reverse=True)[1:]]
    # Keys set by one source only survive the merge (a deep merge, not a replacement).
    for name in combo:
        assert cfg.get(f"app.from_{name}") is True


def test_sources_are_ranked_not_call_ordered(tmp_path: Path) -> None:
    """Adding the environment before the file still lets the environment win."""
    path = tmp_path / "a.json"
    path.write_text('{"x": 1}', encoding="utf-8")
    cfg = ConfigLoader(keys=[]).with_env(environ={"LLM_X": "2"}).with_file(path).load()
    assert cfg.get("x") == 2
    assert [type(s).__name__ for s in ConfigLoader(keys=[]).with_env().with_file(path).sources] == [
        "FileSource",
        "EnvSource",
    ]


def test_later_file_wins_over_earlier_file(tmp_path: Path) -> None:
    """Within one rank, later sources win (files listed later override earlier ones)."""
    first, second = tmp_path / "a.toml", tmp_path / "b.yaml"
    first.write_text("x = 1\ny = 1\n", encoding="utf-8")
    second.write_text("x: 2\n", encoding="utf-8")
    cfg = ConfigLoader(keys=[]).with_file(first).with_file(second).load()
    assert cfg.to_dict() == {"x": 2, "y": 1}
    assert cfg.sources == (str(first), str(second))


def test_custom_source_rank(tmp_path: Path) -> None:
    """A DictSource with a low rank sits below files, like an application's own defaults."""
    path = tmp_path / "c.toml"
    path.write_text("x = 'file'\n", encoding="utf-8")
    loader = (
        ConfigLoader(keys=[])
        .with_source(DictSource({"x": "low", "y": "low"}, name="app-defaults", rank=5))
        .with_file(path)
    )
    cfg = loader.load()
    assert cfg.to_dict() == {"x": "file", "y": "low"}
    origin = cfg.explain("y").origin
    assert origin is not None
    assert origin.kind == "custom"
    assert str(origin) == "app-defaults"


def test_sources_used_directly() -> None:
    """The four source classes work with ConfigLoader(sources=...) as well as the fluent methods."""
    loader = ConfigLoader(
        keys=[],
        environ={"LLM_B": "2"},
        sources=[DictSource({"d": 4}), EnvSource(), DefaultsSource({"a": 1})],
    )
    assert loader.load().to_dict() == {"a": 1, "b": 2, "d": 4}
    assert FileSource("x.yml").format == "yaml"
