"""Tail truncation and forged fallback lines: the audit trail refuses to continue silently."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llm_infra.audit import (
    AuthorizationCheck,
    HashChainedFileSink,
    MemoryAuditSink,
    SecurityAuditLog,
    SecurityEvent,
    reseal_chain,
    verify_chain,
)
from llm_infra.audit.__main__ import main as audit_cli
from llm_infra.errors import IoError
from llm_infra.json import dumps_canonical, loads

KEY = b"0123456789abcdef0123456789abcdef"
OTHER_KEY = b"fedcba9876543210fedcba9876543210"


def events(n: int, start: int = 0) -> list[SecurityEvent]:
    return [AuthorizationCheck(f"user{i}", f"c/{i}", "vector:read", True) for i in range(start, start + n)]


def write_chain(path: Path, n: int = 5) -> None:
    with HashChainedFileSink(path, KEY) as sink:
        sink.write(events(n))


def head_of(path: Path) -> Path:
    return path.with_name(path.name + ".head")


# --------------------------------------------------------------------------- tail truncation


def test_deleting_the_tail_and_the_head_is_refused_on_reopen(tmp_path: Path) -> None:
    """Records without a head: the sink raises audit.head_missing naming the recovery command."""
    path = tmp_path / "chain.jsonl"
    write_chain(path)
    kept = path.read_bytes().splitlines(keepends=True)[:3]
    path.write_bytes(b"".join(kept))
    head_of(path).unlink()
    with pytest.raises(IoError) as info:
        HashChainedFileSink(path, KEY)
    assert info.value.code == "audit.head_missing"
    assert "python -m llm_infra.audit reseal" in info.value.message
    report = verify_chain(path, KEY)
    assert (report.ok, report.reason) == (False, "head_missing")


def test_an_emptied_file_without_head_is_refused_and_reported(tmp_path: Path) -> None:
    """An emptied chain without a head does not verify as 'ok with 0 records', and is not reused."""
    path = tmp_path / "chain.jsonl"
    write_chain(path)
    path.write_bytes(b"")
    head_of(path).unlink()
    report = verify_chain(path, KEY)
    assert (report.ok, report.reason, report.records) == (False, "head_missing", 0)
    with pytest.raises(IoError) as info:
        HashChainedFileSink(path, KEY)
    assert info.value.code == "audit.head_missing"


def test_a_head_without_records_is_truncation(tmp_path: Path) -> None:
    """A head that counts records the file no longer has: the sink refuses, verify says truncated."""
    path = tmp_path / "chain.jsonl"
    write_chain(path)
    path.write_bytes(b"")
    with pytest.raises(IoError) as info:
        HashChainedFileSink(path, KEY)
    assert info.value.code == "audit.chain_truncated"
    assert verify_chain(path, KEY).reason == "truncated"


def test_a_new_chain_has_a_head_before_any_record(tmp_path: Path) -> None:
    """Opening a new chain writes its head first: an empty new chain verifies."""
    path = tmp_path / "new" / "chain.jsonl"
    HashChainedFileSink(path, KEY).close()
    assert head_of(path).exists()
    assert verify_chain(path, KEY).ok


def test_reseal_accepts_verified_records_and_the_sink_resumes(tmp_path: Path) -> None:
    """The recovery command writes a new head for records that verify; the sink then appends."""
    path = tmp_path / "chain.jsonl"
    write_chain(path)
    head_of(path).unlink()
    report = reseal_chain(path, KEY)
    assert (report.ok, report.records) == (True, 5)
    with HashChainedFileSink(path, KEY) as sink:
        sink.write(events(1, start=5))
    assert verify_chain(path, KEY).records == 6


def test_reseal_refuses_a_chain_whose_records_do_not_verify(tmp_path: Path) -> None:
    """Resealing never blesses an edited record."""
    path = tmp_path / "chain.jsonl"
    write_chain(path)
    head_of(path).unlink()
    data = path.read_bytes().replace(b"user2", b"userX")
    path.write_bytes(data)
    with pytest.raises(IoError) as info:
        reseal_chain(path, KEY)
    assert info.value.code == "audit.chain_corrupt"
    assert not head_of(path).exists()


def test_cli_verify_and_reseal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m llm_infra.audit verify|reseal PATH`` reads the key from LLM_AUDIT_KEY."""
    path = tmp_path / "chain.jsonl"
    write_chain(path)
    head_of(path).unlink()
    monkeypatch.delenv("LLM_AUDIT_KEY", raising=False)
    assert audit_cli(["verify", str(path)]) == 2
    monkeypatch.setenv("LLM_AUDIT_KEY", KEY.decode())
    assert audit_cli(["verify", str(path)]) == 1
    assert audit_cli(["reseal", str(path)]) == 0
    assert audit_cli(["verify", str(path)]) == 0
    path.write_bytes(b"garbage\n")
    assert audit_cli(["reseal", str(path)]) == 1


def test_a_symlink_planted_at_the_head_temp_path_does_not_redirect_the_write(tmp_path: Path) -> None:
    """The head is written through a random O_EXCL|O_NOFOLLOW temporary, never ``<head>.tmp``."""
    path = tmp_path / "chain.jsonl"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"untouched")
    os.symlink(victim, tmp_path / "chain.jsonl.head.tmp")
    with HashChainedFileSink(path, KEY) as sink:
        sink.write(events(2))
    assert victim.read_bytes() == b"untouched"
    assert not head_of(path).is_symlink()
    assert stat.S_IMODE(head_of(path).stat().st_mode) == 0o600
    assert verify_chain(path, KEY).ok


# --------------------------------------------------------------------------- forged fallback lines


class DownSink:
    """A sink that always fails (its batches are spilled)."""

    name = "down"

    def write(self, events: object) -> None:
        raise OSError("down")

    async def awrite(self, events: object) -> None:
        raise OSError("down")


def spill(tmp_path: Path, n: int = 2, **kw: object) -> Path:
    fallback = tmp_path / "fallback.jsonl"
    log = SecurityAuditLog(
        [DownSink()],  # type: ignore[list-item]
        flush_interval=None,
        fallback_path=fallback,
        retry=_no_retry(),
        **kw,  # type: ignore[arg-type]
    )
    for event in events(n):
        log.log(event)
    log.flush()
    assert log.stats().spilled == n
    return fallback


def _no_retry() -> object:
    from llm_infra.resilience import RetryPolicy

    return RetryPolicy(max_attempts=1)


def replayer(fallback: Path, **kw: object) -> tuple[SecurityAuditLog, MemoryAuditSink]:
    memory = MemoryAuditSink(name="down")
    log = SecurityAuditLog([memory], flush_interval=None, fallback_path=fallback, **kw)  # type: ignore[arg-type]
    return log, memory


def test_spilled_lines_carry_a_mac_and_replay_with_the_same_key(tmp_path: Path) -> None:
    """With an explicit key, another SecurityAuditLog (a restart) replays the spilled events."""
    fallback = spill(tmp_path, fallback_key=KEY)
    first = loads(fallback.read_bytes().splitlines()[0])
    assert set(first) == {"sink", "reason", "event", "mac"}
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o600
    log, memory = replayer(fallback, fallback_key=KEY)
    assert log.replay_fallback() == 2
    assert [e.to_dict()["identity"] for e in memory.events] == ["user0", "user1"]
    assert not fallback.exists()


def test_an_edited_line_is_quarantined_and_never_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Changing an event in the fallback file moves that line to quarantine; the other replays."""
    fallback = spill(tmp_path, fallback_key=KEY)
    lines = fallback.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"granted":true', b'"granted":false')
    fallback.write_bytes(b"".join(lines))
    log, memory = replayer(fallback, fallback_key=KEY)
    assert log.replay_fallback() == 1
    assert [e.to_dict()["identity"] for e in memory.events] == ["user1"]
    assert log.stats().quarantined == 1
    quarantine = tmp_path / "fallback.jsonl.quarantine"
    assert quarantine.read_bytes() == lines[0]
    assert stat.S_IMODE(quarantine.stat().st_mode) == 0o600
    assert "failed authentication" in caplog.text
    assert "user0" not in caplog.text  # the report names counts and files, not the line


def test_an_invented_line_is_quarantined(tmp_path: Path) -> None:
    """A well-formed line without a valid MAC (or with another key's MAC) is never delivered."""
    fallback = tmp_path / "fallback.jsonl"
    body = events(1)[0].to_dict()
    forged = {"sink": "down", "reason": "sink_failed", "event": body, "mac": "0" * 64}
    unsigned = {"sink": "down", "reason": "sink_failed", "event": body}
    fallback.write_bytes(dumps_canonical(forged) + b"\n" + dumps_canonical(unsigned) + b"\n")
    os.chmod(fallback, 0o600)
    spill_other = spill(tmp_path / "other", fallback_key=OTHER_KEY)
    fallback.write_bytes(fallback.read_bytes() + spill_other.read_bytes())
    log, memory = replayer(fallback, fallback_key=KEY)
    assert log.replay_fallback() == 0
    assert memory.events == []
    assert log.stats().quarantined == 4
    assert not fallback.exists()


def test_the_chain_key_authenticates_the_fallback_by_default(tmp_path: Path) -> None:
    """Without fallback_key, a HashChainedFileSink's key is used, so a restart can replay."""
    fallback = tmp_path / "fallback.jsonl"
    with HashChainedFileSink(tmp_path / "chain.jsonl", KEY, name="chain") as chain:
        log = SecurityAuditLog(
            [chain, DownSink()],  # type: ignore[list-item]
            flush_interval=None,
            fallback_path=fallback,
            retry=_no_retry(),  # type: ignore[arg-type]
        )
        log.log(events(1)[0])
        log.flush()
    with HashChainedFileSink(tmp_path / "chain.jsonl", KEY, name="chain") as chain:
        memory = MemoryAuditSink(name="down")
        again = SecurityAuditLog([chain, memory], flush_interval=None, fallback_path=fallback)
        assert again.replay_fallback() == 1
        assert again.stats().quarantined == 0


def test_the_fallback_file_keeps_mode_0600_through_a_rewrite(tmp_path: Path) -> None:
    """A replay that keeps lines rewrites the file atomically with mode 0600."""
    fallback = spill(tmp_path, fallback_key=KEY)
    log = SecurityAuditLog(
        [DownSink()],  # type: ignore[list-item]
        flush_interval=None,
        fallback_path=fallback,
        fallback_key=KEY,
    )
    assert log.replay_fallback() == 0
    assert len(fallback.read_bytes().splitlines()) == 2
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fallback.jsonl"]


def test_a_symlink_at_the_fallback_path_is_refused(tmp_path: Path) -> None:
    """The fallback file is opened with O_NOFOLLOW: a planted symlink is not written through."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"untouched")
    fallback = tmp_path / "fallback.jsonl"
    os.symlink(victim, fallback)
    log = SecurityAuditLog(
        [DownSink()],  # type: ignore[list-item]
        flush_interval=None,
        fallback_path=fallback,
        fallback_key=KEY,
        retry=_no_retry(),  # type: ignore[arg-type]
    )
    log.log(events(1)[0])
    log.flush()
    assert victim.read_bytes() == b"untouched"
    assert log.stats().lost == 1
