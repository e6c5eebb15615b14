"""What every command shares: the configuration (loaded once, lazily) and the debug flag."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import typer

from llm_infra.config import DESIGN_KEYS, Config, ConfigLoader, Key
from llm_infra.secrets import Secret

DEFAULT_CONFIG_FILE: Final = "llm-infra.toml"
"""Read from the working directory when present (``--config`` names another file, which must exist)."""

DEFAULT_DATA_DIR: Final = "./data"
"""The embedded default's data directory (``server.data_dir``), as in the service."""

DEFAULT_TENANT: Final = "default"
"""The service's default tenant (``server.default_tenant``)."""


@dataclass(slots=True)
class State:
    """Per-invocation state, stored in ``click.Context.obj``."""

    config_path: Path | None = None
    debug: bool = False
    _config: Config | None = field(default=None, repr=False)

    def loader(self) -> ConfigLoader:
        """Defaults < the config file < ``LLM_*`` environment variables.

        The declared keys are the shared ones (``DESIGN_KEYS``) plus, when the service is installed, its
        ``SERVICE_KEYS`` (so ``config show`` lists them and masks the ones declared secret).
        """
        keys = [*DESIGN_KEYS, *_service_keys()]
        loader = ConfigLoader(keys=keys).with_defaults(keys)
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
        """``auth.keys_url``, else the service's default store ``<data dir>/auth/api_keys.sqlite3``."""
        from llm_infra.auth import SqliteKeyStore

        return self.setting("auth.keys_url") or str(SqliteKeyStore.in_data_dir(self.data_dir()).path)

    def default_tenant(self) -> str:
        """``server.default_tenant`` or ``default``."""
        return self.setting("server.default_tenant") or DEFAULT_TENANT

    def audit_file(self) -> Path:
        """``audit.file``, else the service's ``<data dir>/audit/audit.jsonl``."""
        return Path(self.setting("audit.file") or self.data_dir() / "audit" / "audit.jsonl")

    def audit_key_file(self) -> Path:
        """Where the service keeps the chain key it generated when ``audit.key`` is not set."""
        return self.data_dir() / "audit" / "chain.key"


def _service_keys() -> tuple[Key[Any], ...]:
    try:
        server = importlib.import_module("llm_infra.server")
    except ImportError:
        return ()
    keys: tuple[Key[Any], ...] = tuple(getattr(server, "SERVICE_KEYS", ()))
    return keys


def state(ctx: typer.Context) -> State:
    """The ``State`` of this invocation (a fresh one when a sub-app runs on its own in tests)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


__all__ = ["DEFAULT_CONFIG_FILE", "DEFAULT_DATA_DIR", "DEFAULT_TENANT", "State", "state"]
