"""HashChainedFileSink and verify_chain: every edit, deletion, insertion, reorder and truncation is found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llm_infra.audit import (
    AuthorizationCheck,
    ChainHead,
    HashChainedFileSink,
    SecurityEvent,
    verify_chain,
)
from llm_infra.errors import ConfigError, IoError
from llm_infra.secrets import Secret

KEY = b"0123456789abcdef0123456789abcdef"
N = 6


def events(n: int = N, start: int = 0) -> list[SecurityEvent]:
    return [
        AuthorizationCheck(f"user{i}", f"collection/c{i}", "vector:read", i % 2 == 0)
        for i in range(start, start + n)
    ]


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "chain.jsonl"
    with HashChainedFileSink(path, KEY) as sink:
        sink.write(events(3))
        sink.write(events(3, start=3))
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, new: list[bytes]) -> None:
    path.write_bytes(b"".join(new))


def test_a_clean_chain_verifies(chain: Path) -> None:
    """Two batches of records verify, and the head counts all of them."""
    report = verify_chain(chain, KEY)
    assert report.ok
    assert bool(report)
    assert report.records == N
    assert report.first_bad_index is None
    assert report.reason is None
    assert report.head.count == N


def test_file_is_private(chain: Path) -> None:
    """The chain and head files are created with mode 0600."""
    assert chain.stat().st_mode & 0o777 == 0o600
    assert chain.with_name(chain.name + ".head").stat().st_mode & 0o777 == 0o600


def test_wrong_key_fails_at_record_zero(chain: Path) -> None:
    """Verifying with another key fails on the first record."""
    report = verify_chain(chain, b"x" * 32)
    assert not report.ok
    assert report.first_bad_index == 0
    assert report.reason == "mac_mismatch"


@pytest.mark.parametrize("index", range(N))
def test_edit_is_detected_at_its_index(chain: Path, index: int) -> None:
    """Changing one character of record i's event is reported at i."""
    content = lines(chain)
    content[index] = content[index].replace(f"user{index}".encode(), f"evil{index}".encode())
    rewrite(chain, content)
    report = verify_chain(chain, KEY)
    assert (report.ok, report.first_bad_index, report.reason) == (False, index, "mac_mismatch")


@pytest.mark.parametrize("index", range(N))
def test_whitespace_edit_is_detected(chain: Path, index: int) -> None:
    """Re-serializing record i (same content, other bytes) is reported at i."""
    content = lines(chain)
    content[index] = content[index].replace(b'"seq":', b'"seq": ')
    rewrite(chain, content)
    report = verify_chain(chain, KEY)
    assert (report.first_bad_index, report.reason) == (index, "non_canonical")


@pytest.mark.parametrize("index", range(N - 1))
def test_deletion_is_detected_at_its_index(chain: Path, index: int) -> None:
    """Deleting record i (not the last) is reported at i."""
    content = lines(chain)
    del content[index]
    rewrite(chain, content)
    report = verify_chain(chain, KEY)
    assert (report.ok, report.first_bad_index, report.reason) == (False, index, "sequence")


@pytest.mark.parametrize("index", range(N + 1))
def test_forged_insertion_is_detected_at_its_index(chain: Path, index: int) -> None:
    """Inserting a forged record at i is reported at i."""
    content = lines(chain)
    forged = content[min(index, N - 1)].replace(b"vector:read", b"vector:drop")
    content.insert(index, forged)
    rewrite(chain, content)
    report = verify_chain(chain, KEY)
    assert (report.ok, report.first_bad_index) == (False, index)


@pytest.mark.parametrize("source", range(N))
@pytest.mark.parametrize("index", range(N + 1))
def test_replayed_record_insertion_is_detected(chain: Path, source: int, index: int) -> None:
    """Inserting a genuine copy of record j at position i is reported at i (or where the chain breaks)."""
    content = lines(chain)
    content.insert(index, content[source])
    rewrite(chain, content)
    report = verify_chain(chain, KEY)
    assert not report.ok
    # Inserting record i's copy right before itself gives the same file as inserting it after.
    assert report.first_bad_index == (index + 1 if source == index else index)


@pytest.mark.parametrize(("i", "j"), [(0, 1), (0, N - 1), (2, 4), (N - 2, N - 1)])
def test_reorder_is_detected_at_the_first_moved_record(chain: Path, i: int, j: int) -> None:
    """Swapping records i < j is reported at i."""
    content = lines(chain)
    content[i], content[j] = content[j], content[i]
    rewrite(chain, content)
    report = verify_chain(chain, KEY)
    assert (report.ok, report.first_bad_index, report.reason) == (False, i, "sequence")


@pytest.mark.parametrize("keep", range(N))
def test_truncation_is_detected_at_the_first_missing_record(chain: Path, keep: int) -> None:
    """Dropping the last records is reported at the first missing index, thanks to the head."""
    rewrite(chain, lines(chain)[:keep])
    report = verify_chain(chain, KEY)
    assert (report.ok, report.first_bad_index, report.reason) == (False, keep, "truncated")
    assert report.records == keep


def test_deleting_the_whole_file_is_truncation(chain: Path) -> None:
    """A missing file with a head that counts records is truncation at 0."""
    chain.unlink()
    report = verify_chain(chain, KEY)
    assert (report.ok, report.first_bad_index, report.reason) == (False, 0, "truncated")


def test_missing_file_without_head(tmp_path: Path) -> None:
    """Nothing at all is reported as missing_file."""
    report = verify_chain(tmp_path / "none.jsonl", KEY)
    assert (report.ok, report.reason) == (False, "missing_file")


def test_torn_last_line_is_reported(chain: Path) -> None:
    """A last line without its newline is torn_record at that index."""
    data = chain.read_bytes()
    chain.write_bytes(data[:-10])
    report = verify_chain(chain, KEY)
    assert (report.first_bad_index, report.reason) == (N - 1, "torn_record")


@pytest.mark.parametrize(
    "garbage",
    [b"not json\n", b"[]\n", b'{"seq": 1}\n', b"\n", b'{"seq":true,"prev":"","event":{},"mac":""}\n'],
)
def test_malformed_record_is_reported(chain: Path, garbage: bytes) -> None:
    """Unparseable or misshapen lines are malformed at their index."""
    content = lines(chain)
    content[2] = garbage
    rewrite(chain, content)
    report = verify_chain(chain, KEY)
    assert (report.first_bad_index, report.reason) == (2, "malformed")


def test_head_missing_is_reported_unless_not_required(chain: Path) -> None:
    """Without the head file truncation cannot be seen, so verification says so."""
    chain.with_name(chain.name + ".head").unlink()
    report = verify_chain(chain, KEY)
    assert (report.ok, report.reason, report.first_bad_index) == (False, "head_missing", None)
    assert verify_chain(chain, KEY, require_head=False).ok


def test_forged_head_is_reported(chain: Path) -> None:
    """A head whose MAC does not verify is head_invalid."""
    head = chain.with_name(chain.name + ".head")
    head.write_bytes(head.read_bytes().replace(b'"count":6', b'"count":2'))
    assert verify_chain(chain, KEY).reason == "head_invalid"
    head.write_bytes(b"garbage")
    assert verify_chain(chain, KEY).reason == "head_invalid"


def test_anchor_proves_a_prefix(chain: Path) -> None:
    """An anchor taken earlier verifies; a wrong or too-long anchor does not."""
    good = verify_chain(chain, KEY).head
    assert verify_chain(chain, KEY, anchor=good).ok
    assert verify_chain(
        chain, KEY, anchor=ChainHead(0, verify_chain(chain, KEY, anchor=None).head.mac)
    ).reason == ("anchor_mismatch")
    bad = verify_chain(chain, KEY, anchor=ChainHead(3, "0" * 64))
    assert (bad.reason, bad.first_bad_index) == ("anchor_mismatch", 2)
    longer = verify_chain(chain, KEY, anchor=ChainHead(N + 2, good.mac))
    assert (longer.reason, longer.first_bad_index) == ("truncated", N)


def test_reopening_resumes_the_chain(chain: Path) -> None:
    """A new sink on the same file continues the sequence and MAC chain."""
    with HashChainedFileSink(chain, Secret(KEY)) as sink:
        assert sink.head.count == N
        sink.write(events(2, start=N))
    report = verify_chain(chain, KEY)
    assert report.ok
    assert report.records == N + 2


def test_reopening_removes_a_torn_tail(chain: Path) -> None:
    """A crash-torn last line is cut off on reopen and the chain continues cleanly."""
    with chain.open("ab") as handle:
        handle.write(b'{"event":{"half')
    with HashChainedFileSink(chain, KEY) as sink:
        sink.write(events(1, start=N))
    assert verify_chain(chain, KEY).ok


def test_reopening_refuses_a_forged_tail(chain: Path) -> None:
    """If the last record does not verify, the sink refuses to extend the chain."""
    content = lines(chain)
    content[-1] = content[-1].replace(b"user5", b"evil5")
    rewrite(chain, content)
    with pytest.raises(IoError) as info:
        HashChainedFileSink(chain, KEY)
    assert info.value.code == "audit.chain_corrupt"


def test_reopening_refuses_a_truncated_chain(chain: Path) -> None:
    """If records are missing at the end, the sink refuses to hide that by appending."""
    rewrite(chain, lines(chain)[:3])
    with pytest.raises(IoError) as info:
        HashChainedFileSink(chain, KEY)
    assert info.value.code == "audit.chain_truncated"


def test_reopening_refuses_a_forged_head(chain: Path) -> None:
    """A head that does not verify stops the sink from opening."""
    chain.with_name(chain.name + ".head").write_bytes(b"{}")
    with pytest.raises(IoError) as info:
        HashChainedFileSink(chain, KEY)
    assert info.value.code == "audit.chain_corrupt"


def test_head_lagging_after_a_crash_is_repaired(chain: Path) -> None:
    """A head older than the records (crash between append and head update) is fixed on reopen."""
    head = chain.with_name(chain.name + ".head")
    with HashChainedFileSink(chain, KEY):
        pass
    old = head.read_bytes()
    with HashChainedFileSink(chain, KEY) as sink:
        sink.write(events(2, start=N))
    head.write_bytes(old)
    assert verify_chain(chain, KEY).ok  # more records than the head: still a valid chain
    with HashChainedFileSink(chain, KEY) as sink:
        assert sink.head.count == N + 2
    assert verify_chain(chain, KEY).head.count == N + 2


def test_a_second_writer_is_locked_out(chain: Path) -> None:
    """Two sinks cannot append to one file at once."""
    with HashChainedFileSink(chain, KEY), pytest.raises(IoError):
        HashChainedFileSink(chain, KEY)


def test_short_keys_are_refused(tmp_path: Path) -> None:
    """Keys under 32 bytes are a ConfigError, for the sink and for verification."""
    with pytest.raises(ConfigError) as info:
        HashChainedFileSink(tmp_path / "c.jsonl", b"short")
    assert info.value.code == "audit.weak_key"
    with pytest.raises(ConfigError) as raised:
        verify_chain(tmp_path / "c.jsonl", 12345)  # type: ignore[arg-type]
    assert raised.value.code == "audit.weak_key"


def test_empty_writes_and_closed_sink(tmp_path: Path) -> None:
    """An empty batch is a no-op; writing after close raises IoError."""
    sink = HashChainedFileSink(tmp_path / "c.jsonl", "k" * 32)
    sink.write([])
    sink.close()
    with pytest.raises(IoError) as raised:
        sink.write(events(1))
    assert raised.value.code == "io.error"
    assert "records=0" in repr(sink)
    assert sink.path.name == "c.jsonl"
    assert sink.name == "chain"


def test_empty_chain_verifies(tmp_path: Path) -> None:
    """A freshly opened sink leaves an empty, verifiable chain."""
    path = tmp_path / "c.jsonl"
    HashChainedFileSink(path, KEY).close()
    report = verify_chain(path, KEY)
    assert report.ok
    assert report.records == 0


def test_failed_write_leaves_no_partial_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the append fails the file is cut back, the chain is unchanged, and later writes verify."""
    path = tmp_path / "c.jsonl"
    sink = HashChainedFileSink(path, KEY)
    sink.write(events(2))
    real_write = os.write
    calls = {"n": 0}

    def failing(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            real_write(fd, bytes(data)[:7])
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing)
    with pytest.raises(IoError) as info:
        sink.write(events(2, start=2))
    assert info.value.code == "io.error"
    assert info.value.errno == 28
    monkeypatch.setattr(os, "write", real_write)
    sink.write(events(1, start=4))
    sink.close()
    report = verify_chain(path, KEY)
    assert report.ok
    assert report.records == 3


def test_head_update_failure_does_not_duplicate_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If only the head update fails, the write still succeeds (a retry would duplicate the batch)."""
    path = tmp_path / "c.jsonl"
    sink = HashChainedFileSink(path, KEY)

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", broken_replace)
    sink.write(events(2))
    monkeypatch.undo()
    sink.write(events(1, start=2))
    sink.close()
    assert verify_chain(path, KEY).records == 3


def test_long_records_resume(tmp_path: Path) -> None:
    """Resuming works when the last record is longer than the tail read chunk."""
    from llm_infra.audit import SuspiciousActivity

    path = tmp_path / "c.jsonl"
    big = [SuspiciousActivity("x" * 4000, None, [f"i{n}-" + "y" * 2000 for n in range(40)])]
    with HashChainedFileSink(path, KEY) as sink:
        sink.write(big)
    with HashChainedFileSink(path, KEY) as sink:
        sink.write(big)
    assert verify_chain(path, KEY).records == 2


@pytest.mark.anyio
async def test_awrite_appends(tmp_path: Path) -> None:
    """The async twin writes the same chained records."""
    path = tmp_path / "c.jsonl"
    with HashChainedFileSink(path, KEY) as sink:
        await sink.awrite(events(3))
    assert verify_chain(path, KEY).records == 3
