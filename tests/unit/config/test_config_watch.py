"""Hot reload: atomic swaps, change events, invalid reloads, real file edits (thread and async)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import anyio
import pytest

from llm_infra.config import Config, ConfigLoader, ConfigReload, ConfigWatcher, Key
from llm_infra.errors import ConfigError

PORT = Key("app.port", cast=int)


def _write(path: Path, text: str) -> None:
    """Save like an editor: write a temporary file next to it and rename it over the original."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _loader(path: Path) -> ConfigLoader:
    return ConfigLoader(keys=[PORT]).with_file(path)


def _poll(predicate: object, deadline: float = 20.0, nudge: object = None) -> None:
    """Wait for ``predicate()`` with a deadline; ``nudge()`` re-saves the file in case an event was missed."""
    end = time.monotonic() + deadline
    next_nudge = time.monotonic() + 2.0
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            pytest.fail("timed out waiting for the configuration watcher")
        if nudge is not None and time.monotonic() > next_nudge:
            nudge()  # type: ignore[operator]
            next_nudge = time.monotonic() + 2.0
        threading.Event().wait(0.02)


def test_reload_swaps_and_notifies(tmp_path: Path) -> None:
    """A changed file gives a ConfigReload (old, new, changed keys); an unchanged one gives None."""
    path = tmp_path / "app.toml"
    _write(path, "[app]\nport = 1\nname = 'x'\n")
    seen: list[ConfigReload] = []
    watcher = ConfigWatcher(_loader(path), on_change=seen.append)
    first = watcher.current
    assert watcher.reload() is None
    _write(path, "[app]\nport = 2\nname = 'x'\nnew = true\n")
    change = watcher.reload()
    assert change is not None
    assert change.old is first
    assert change.new is watcher.current
    assert change.changed == {"app.port", "app.new"}
    assert change.affects("app")
    assert change.affects("app.port")
    assert not change.affects("ap")
    assert repr(change) == "ConfigReload(changed=['app.new', 'app.port'])"
    assert seen == [change]
    assert watcher.current.get(PORT) == 2
    assert watcher.generation == 1
    assert watcher.loader.files == (str(path),)
    assert "generation=1" in repr(watcher)


def test_invalid_reload_keeps_last_good(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file that stops parsing (or has a bad type) keeps the old snapshot and reports file, line, column."""
    path = tmp_path / "app.toml"
    _write(path, "[app]\nport = 1\n")
    errors: list[ConfigError] = []
    changes: list[ConfigReload] = []
    watcher = ConfigWatcher(_loader(path), on_change=changes.append, on_error=errors.append)
    good = watcher.current
    _write(path, "[app]\nport = = 2\n")
    with caplog.at_level(logging.WARNING, logger="llm_infra.config"):
        assert watcher.reload() is None
    assert watcher.current is good
    assert watcher.last_error is errors[0]
    assert errors[0].code == "config.parse_error"
    assert (errors[0].attributes["line"], errors[0].attributes["column"]) == (2, 8)
    assert f"{path} at line 2, column 8" in caplog.text
    _write(path, "[app]\nport = 'x'\n")
    assert watcher.reload() is None
    assert watcher.last_error is not None
    assert watcher.last_error.code == "config.wrong_type"
    assert watcher.current is good
    assert changes == []
    _write(path, "[app]\nport = 3\n")
    assert watcher.reload() is not None
    assert watcher.last_error is None
    assert watcher.current.get(PORT) == 3


def test_validate_callback_rejects(tmp_path: Path) -> None:
    """The validate callback can reject a reload; non-ConfigError exceptions are wrapped."""
    path = tmp_path / "app.toml"
    _write(path, "[app]\nport = 1\n")

    def check(cfg: Config) -> None:
        if cfg.get(PORT) > 100:
            raise ValueError("port too high")
        if cfg.get(PORT) == 50:
            cfg.validate(Key("app.host", cast=str))

    watcher = _loader(path).watch(validate=check)
    _write(path, "[app]\nport = 500\n")
    assert watcher.reload() is None
    assert watcher.last_error is not None
    assert watcher.last_error.code == "config.validation"
    assert "ValueError: port too high" in watcher.last_error.message
    _write(path, "[app]\nport = 50\n")
    assert watcher.reload() is None
    assert watcher.last_error is not None
    assert watcher.last_error.code == "config.invalid"
    assert watcher.current.get(PORT) == 1


def test_initial_load_must_be_valid(tmp_path: Path) -> None:
    """Without a last good config, an invalid initial load raises."""
    path = tmp_path / "app.toml"
    _write(path, "port = \n")
    with pytest.raises(ConfigError) as raised:
        ConfigWatcher(_loader(path))
    assert raised.value.code == "config.parse_error"
    with pytest.raises(ConfigError) as raised:
        ConfigWatcher(_loader(tmp_path / "none.toml"))
    assert raised.value.code == "config.file_not_found"


def test_subscribers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Subscribers can be added and removed; one that raises is logged and does not stop the others."""
    path = tmp_path / "app.toml"
    _write(path, "[app]\nport = 1\n")
    watcher = ConfigWatcher(_loader(path))
    calls: list[str] = []

    def broken(change: ConfigReload) -> None:
        raise RuntimeError("subscriber bug")

    watcher.subscribe(broken)
    unsubscribe = watcher.subscribe(lambda change: calls.append("a"))
    watcher.subscribe(lambda change: calls.append("b"))
    stop_errors = watcher.on_error(lambda err: calls.append("err"))
    watcher.on_error(lambda err: (_ for _ in ()).throw(RuntimeError("handler bug")))
    _write(path, "[app]\nport = 2\n")
    with caplog.at_level(logging.ERROR, logger="llm_infra.config"):
        watcher.reload()
    assert calls == ["a", "b"]
    assert "a configuration change subscriber failed" in caplog.text
    unsubscribe()
    unsubscribe()
    _write(path, "[app]\nport = 3\n")
    watcher.reload()
    assert calls == ["a", "b", "b"]
    _write(path, "[app\n")
    with caplog.at_level(logging.ERROR, logger="llm_infra.config"):
        watcher.reload()
    assert calls[-1] == "err"
    assert "a configuration error handler failed" in caplog.text
    stop_errors()
    stop_errors()
    watcher.reload()
    assert calls.count("err") == 1


def test_invalid_options(tmp_path: Path) -> None:
    """Negative debounce or non-positive poll delay are refused; no file means nothing to watch."""
    path = tmp_path / "app.toml"
    _write(path, "")
    with pytest.raises(ConfigError) as raised:
        ConfigWatcher(_loader(path), debounce=-1)
    assert raised.value.code == "config.invalid_option"
    with pytest.raises(ConfigError) as raised:
        ConfigWatcher(_loader(path), poll_delay=0)
    assert raised.value.code == "config.invalid_option"
    watcher = ConfigWatcher(ConfigLoader(keys=[]).with_overrides({"a": 1}))
    with pytest.raises(ConfigError) as info:
        watcher.start()
    assert info.value.code == "config.nothing_to_watch"
    optional = ConfigWatcher(ConfigLoader(keys=[]).with_file(tmp_path / "no" / "such.toml", required=False))
    with pytest.raises(ConfigError) as raised:
        optional.start()
    assert raised.value.code == "config.nothing_to_watch"


def test_500_reloads_8_readers_no_torn_snapshot(tmp_path: Path) -> None:
    """500 reloads while 8 threads read: every snapshot a reader takes is internally consistent."""
    path = tmp_path / "app.toml"

    def document(n: int) -> str:
        return f"[gen]\na = {n}\nb = {n}\n[nested.deep]\nc = {n}\n[lists]\nl = [{n}, {n}, {n}]\n"

    path.write_text(document(0), encoding="utf-8")
    watcher = ConfigWatcher(ConfigLoader(keys=[]).with_file(path))
    stop = threading.Event()
    torn: list[tuple[object, ...]] = []
    reads = [0] * 8
    backwards = [0] * 8

    def reader(index: int) -> None:
        last = -1
        while not stop.is_set():
            snap = watcher.current
            values = (snap.get("gen.a"), snap.get("gen.b"), snap.get("nested.deep.c"), snap.get("lists.l"))
            n = values[0]
            if values != (n, n, n, (n, n, n)):
                torn.append(values)
            if n < last:
                backwards[index] += 1
            last = n
            reads[index] += 1
            time.sleep(0)  # let the writer in: this is a yield, not a wait

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        for n in range(1, 501):
            path.write_text(document(n), encoding="utf-8")
            change = watcher.reload()
            assert change is not None
            assert change.changed == {"gen.a", "gen.b", "nested.deep.c", "lists.l"}
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert watcher.generation == 500
    assert watcher.current.get("gen.a") == 500
    assert torn == []
    assert backwards == [0] * 8
    assert all(count > 0 for count in reads)


def test_real_file_edit_thread(tmp_path: Path) -> None:
    """The thread watcher sees an editor's rename-save, then keeps the last good config on a broken save."""
    path = tmp_path / "app.toml"
    _write(path, "[app]\nport = 1\n")
    changes: list[ConfigReload] = []
    errors: list[ConfigError] = []
    watcher = ConfigWatcher(_loader(path), on_change=changes.append, on_error=errors.append, debounce=0.05)
    with watcher:
        assert watcher.start() is watcher
        _write(path, "[app]\nport = 2\n")
        _poll(lambda: bool(changes), nudge=lambda: _write(path, "[app]\nport = 2\n"))
        assert changes[0].changed == {"app.port"}
        assert watcher.current.get(PORT) == 2
        good = watcher.current
        _write(path, "[app]\nport = \n")
        _poll(lambda: bool(errors), nudge=lambda: _write(path, "[app]\nport = \n"))
        assert watcher.current is good
        assert errors[0].attributes["line"] == 2
    watcher.stop()


@pytest.mark.anyio
async def test_real_file_edit_async(tmp_path: Path) -> None:
    """``achanges`` yields the change of a real edit; ``arun`` stops when its event is set."""
    path = tmp_path / "app.toml"
    _write(path, "[app]\nport = 1\n")
    watcher = ConfigWatcher(_loader(path), debounce=0.05)
    received: list[ConfigReload] = []

    async def editor(port: int, done: anyio.Event) -> None:
        while not done.is_set():
            await anyio.sleep(0.3)  # an editor saving repeatedly until the watcher reacts
            _write(path, f"[app]\nport = {port}\n")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            done = anyio.Event()
            tg.start_soon(editor, 2, done)
            async with contextlib.aclosing(watcher.achanges()) as changes:
                async for change in changes:
                    received.append(change)
                    break
            done.set()
    assert received[0].changed == {"app.port"}
    assert watcher.current.get(PORT) == 2

    seen: list[ConfigReload] = []
    watcher.subscribe(seen.append)
    stop = anyio.Event()

    async def stop_when_seen() -> None:
        while not seen:
            await anyio.sleep(0.05)
        stop.set()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            done = anyio.Event()
            tg.start_soon(editor, 3, done)
            tg.start_soon(stop_when_seen)
            await watcher.arun(stop)
            done.set()
    assert watcher.current.get(PORT) == 3


def test_watcher_without_watchfiles_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """watchfiles is optional: ConfigWatcher says which pip line installs it."""
    import sys

    path = tmp_path / "c.toml"
    path.write_text("a = 1\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "watchfiles", None)
    with pytest.raises(ConfigError) as info:
        ConfigWatcher(ConfigLoader(keys=[]).with_file(path))
    assert info.value.code == "config.missing_extra"
    assert "llm-infra[watch]" in info.value.message


def test_config_imports_without_watchfiles() -> None:
    """``import llm_infra.config`` (and loading) works when watchfiles is not installed."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['watchfiles'] = None\n"
        "from llm_infra.config import ConfigLoader\n"
        "print(ConfigLoader(keys=[]).with_env(environ={'LLM_A': 'x'}).load().get('a'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "x"), result.stderr
