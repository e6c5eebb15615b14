"""TempDir/TempFile, FileLock across processes, checksums, JSON files, walk/glob, fsspec remotes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from llm_infra.errors import ConfigError, IoError, SerializationError
from llm_infra.fs import (
    ChecksummedFile,
    FileLock,
    TempDir,
    TempFile,
    checksum_file,
    glob,
    is_remote,
    read_bytes,
    read_json,
    walk,
    write_json,
)


def test_tempdir_and_tempfile_clean_up(tmp_path: Path) -> None:
    with TempDir(prefix="t-", dir=tmp_path) as d:
        (d / "x").write_text("1")
        assert d.is_dir()
        assert oct(d.stat().st_mode & 0o777) == "0o700"
    assert not d.exists()
    with TempFile(suffix=".json", dir=tmp_path) as f:
        assert f.exists()
        assert f.suffix == ".json"
        assert oct(f.stat().st_mode & 0o777) == "0o600"
    assert not f.exists()
    keeper = TempFile(dir=tmp_path)
    with keeper as kept:
        keeper.keep()
    assert kept.exists()
    with pytest.raises(IoError) as info, TempDir(dir=tmp_path / "missing"):
        pass
    assert info.value.code == "io.failed"
    with pytest.raises(IoError) as file_info, TempFile(dir=tmp_path / "missing"):
        pass
    assert file_info.value.code == "io.failed"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from llm_infra.fs import FileLock
    lock = FileLock(sys.argv[1])
    lock.acquire()
    print("held", flush=True)
    sys.stdin.readline()
    """
)


def test_file_lock_excludes_other_processes_and_dies_with_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "a.lock"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        lock = FileLock(path, timeout=0.1, poll=0.01)
        with pytest.raises(IoError) as info:
            lock.acquire()
        assert info.value.code == "fs.lock_timeout"
        assert info.value.retryable
        holder.kill()  # kill -9: the kernel drops the lock
        holder.wait()
        with FileLock(path, timeout=5) as taken:
            assert taken.locked
            with pytest.raises(IoError) as reentry:
                taken.acquire()
            assert reentry.value.code == "io.failed"
            other = FileLock(path)
            with pytest.raises(IoError) as busy:
                other.acquire(timeout=0)
            assert busy.value.code == "fs.lock_timeout"
        assert not taken.locked
        taken.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()


def test_file_lock_unopenable_path(tmp_path: Path) -> None:
    with pytest.raises(IoError) as info:
        FileLock(tmp_path / "no" / "dir.lock").acquire()
    assert info.value.code == "io.failed"


def test_checksum_file_and_checksummed_file(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"abc")
    assert checksum_file(target) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert len(checksum_file(target, "blake2b")) == 128
    with pytest.raises(IoError) as missing:
        checksum_file(tmp_path / "nope")
    assert missing.value.code == "fs.not_found"
    with pytest.raises(ConfigError) as bad_algo:
        checksum_file(target, "md5")  # type: ignore[arg-type]
    assert bad_algo.value.code.startswith("crypto.") or bad_algo.value.code.startswith("config.")

    f = ChecksummedFile(tmp_path / "index.bin")
    with pytest.raises(IoError) as nothing:
        f.read()
    assert nothing.value.code == "fs.not_found"
    f.write(b"vectors")
    assert f.read() == b"vectors"
    assert f.verify()
    assert Path(f.sidecar).read_text().endswith("  index.bin\n")
    (tmp_path / "index.bin").write_bytes(b"vectorz")  # corruption / torn write
    with pytest.raises(IoError) as info:
        f.read()
    assert info.value.code == "fs.checksum_mismatch"
    assert not f.verify()
    Path(f.sidecar).unlink()
    with pytest.raises(IoError) as no_sidecar:
        f.read()
    assert no_sidecar.value.code == "fs.checksum_missing"


def test_read_and_write_json(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    assert read_json(target, default=None) is None
    with pytest.raises(IoError) as missing:
        read_json(target)
    assert missing.value.code == "fs.not_found"
    assert write_json(target, {"b": 1, "a": [1, 2]}, sort_keys=True, mode=0o600) > 0
    assert target.read_bytes() == b'{"a":[1,2],"b":1}'
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert read_json(target) == {"a": [1, 2], "b": 1}
    target.write_text("{bad")
    with pytest.raises(SerializationError) as bad:
        read_json(target)
    assert bad.value.path == str(target)
    assert bad.value.code == "json.invalid"
    (tmp_path / "dir").mkdir()
    with pytest.raises(IoError) as isdir:
        read_bytes(tmp_path / "dir")
    assert isdir.value.code == "io.failed"


def test_walk_and_glob_stay_inside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text("{}")
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "x.json").write_text("{}")
    (root / "a" / "b" / "y.json").write_text("{}")
    (root / "a" / "b" / "z.txt").write_text("")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "h.json").write_text("{}")
    (root / "link.json").symlink_to(outside / "secret.json")
    (root / "linkdir").symlink_to(outside)
    (root / "inner.json").symlink_to(root / "a" / "x.json")
    names = [str(Path(p).relative_to(root.resolve())) for p in walk(root)]
    assert names == ["inner.json", "a/x.json", "a/b/y.json", "a/b/z.txt"]
    assert [Path(p).name for p in walk(root, pattern="*.json")] == ["inner.json", "x.json", "y.json"]
    assert ".hidden/h.json" in [
        str(Path(p).relative_to(root.resolve())) for p in walk(root, include_hidden=True)
    ]
    found = [str(Path(p).relative_to(root.resolve())) for p in glob(root, "**/*.json")]
    assert found == ["a/b/y.json", "a/x.json", "inner.json"]
    with pytest.raises(IoError) as info:
        list(walk(tmp_path / "nope"))
    assert info.value.code == "io.failed"


def test_remote_memory_filesystem_same_error_mapping() -> None:
    pytest.importorskip("fsspec")  # the fs-remote extra
    base = f"memory://llm-infra-test-{uuid.uuid4().hex[:8]}"
    assert is_remote(base)
    assert not is_remote("/tmp/x")
    assert not is_remote("file:///tmp/x")
    assert write_json(f"{base}/conf/a.json", {"x": 1}) == 7
    assert read_json(f"{base}/conf/a.json") == {"x": 1}
    assert read_json(f"{base}/conf/none.json", default={}) == {}
    with pytest.raises(IoError) as missing:
        read_bytes(f"{base}/conf/none.json")
    assert missing.value.code == "fs.not_found"
    assert missing.value.operation == "read"
    assert missing.value.path == f"{base}/conf/none.json"
    f = ChecksummedFile(f"{base}/idx.bin")
    f.write(b"abc")
    assert f.read() == b"abc"
    assert str(f.sidecar).endswith("idx.bin.sha256")
    assert (
        checksum_file(f"{base}/idx.bin") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    with pytest.raises(IoError) as gone:
        checksum_file(f"{base}/gone.bin")
    assert gone.value.code == "fs.not_found"
    listed = list(walk(base))
    assert listed == sorted(listed)
    assert f"{base}/conf/a.json" in listed
    assert list(walk(base, pattern="*.json")) == [f"{base}/conf/a.json"]
    assert glob(base, "conf/*.json") == [f"{base}/conf/a.json"]


def test_missing_fsspec_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ConfigError) as info:
        read_bytes("s3://bucket/key")
    assert info.value.code == "config.missing_extra"
    assert "llm-infra[fs-remote]" in str(info.value)
