"""The core install: every subpackage but ``vector`` imports without the optional extras, and a
missing extra is a ``ConfigError`` naming the pip line (never a bare ``ImportError``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Modules that only extras bring; a user who installs plain ``llm-infra`` has none of them.
EXTRAS_ONLY = ("numpy", "faiss", "aiohttp", "argon2", "watchfiles", "blake3")

_PROBE = textwrap.dedent(
    """
    import importlib, sys
    BLOCKED = {blocked!r}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    for name in {modules!r}:
        importlib.import_module(name)
    from llm_infra.errors import ConfigError
    try:
        importlib.import_module("llm_infra.vector")
    except ConfigError as exc:
        print("vector:", exc.code, "|", " ".join(exc.context.remediation) + " " + exc.message)
    else:
        print("vector: imported")
    loaded = sorted(m for m in BLOCKED if m in sys.modules)
    print("loaded:", loaded)
    """
)

CORE = (
    "llm_infra",
    "llm_infra.errors",
    "llm_infra.ids",
    "llm_infra.secrets",
    "llm_infra.json",
    "llm_infra.validation",
    "llm_infra.resilience",
    "llm_infra.crypto",
    "llm_infra.config",
    "llm_infra.otel",
    "llm_infra.fs",
    "llm_infra.cache",
    "llm_infra.ratelimit",
    "llm_infra.audit",
    "llm_infra.http",
    "llm_infra.auth",
    "llm_infra.testing",
)


def test_core_subpackages_import_without_extras() -> None:
    probe = _PROBE.format(blocked=EXTRAS_ONLY, modules=CORE)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert lines["loaded"] == "[]"
    code, _, text = lines["vector"].partition(" | ")
    assert code == "config.missing_extra"
    assert "pip install" in text
    assert "llm-infra[vector]" in text


def test_json_encodes_without_numpy() -> None:
    probe = textwrap.dedent(
        """
        import sys
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "numpy":
                    raise ModuleNotFoundError(name, name=name)
                return None
        sys.meta_path.insert(0, Blocker())
        from llm_infra import json
        print(json.dumps({"a": [1, 2.5, {"b": None}]}).decode())
        print(json.loads(b"[" * 40 + b"]" * 40 + b" " * 20000) == [[[]]] or "ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == '{"a":[1,2.5,{"b":null}]}'
