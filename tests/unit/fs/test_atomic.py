"""The one atomic writer: old-or-new content, kept mode, no symlink or planted-temp redirection."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from llm_infra.errors import IoError
from llm_infra.fs import atomic_write, atomic_writer


def test_writes_bytes_text_and_chunks(tmp_path: Path) -> None:
    target = tmp_path / "f"
    assert atomic_write(target, b"abc") == 3
    assert target.read_bytes() == b"abc"
    assert atomic_write(target, "é") == 2
    assert target.read_text(encoding="utf-8") == "é"
    assert atomic_write(target, [b"a", memoryview(b"bc"), bytearray(b"d")]) == 4
    assert target.read_bytes() == b"abcd"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_keeps_existing_mode_and_sets_explicit_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    atomic_write(target, b"newer", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write(target, b"again")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_failure_inside_block_leaves_old_content(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def write_then_fail() -> None:
        with atomic_writer(target) as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_text_writer(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    with atomic_writer(target, text=True) as fh:
        fh.write('{"a": 1}\n')
    assert target.read_text() == '{"a": 1}\n'


def test_symlink_target_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    target = tmp_path / "head"
    target.symlink_to(outside)
    atomic_write(target, b"new")
    assert outside.read_bytes() == b"keep"
    assert not target.is_symlink()
    assert target.read_bytes() == b"new"


def test_missing_directory_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(IoError) as info:
        atomic_write(tmp_path / "nope" / "f", b"x")
    assert info.value.code == "io.failed"
    assert info.value.operation == "write"
    assert info.value.errno == errno.ENOENT


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_read_only_directory_is_permission_denied(tmp_path: Path) -> None:  # pragma: no cover - root CI
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(IoError) as info:
            atomic_write(tmp_path / "f", b"x")
        assert info.value.code == "io.permission_denied"
    finally:
        tmp_path.chmod(0o700)


def test_disk_full_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "f"
    with pytest.raises(IoError) as info:
        atomic_write(target, b"x")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert info.value.code == "io.disk_full"
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
