"""``llm-infra config show|validate``."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Run

SECRET = "hunter2-canary"


def _toml(text: str, name: str = "llm-infra.toml") -> Path:
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    return path


def test_show_masks_secrets_by_type_name_and_url(run: Run) -> None:
    """A ${env:} secret, a secret-named key and a URL password are masked; --reveal shows them."""
    _toml(
        '[auth]\npepper = "${env:PEPPER}"\nkeys_url = "postgresql://u:'
        + SECRET
        + '@db:5432/x"\n[app]\napi_token = "'
        + SECRET
        + '"\n'
    )
    env = {"PEPPER": SECRET}
    shown = run("config", "show", env=env)
    assert shown.exit_code == 0, shown.stderr
    assert SECRET not in shown.stdout
    assert "auth.pepper" in shown.stdout
    assert "**********" in shown.stdout
    assert "postgresql://db:5432/x" in shown.stdout
    as_json = run("config", "show", "--json", env=env)
    assert SECRET not in as_json.stdout
    assert json.loads(as_json.stdout)["auth"]["pepper"] == "**********"
    explained = run("config", "show", "--explain", env=env)
    assert SECRET not in explained.stdout
    revealed = run("config", "show", "--reveal", env=env)
    assert revealed.stdout.count(SECRET) == 3


def test_explain_names_file_line_and_env_override(run: Run) -> None:
    """--explain shows file:line and the env variable that overrides it."""
    _toml("[http]\ntimeout_secs = 5\nmax_retries = 2\n")
    result = run("config", "show", "--explain", "--json", env={"LLM_HTTP_MAX_RETRIES": "7"})
    assert result.exit_code == 0, result.stderr
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert rows["http.timeout_secs"]["origin"].startswith("file llm-infra.toml:2")
    assert rows["http.max_retries"]["value"] == 7
    assert "env LLM_HTTP_MAX_RETRIES" in rows["http.max_retries"]["origin"]
    assert "overrides" in rows["http.max_retries"]["origin"]
    plain = run("config", "show", "--explain", env={"LLM_HTTP_MAX_RETRIES": "7"})
    assert "http.max_retries = 7  [env LLM_HTTP_MAX_RETRIES" in plain.stdout


def test_config_option_and_validate(run: Run) -> None:
    """--config names another file; validate reports it valid."""
    _toml("[vector]\ndimensions = 384\n", name="other.toml")
    result = run("--config", "other.toml", "config", "validate")
    assert result.exit_code == 0, result.stderr
    assert "configuration is valid" in result.stdout
    assert "other.toml" in result.stdout


def test_missing_config_file(run: Run) -> None:
    """An explicit --config that does not exist is ``config.file_not_found``."""
    result = run("--config", "nope.toml", "config", "show")
    assert result.exit_code == 1
    assert "error[config.file_not_found]" in result.stderr


def test_parse_error_shows_line_and_fix(run: Run) -> None:
    """A TOML syntax error is ``config.parse_error`` with the line, column and the guide's fix."""
    _toml("[vector]\ndimensions = 384\ncollection = docs\n")
    result = run("config", "validate")
    assert result.exit_code == 1
    assert "error[config.parse_error]" in result.stderr
    assert "line 3, column 14" in result.stderr
    assert "fix: Fix the file at the line and column shown" in result.stderr


def test_wrong_type_is_reported(run: Run) -> None:
    """A declared key with the wrong type fails the load with ``config.wrong_type``."""
    result = run("config", "validate", env={"LLM_HTTP_MAX_RETRIES": "many"})
    assert result.exit_code == 1
    assert "error[config.wrong_type]" in result.stderr


def test_show_selected_keys(run: Run) -> None:
    """Positional keys select keys or whole sections."""
    result = run("config", "show", "--json", "http.timeout_secs", "vector.hnsw")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "http": {"timeout_secs": 30},
        "vector": {"hnsw": {"m": 16, "ef_construction": 200, "ef_search": 100}},
    }
    explained = run("config", "show", "--explain", "--json", "http.max_retries")
    assert [r["key"] for r in json.loads(explained.stdout)] == ["http.max_retries"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=8, max_size=40))
def test_secret_never_shown_without_reveal(run: Run, secret: str) -> None:
    """Whatever the secret's value, no output of ``config show`` contains it (property)."""
    secret = "s3cr3t~" + secret  # a marker no default value or error id can contain by chance
    Path("llm-infra.toml").write_text(
        '[db]\nurl = "postgresql://u:${env:PW}@h/x"\npassword = "${env:PW}"\n', encoding="utf-8"
    )
    for args in (["config", "show"], ["config", "show", "--json"], ["config", "show", "--explain"]):
        result = run(*args, env={"PW": secret})
        assert result.exit_code == 0, result.stderr
        assert secret not in result.stdout
