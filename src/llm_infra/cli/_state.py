"""What every command shares: the configuration (loaded once, lazily) and the debug flag."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import typer

from llm_infra.config import Config, ConfigLoader
from llm_infra.secrets import Secret

DEFAULT_CONFIG_FILE: Final = "llm-infra.toml"
"""Read from the working directory when present (``--config`` names another file, which must exist)."""

DEFAULT_DATA_DIR: Final = "./data"
"""The embedded default's data directory (``server.data_dir``)."""

DEFAULT_KEYS_FILE: Final = "keys.sqlite"
"""The API key store inside the data directory when ``auth.keys_url`` is not set."""


@dataclass(slots=True)
class State:
    """Per-invocation state, stored in ``click.Context.obj``."""

    config_path: Path | None = None
    debug: bool = False
    _config: Config | None = field(default=None, repr=False)

    def loader(self) -> ConfigLoader:
        """Defaults < the config file < ``LLM_*`` environment variables."""
        from llm_infra.config import DESIGN_KEYS

        loader = ConfigLoader().with_defaults(DESIGN_KEYS)
        if self.config_path is not None:
            loader = loader.with_file(self.config_path)
        else:
            loader = loader.with_file(DEFAULT_CONFIG_FILE, required=False)
        return loader.with_env(environ=dict(os.environ))

    def config(self) -> Config:
        """The loaded configuration (``ConfigError`` when it does not load)."""
        if self._config is None:
            self._config = self.loader().load()
        return self._config

    def setting(self, name: str) -> str | None:
        """A string setting (a ``Secret`` is revealed: the caller needs the real URL), or None."""
        value = self.config().get(name)
        if isinstance(value, Secret):
            value = value.reveal()
        if value is None or value == "":
            return None
        return str(value)

    def data_dir(self) -> Path:
        """``server.data_dir`` or ``./data``."""
        return Path(self.setting("server.data_dir") or DEFAULT_DATA_DIR)

    def keys_url(self) -> str:
        """``auth.keys_url`` or ``<data dir>/keys.sqlite``."""
        return self.setting("auth.keys_url") or str(self.data_dir() / DEFAULT_KEYS_FILE)


def state(ctx: typer.Context) -> State:
    """The ``State`` of this invocation (a fresh one when a sub-app runs on its own in tests)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


__all__ = ["DEFAULT_CONFIG_FILE", "DEFAULT_DATA_DIR", "DEFAULT_KEYS_FILE", "State", "state"]
