"""Secret references, declared secret keys, and a canary that must never appear in any output."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pydantic
import pytest

from llm_infra.config import (
    OTEL_EXPORTER_OTLP_HEADERS,
    Config,
    ConfigLoader,
    ConfigWatcher,
    Key,
)
from llm_infra.errors import ConfigError
from llm_infra.secrets import MASK, Secret

CANARY = "CANARY-7f3a9c-do-not-log"


def test_env_reference_becomes_secret() -> None:
    """``${env:NAME}`` resolves against the loader's environ into a Secret."""
    cfg = (
        ConfigLoader(keys=[])
        .with_env(environ={"DB_PW": "pw"})
        .with_overrides({"db.password": "${env:DB_PW}"})
    )
    value = cfg.load().get("db.password")
    assert isinstance(value, Secret)
    assert value.reveal() == "pw"


def test_file_reference_strips_one_newline(tmp_path: Path) -> None:
    """``${file:/path}`` reads the file (Docker/Kubernetes secret style) without its trailing newline."""
    secret_file = tmp_path / "token"
    secret_file.write_text("tok\n\n", encoding="utf-8")
    cfg = ConfigLoader(keys=[]).with_overrides({"api.token": f"${{file:{secret_file}}}"}).load()
    assert cfg.get("api.token").reveal() == "tok\n"


def test_embedded_references_and_escape() -> None:
    """References inside a longer string make the whole string secret; ``$${...}`` is a literal."""
    cfg = (
        ConfigLoader(keys=[], environ={"U": "user", "P": "pw"})
        .with_overrides(
            {
                "dsn": "postgres://${env:U}:${env:P}@db/app",
                "literal": "$${env:U}",
                "plain": "${HOME}",
                "hosts": ["${env:U}", "b", 3],
            }
        )
        .load()
    )
    assert cfg.get("dsn").reveal() == "postgres://user:pw@db/app"
    assert cfg.get("literal") == "${env:U}"
    assert cfg.get("plain") == "${HOME}"
    hosts = cfg.get("hosts")
    assert isinstance(hosts[0], Secret)
    assert hosts[1:] == ("b", 3)
    assert str(cfg.explain("dsn").origin) == "override via ${env:U} ${env:P}"
    assert cfg.explain("hosts").origin is not None


def test_loader_environ_is_used_for_references() -> None:
    """References read the mapping given to ``with_env``, not the process environment."""
    environ = {"LLM_APP__KEY": "${env:REAL_KEY}", "REAL_KEY": "k"}
    cfg = ConfigLoader(keys=[]).with_env(environ=environ).load()
    assert cfg.get("app.key").reveal() == "k"
    assert cfg.explain("app.key").origin.reference == "${env:REAL_KEY}"  # type: ignore[union-attr]


def test_references_in_files_and_defaults(tmp_path: Path) -> None:
    """References work in every source: files, defaults."""
    path = tmp_path / "c.yaml"
    path.write_text("a: ${env:A}\nb: [x, '${env:A}']\n", encoding="utf-8")
    cfg = ConfigLoader(keys=[], environ={"A": "1"}).with_defaults({"d": "${env:A}"}).with_file(path).load()
    assert cfg.get("a").reveal() == "1"
    assert cfg.get("d").reveal() == "1"
    assert cfg.get("b")[1].reveal() == "1"
    assert cfg.explain("a").origin.line == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reference", "needle"),
    [
        ("${env:NOPE_NOT_SET}", "environment variable NOPE_NOT_SET is not set"),
        ("${file:/nonexistent/s}", "file"),
    ],
)
def test_unresolved_reference(reference: str, needle: str) -> None:
    """A reference to an unset variable or unreadable file fails with the key and the reference target."""
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[], environ={}).with_overrides({"db.password": reference}).load()
    assert info.value.code == "config.secret_unresolved"
    err = info.value
    assert err.code == "config.secret_unresolved"
    assert err.key == "db.password"
    assert needle in err.message


def test_unresolved_reference_in_env_and_file(tmp_path: Path) -> None:
    """Unresolvable references in env values and files name their source."""
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[]).with_env(environ={"LLM_X": "${env:MISSING}"}).load()
    assert info.value.source == "env LLM_X"
    path = tmp_path / "c.toml"
    path.write_text('x = "${file:' + str(tmp_path) + '}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigLoader(keys=[], environ={}).with_file(path).load()
    assert info.value.source == str(path)
    assert info.value.code == "config.not_a_regular_file"
    assert "is not a regular file" in info.value.message


def test_declared_secret_key_wraps_literals() -> None:
    """A ``secret=True`` key is wrapped even when its value is written literally, and typed get returns it."""
    key = Key("db.password", cast=str, secret=True)
    cfg = ConfigLoader(keys=[key]).with_overrides({"db.password": "literal"}).load()
    value = cfg.get(key)
    assert isinstance(value, Secret)
    assert value.reveal() == "literal"
    assert cfg.get("db.password") == Secret("literal")
    assert cfg.to_dict() == {"db": {"password": MASK}}
    assert cfg.to_dict(reveal_secrets=True) == {"db": {"password": "literal"}}


def test_secret_map_key_from_env_string() -> None:
    """The OTLP headers key parses ``k=v,k2=v2`` and keeps the result secret."""
    cfg = ConfigLoader().with_env(environ={"LLM_OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc, x=y"}).load()
    headers = cfg.get(OTEL_EXPORTER_OTLP_HEADERS)
    assert headers is not None
    assert dict(headers.reveal()) == {"api-key": "abc", "x": "y"}
    assert cfg.to_dict()["otel"]["exporter"]["otlp"]["headers"] == MASK


def test_reference_into_non_secret_key_stays_secret() -> None:
    """A reference marks a secret: the converted value of a non-secret key stays wrapped."""
    key = Key("app.port", cast=int)
    cfg = ConfigLoader(keys=[key], environ={"PORT": "80"}).with_overrides({"app.port": "${env:PORT}"}).load()
    value = cfg.get(key)
    assert isinstance(value, Secret)
    assert value.reveal() == 80


def test_secret_default_is_masked() -> None:
    """A secret key's default is wrapped on read and masked in its repr."""
    key = Key("a.token", cast=str, default="dflt", secret=True)
    assert "dflt" not in repr(key)
    assert Config({}).get(key) == Secret("dflt")
    explanation = Config({}).explain(key)
    assert explanation.value == MASK
    assert explanation.secret


# --------------------------------------------------------------------------- the canary


@dataclasses.dataclass
class _Db:
    password: int
    host: str


class _DbModel(pydantic.BaseModel):
    password: int
    host: str


def _canary_setup(tmp_path: Path) -> tuple[ConfigLoader, Path]:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(CANARY + "\n", encoding="utf-8")
    config = tmp_path / "app.toml"
    config.write_text(
        "[db]\n"
        f'password = "{CANARY}"\n'
        "host = 5\n"
        "[api]\n"
        'token = "${env:CANARY_VAR}"\n'
        f'key_file = "${{file:{secret_file}}}"\n',
        encoding="utf-8",
    )
    environ = {
        "CANARY_VAR": CANARY,
        "LLM_SVC__SECRET": CANARY,
        "LLM_SVC__REF": "${env:CANARY_VAR}",
    }
    keys = [
        Key("db.password", cast=str, secret=True),
        Key("svc.secret", cast=str, secret=True),
        Key("over.secret", cast=str, secret=True),
    ]
    loader = (
        ConfigLoader(keys=keys)
        .with_file(config)
        .with_env(environ=environ)
        .with_overrides({"over.secret": CANARY, "over.ref": "${env:CANARY_VAR}"})
    )
    return loader, config


def _texts_of_error(err: BaseException) -> list[str]:
    out = [str(err), repr(err)]
    if isinstance(err, ConfigError):
        out += [json.dumps(err.to_dict()), json.dumps(err.to_problem()), repr(err.context)]
    if err.__cause__ is not None:
        out += _texts_of_error(err.__cause__)
    return out


def test_canary_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A canary secret set through every source never appears in repr, to_dict, explain, errors or logs."""
    caplog.set_level(logging.DEBUG)
    loader, config = _canary_setup(tmp_path)
    cfg = loader.load()
    outputs: list[str] = [repr(cfg), str(cfg), repr(loader), json.dumps(cfg.to_dict())]
    outputs += [str(e) + repr(e) for e in cfg.explain_all()]
    for name in (
        "db.password",
        "api.token",
        "api.key_file",
        "svc.secret",
        "svc.ref",
        "over.secret",
        "over.ref",
    ):
        assert cfg.to_dict(reveal_secrets=True) != cfg.to_dict()
        outputs += [repr(cfg.get(name)), str(cfg.explain(name)), repr(cfg.explain(name))]
    outputs += [repr(cfg.get("db")), repr(cfg.section("api")), repr(cfg.keys())]
    assert cfg.to_dict(reveal_secrets=True)["db"]["password"] == CANARY

    errors: list[BaseException] = []
    # Wrong type on a secret key: the canary cannot convert to int.
    int_key = Key("db.password", cast=int, secret=True)
    for attempt in (
        lambda: cfg.get(int_key),
        lambda: loader.with_keys(int_key).load(),
        lambda: cfg.validate(int_key),
        lambda: cfg.bind(_Db, "db"),
        lambda: cfg.bind(_DbModel, "db"),
        lambda: cfg.get(Key("db.passwrd", cast=str)),
    ):
        with pytest.raises(ConfigError) as info:
            attempt()
        assert info.value.code.startswith("config.")
        errors.append(info.value)
    # A parse error on the line holding the canary quotes it masked.
    for name, text in (
        ("broken.toml", f'api_key = "{CANARY}\nother = 1\n'),
        ("broken.yaml", f"db:\n  password: [{CANARY}\n"),
        ("broken.json", f'{{"token": "{CANARY}" "x": 1}}'),
    ):
        bad = tmp_path / name
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            ConfigLoader(keys=[]).with_file(bad).load()
        assert info.value.code == "config.parse_error"
        errors.append(info.value)
    assert any(MASK in str(err) for err in errors)
    for err in errors:
        outputs += _texts_of_error(err)

    # Reloads, good and bad, through the watcher and its log lines.
    changes: list[object] = []
    watcher = ConfigWatcher(loader, on_change=changes.append)
    config.write_text(config.read_text(encoding="utf-8") + "extra = 1\n", encoding="utf-8")
    watcher.reload()
    config.write_text(f'[db]\npassword = "{CANARY}\n', encoding="utf-8")
    assert watcher.reload() is None
    assert watcher.last_error is not None
    outputs += [repr(c) for c in changes] + [repr(watcher)] + _texts_of_error(watcher.last_error)
    outputs += [record.getMessage() for record in caplog.records]
    outputs += [caplog.text]

    leaked = [text for text in outputs if CANARY in text]
    assert leaked == []


def test_explain_masks_undeclared_keys_with_secret_names() -> None:
    """Provenance uses the shared rule: an undeclared ``db.password`` is shown masked."""
    cfg = ConfigLoader(keys=[]).with_overrides({"db": {"password": "hunter2", "host": "h"}}).load()
    shown = cfg.explain("db.password")
    assert shown.secret
    assert "hunter2" not in repr(shown)
    assert not cfg.explain("db.host").secret
