"""Configuration and secret files are read bounded: regular files only, with a size limit.

None of these tests can hang: FIFOs are opened with O_NONBLOCK by the reader, and a regression
would fail fast with ``config.not_a_regular_file`` missing rather than block (each FIFO has no
writer, and the reader refuses non-regular files before reading).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llm_infra.config import ConfigLoader
from llm_infra.config._read import MAX_CONFIG_FILE_BYTES, read_bounded
from llm_infra.errors import ConfigError

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")


def test_a_fifo_config_path_is_refused(tmp_path: Path) -> None:
    """A configuration path that is a FIFO (no writer) is refused at once, not waited on."""
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(fifo).load()
    assert info.value.code == "config.not_a_regular_file"


def test_a_secret_file_reference_to_a_device_is_refused(tmp_path: Path) -> None:
    """``${file:/dev/zero}`` cannot exhaust memory: a device is not a regular file."""
    path = tmp_path / "c.toml"
    path.write_text('token = "${file:/dev/zero}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(path).load()
    assert info.value.code == "config.not_a_regular_file"
    assert info.value.key == "token"


def test_a_secret_file_reference_to_a_fifo_is_refused(tmp_path: Path) -> None:
    """A ``${file:...}`` FIFO does not hang the loader."""
    fifo = tmp_path / "secret"
    os.mkfifo(fifo)
    path = tmp_path / "c.toml"
    path.write_text(f'token = "${{file:{fifo}}}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(path).load()
    assert info.value.code == "config.not_a_regular_file"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    """A directory named like a config file is not read."""
    folder = tmp_path / "c.toml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(folder).load()
    assert info.value.code in ("config.not_a_regular_file", "config.file_unreadable")


def test_a_huge_file_is_refused_by_size(tmp_path: Path) -> None:
    """A file larger than the limit is refused before it is read (a sparse file costs no disk)."""
    path = tmp_path / "c.toml"
    with open(path, "wb") as handle:
        handle.truncate(MAX_CONFIG_FILE_BYTES + 1)
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(path).load()
    assert info.value.code == "config.file_too_large"


def test_read_bounded_reads_a_small_file_and_refuses_a_large_one(tmp_path: Path) -> None:
    """The limit is inclusive; one byte more is refused."""
    path = tmp_path / "s"
    path.write_bytes(b"x" * 10)
    assert read_bounded(str(path), 10, "file") == b"x" * 10
    with pytest.raises(ConfigError) as info:
        read_bounded(str(path), 9, "file")
    assert info.value.code == "config.file_too_large"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("c.json", '{"a": ' + "1" * 100_001 + "}"),
        ("c.toml", "a = " + "1" * 100_001 + "\n"),
        ("c.yaml", "a: " + "1" * 100_001 + "\n"),
    ],
)
def test_a_100001_digit_integer_is_a_config_error(tmp_path: Path, name: str, body: str) -> None:
    """Python's integer digit limit becomes a positioned ``config.parse_error``, not a raw ValueError."""
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigLoader().with_file(path).load()
    assert info.value.code == "config.parse_error"
    assert "too many digits" in str(info.value)
    assert len(str(info.value)) < 1000
