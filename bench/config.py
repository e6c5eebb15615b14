"""Config load benchmark: a 200-key TOML file + 50 environment variables.

Compares, in one process with interleaved rounds (A B C D A B C D ...):

- ours: ``llm_infra.config.load_config(path)`` (design defaults + file + env, typed keys checked),
  and a reused ``ConfigLoader`` (what ``ConfigWatcher`` does on each reload);
- pydantic-settings: a ``BaseSettings`` with nested models, TOML source + env (``LLM_``, ``__``);
- dynaconf: ``Dynaconf(settings_files=[...], envvar_prefix="LLM")``, forced to load;
- raw tomllib: ``tomllib.load`` plus a scan of the environment for the prefix (the floor).

Run: ``.venv/bin/python bench/config.py`` (``--quick`` for a short smoke run).
Target: <= 3 ms per load for ours.
"""

from __future__ import annotations

import os
import sys

# Other bench scripts are named after stdlib modules (bench/json.py): running this file puts
# bench/ first on sys.path, so drop it before anything imports ``json``.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import statistics
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

SECTIONS = 20
KEYS_PER_SECTION = 10
ENV_VARS = 50
TARGET_MS = 3.0


def write_fixture(directory: Path) -> Path:
    """A 200-key TOML file (20 sections x 10 keys of mixed types)."""
    lines: list[str] = []
    for s in range(SECTIONS):
        lines.append(f"[section{s}]")
        for k in range(KEYS_PER_SECTION):
            value = [f'"value-{s}-{k}"', str(k * 7), "true", "1.5", "[1, 2, 3]"][k % 5]
            lines.append(f"key{k} = {value}")
    path = directory / "big.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def set_env() -> None:
    """50 ``LLM_`` variables, nested into the sections (half ints, half strings)."""
    for i in range(ENV_VARS):
        os.environ[f"LLM_SECTION{i % SECTIONS}__ENVKEY{i}"] = str(i) if i % 2 else f"val{i}"


def ours_factory(path: Path) -> Callable[[], object]:
    from llm_infra.config import load_config

    def load() -> object:
        return load_config(path)

    return load


def ours_reuse_factory(path: Path) -> Callable[[], object]:
    from llm_infra.config import DESIGN_KEYS, ConfigLoader

    loader = ConfigLoader().with_defaults(DESIGN_KEYS).with_file(path).with_env()
    return loader.load


def pydantic_settings_factory(path: Path) -> Callable[[], object]:
    import pydantic
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )

    types: list[Any] = [str, int, bool, float, list[int]]
    sections: dict[str, Any] = {}
    for s in range(SECTIONS):
        fields: dict[str, Any] = {f"key{k}": (types[k % 5], ...) for k in range(KEYS_PER_SECTION)}
        for i in range(s, ENV_VARS, SECTIONS):
            fields[f"envkey{i}"] = (int | str | None, None)
        sections[f"section{s}"] = (pydantic.create_model(f"Section{s}", **fields), ...)

    class Base(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="LLM_", env_nested_delimiter="__", toml_file=str(path))

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    settings_cls = pydantic.create_model("BenchSettings", __base__=Base, **sections)

    def load() -> object:
        return settings_cls()

    return load


def dynaconf_factory(path: Path) -> Callable[[], object]:
    from dynaconf import Dynaconf

    def load() -> object:
        settings = Dynaconf(
            settings_files=[str(path)], envvar_prefix="LLM", environments=False, load_dotenv=False
        )
        return settings.get("section0")  # dynaconf loads lazily: force it

    return load


def raw_factory(path: Path) -> Callable[[], object]:
    def load() -> object:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        env = {k: v for k, v in os.environ.items() if k.startswith("LLM_")}
        return data, env

    return load


def check_results(path: Path) -> None:
    """All four see the same data (so the comparison is fair)."""
    from llm_infra.config import load_config

    cfg = load_config(path)
    assert cfg.get("section3.key1") == 7
    assert cfg.get("section3.envkey3") == 3
    assert cfg.get("section4.envkey4") == "val4"
    model: Any = pydantic_settings_factory(path)()
    assert model.section3.key1 == 7
    assert model.section3.envkey3 in (3, "3")  # pydantic keeps env strings in an int | str union
    dyn: Any = dynaconf_factory(path)()
    assert dyn["key1"] == 7


def main() -> None:
    """Run the interleaved rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args()
    rounds, per_round = (3, 10) if args.quick else (15, 40)

    with tempfile.TemporaryDirectory() as tmp:
        path = write_fixture(Path(tmp))
        set_env()
        check_results(path)
        impls: dict[str, Callable[[], object]] = {
            "ours (load_config)": ours_factory(path),
            "ours (reused loader)": ours_reuse_factory(path),
            "pydantic-settings": pydantic_settings_factory(path),
            "dynaconf": dynaconf_factory(path),
            "raw tomllib": raw_factory(path),
        }
        samples: dict[str, list[float]] = {name: [] for name in impls}
        for fn in impls.values():  # warm-up
            for _ in range(3):
                fn()
        for _ in range(rounds):
            for name, fn in impls.items():
                for _ in range(per_round):
                    start = time.perf_counter()
                    fn()
                    samples[name].append((time.perf_counter() - start) * 1000)

    ours = statistics.median(samples["ours (load_config)"])
    print(
        f"config load: {SECTIONS * KEYS_PER_SECTION}-key TOML + {ENV_VARS} env vars; "
        f"{rounds} interleaved rounds x {per_round} loads"
    )
    print("| implementation | median ms | min-max ms | ours / this |")
    print("|---|---|---|---|")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | {ours / median:.2f} |")
    verdict = "met" if ours <= TARGET_MS else "NOT met"
    print(f"target <= {TARGET_MS} ms per load (ours, load_config): {ours:.2f} ms -> {verdict}")


if __name__ == "__main__":
    main()
