"""SecurityAuditLog: synchronous logging, bounded buffer, retries, spill and replay, background flush."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from llm_infra.audit import (
    AUDIT_LOGGER,
    AuthenticationAttempt,
    AuthorizationCheck,
    HashChainedFileSink,
    MemoryAuditSink,
    SecurityAuditLog,
    SecurityEvent,
    verify_chain,
)
from llm_infra.errors import ConfigError, ExternalError, ValidationError
from llm_infra.resilience import RetryPolicy
from llm_infra.testing import FakeClock
from llm_infra.testing._audit import capture_audit

if TYPE_CHECKING:
    from conftest import WaitFor


class FlakySink:
    """Fails the first ``failures`` writes, then works; records what it got."""

    def __init__(self, failures: int = 0, *, name: str = "flaky", error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.events: list[SecurityEvent] = []
        self._name = name
        self.error = error or ExternalError("down", service="sink", retryable=True)
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    def write(self, events: Sequence[SecurityEvent]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.events.extend(events)

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        self.write(events)

    def close(self) -> None:
        self.closed = True


def ev(i: int = 0) -> AuthorizationCheck:
    return AuthorizationCheck(f"user{i}", "collection/docs", "vector:read", True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(sinks: Sequence[object], clock: FakeClock, **kw: object) -> SecurityAuditLog:
    kw.setdefault("flush_interval", None)
    return SecurityAuditLog(sinks, sleep=clock.sleep, asleep=clock.asleep, **kw)  # type: ignore[arg-type]


def test_log_writes_to_the_security_audit_logger_at_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The event's JSON reaches the ``security_audit`` logger before log() returns, with no flush."""
    sink = MemoryAuditSink()
    log = make([sink], clock)
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        log.log(AuthenticationAttempt("alice", "api_key", False, "10.1.2.3", "ua"))
    record = next(r for r in caplog.records if r.name == AUDIT_LOGGER)
    assert record.levelno == logging.WARNING
    assert '"type":"AuthenticationAttempt"' in record.getMessage()
    assert '"identity":"alice"' in record.getMessage()
    assert len(sink) == 0
    assert log.stats().buffered == 1


def test_flush_delivers_in_order_to_every_sink(clock: FakeClock) -> None:
    """flush() hands the buffered events, in order, to each sink."""
    a, b = MemoryAuditSink(name="a"), MemoryAuditSink(name="b")
    log = make([a, b], clock)
    sent = [ev(i) for i in range(5)]
    for e in sent:
        log.log(e)
    assert log.flush() == 5
    assert a.events == sent
    assert b.events == sent
    assert log.flush() == 0
    stats = log.stats()
    assert (stats.logged, stats.delivered, stats.buffered) == (5, 10, 0)


def test_without_sinks_events_are_only_logged(clock: FakeClock) -> None:
    """A log with no sinks buffers nothing."""
    log = make([], clock)
    with capture_audit() as audit:
        log.log(ev())
    assert len(audit) == 1
    assert log.stats().buffered == 0
    assert log.flush() == 0


def test_only_security_events_are_accepted(clock: FakeClock) -> None:
    """Anything but a SecurityEvent is a ValidationError."""
    with pytest.raises(ValidationError) as info:
        make([], clock).log({"type": "AuthenticationAttempt"})  # type: ignore[arg-type]
    assert info.value.code == "audit.invalid_event"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"buffer_size": 0},
        {"buffer_size": True},
        {"flush_interval": 0},
        {"flush_interval": -1.0},
        {"flush_interval": "1"},
    ],
)
def test_invalid_options_are_config_errors(kwargs: dict[str, object]) -> None:
    """Out-of-range options raise ConfigError."""
    with pytest.raises(ConfigError) as raised:
        SecurityAuditLog([], **kwargs)  # type: ignore[arg-type]
    assert raised.value.code == "audit.invalid_option"


def test_sink_names_must_be_distinct() -> None:
    """Two sinks with one name are refused (spills are routed by name)."""
    with pytest.raises(ConfigError) as raised:
        SecurityAuditLog([MemoryAuditSink(), MemoryAuditSink()])
    assert raised.value.code == "audit.invalid_option"


def test_buffer_is_bounded_and_overflow_spills(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Past buffer_size, events go to the fallback file, are counted, and one warning is logged."""
    sink = MemoryAuditSink()
    fallback = tmp_path / "fallback.jsonl"
    log = make([sink], clock, buffer_size=3, fallback_path=fallback)
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        for i in range(10):
            log.log(ev(i))
    stats = log.stats()
    assert stats.buffered == 3
    assert stats.overflowed == 7
    assert stats.spilled == 7
    assert stats.lost == 0
    warnings = [r for r in caplog.records if "buffer full" in r.getMessage()]
    assert len(warnings) == 1
    assert len(fallback.read_bytes().splitlines()) == 7
    log.flush()
    assert [e.identity for e in sink.events] == ["user0", "user1", "user2"]  # type: ignore[attr-defined]
    assert log.replay_fallback() == 7
    assert [e.identity for e in sink.events][3:] == [f"user{i}" for i in range(3, 10)]  # type: ignore[attr-defined]
    assert not fallback.exists()


def test_overflow_without_fallback_is_counted_as_lost_and_logged(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a fallback file, an overflowing event is logged at ERROR with its JSON and counted lost."""
    log = make([MemoryAuditSink()], clock, buffer_size=1)
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        log.log(ev(1))
        log.log(ev(2))
    assert log.stats().lost == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    assert '"identity":"user2"' in errors[-1].getMessage()


def test_failing_sink_is_retried_then_succeeds(clock: FakeClock) -> None:
    """A sink that fails twice and then works gets the batch once, after two retries."""
    sink = FlakySink(failures=2)
    log = make([sink], clock, retry=RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0))
    log.log(ev())
    log.flush()
    assert len(sink.events) == 1
    assert sink.calls == 3
    stats = log.stats()
    assert (stats.retries, stats.sink_errors, stats.delivered, stats.spilled) == (2, 2, 1, 0)
    assert len(clock.sleeps) == 2


def test_failing_sink_spills_and_does_not_hold_up_others(tmp_path: Path, clock: FakeClock) -> None:
    """A sink that keeps failing has its batch spilled; the healthy sink still gets everything."""
    bad = FlakySink(failures=100, name="bad")
    good = MemoryAuditSink(name="good")
    fallback = tmp_path / "spill" / "fallback.jsonl"
    log = make([bad, good], clock, fallback_path=fallback)
    for i in range(4):
        log.log(ev(i))
    log.flush()
    assert len(good) == 4
    assert bad.events == []
    stats = log.stats()
    assert stats.spilled == 4
    assert stats.lost == 0
    assert bad.calls == 3
    bad.failures = 0
    assert log.replay_fallback() == 4
    assert [e.identity for e in bad.events] == ["user0", "user1", "user2", "user3"]  # type: ignore[attr-defined]
    assert log.stats().replayed == 4
    assert len(good) == 4


def test_non_retryable_sink_errors_spill_at_once(tmp_path: Path, clock: FakeClock) -> None:
    """An error marked non-retryable is not retried."""
    sink = FlakySink(failures=100, error=ConfigError("misconfigured"))
    log = make([sink], clock, fallback_path=tmp_path / "f.jsonl")
    log.log(ev())
    log.flush()
    assert sink.calls == 1
    assert log.stats().spilled == 1
    assert clock.sleeps == []


def test_replay_keeps_what_still_fails_and_quarantines_the_rest(tmp_path: Path, clock: FakeClock) -> None:
    """A line for a still-failing sink stays; garbage and unauthenticated lines go to quarantine."""
    bad = FlakySink(failures=100, name="bad")
    fallback = tmp_path / "f.jsonl"
    log = make([bad], clock, fallback_path=fallback)
    log.log(ev())
    log.flush()
    with fallback.open("ab") as handle:
        handle.write(b"garbage\n")
        handle.write(b'{"sink":"gone","reason":"sink_failed","event":' + b'{"type":"Nope"}' + b"}\n")
    assert log.replay_fallback() == 0
    assert len(fallback.read_bytes().splitlines()) == 1
    assert len((tmp_path / "f.jsonl.quarantine").read_bytes().splitlines()) == 2
    assert log.stats().quarantined == 2


def test_replay_without_fallback_or_file_is_zero(tmp_path: Path, clock: FakeClock) -> None:
    """Nothing to replay gives 0."""
    assert make([MemoryAuditSink()], clock).replay_fallback() == 0
    assert make([MemoryAuditSink()], clock, fallback_path=tmp_path / "none.jsonl").replay_fallback() == 0


def test_unwritable_fallback_counts_lost(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """If the fallback file cannot be written, events are logged at ERROR and counted lost."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    log = make([FlakySink(failures=100)], clock, fallback_path=blocker / "sub" / "f.jsonl")
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        log.log(ev(7))
        log.flush()
    assert log.stats().lost == 1
    assert any('"identity":"user7"' in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_close_flushes_and_closes_sinks_and_later_events_spill(tmp_path: Path, clock: FakeClock) -> None:
    """close() flushes and closes sinks; events logged afterwards go to the fallback file."""
    sink = FlakySink()
    fallback = tmp_path / "f.jsonl"
    log = make([sink], clock, fallback_path=fallback)
    log.log(ev(1))
    log.close()
    log.close()
    assert len(sink.events) == 1
    assert sink.closed
    log.log(ev(2))
    assert log.stats().spilled == 1
    assert b'"reason":"closed"' in fallback.read_bytes()


def test_close_survives_a_sink_that_fails_to_close(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink raising in close() is logged and the others are still closed."""
    broken = FlakySink(name="broken")
    broken.close = lambda: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
    other = FlakySink(name="other")
    make([broken, other], clock).close()
    assert other.closed


def test_background_thread_flushes_on_interval(wait_for: WaitFor) -> None:
    """With a flush interval the worker delivers events without an explicit flush."""
    sink = MemoryAuditSink()
    with SecurityAuditLog([sink], flush_interval=0.01) as log:
        log.log(ev())
        wait_for(lambda: len(sink) == 1)
    assert [t for t in threading.enumerate() if t.name == "llm-infra-audit-flush"] == []


def test_background_thread_flushes_when_half_full(wait_for: WaitFor) -> None:
    """Reaching half the buffer wakes the worker even with a long interval."""
    sink = MemoryAuditSink()
    log = SecurityAuditLog([sink], buffer_size=4, flush_interval=3600)
    log.start()
    log.log(ev(1))
    log.log(ev(2))
    wait_for(lambda: len(sink) == 2)
    log.close()


def test_log_never_blocks_on_a_slow_sink() -> None:
    """log() returns while the worker is stuck in a sink write."""
    gate = threading.Event()
    entered = threading.Event()

    class Slow(FlakySink):
        def write(self, events: Sequence[SecurityEvent]) -> None:
            entered.set()
            gate.wait(10)
            super().write(events)

    sink = Slow()
    log = SecurityAuditLog([sink], flush_interval=0.01)
    log.log(ev(1))
    assert entered.wait(5)
    for i in range(100):
        log.log(ev(i))  # would hang here if log() waited for the sink
    assert log.stats().logged == 101
    gate.set()
    log.close()
    assert len(sink.events) == 101


@pytest.mark.anyio
async def test_async_twins(tmp_path: Path, clock: FakeClock) -> None:
    """alog/aflush/aclose behave like their sync twins and use awrite and asleep."""
    sink = FlakySink(failures=1)
    chain = HashChainedFileSink(tmp_path / "c.jsonl", b"k" * 32)
    async with make([sink, chain], clock) as log:
        await log.alog(ev(1))
        await log.alog(ev(2))
        assert await log.aflush() == 2
        assert len(sink.events) == 2
        assert clock.sleeps
        await log.alog(ev(3))
    assert len(sink.events) == 3
    assert sink.closed
    assert verify_chain(tmp_path / "c.jsonl", b"k" * 32).records == 3
    await log.aclose()


@pytest.mark.anyio
async def test_async_flush_spills_after_retries(tmp_path: Path, clock: FakeClock) -> None:
    """aflush retries with asleep, then spills."""
    sink = FlakySink(failures=100)
    log = make([sink], clock, fallback_path=tmp_path / "f.jsonl")
    await log.alog(ev())
    await log.aflush()
    assert log.stats().spilled == 1
    assert sink.calls == 3
    await log.aclose()


@pytest.mark.anyio
async def test_async_flush_default_sleep(tmp_path: Path) -> None:
    """Without an injected asleep, aflush sleeps through anyio."""
    sink = FlakySink(failures=1)
    log = SecurityAuditLog(
        [sink], flush_interval=None, retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001)
    )
    await log.alog(ev())
    await log.aflush()
    assert len(sink.events) == 1
    await log.aclose()


@pytest.mark.anyio
async def test_aflush_waits_for_a_running_flush(clock: FakeClock) -> None:
    """aflush waits for a sync flush holding the lock instead of interleaving batches."""
    sink = MemoryAuditSink()
    log = make([sink], clock)
    await log.alog(ev())
    log._flush_lock.acquire()
    timer = threading.Timer(0.05, log._flush_lock.release)
    timer.start()
    assert await log.aflush() == 1
    timer.join()


def test_repr_and_sinks(clock: FakeClock) -> None:
    """repr names the sinks; .sinks returns them."""
    sink = MemoryAuditSink(name="mem")
    log = make([sink], clock)
    assert repr(log) == "SecurityAuditLog(sinks=[mem], buffer_size=10000)"
    assert log.sinks == (sink,)


def test_logger_can_be_given(clock: FakeClock) -> None:
    """A custom logger receives the events."""
    with capture_audit("custom.audit") as audit:
        make([], clock, logger="custom.audit").log(ev())
        make([], clock, logger=logging.getLogger("custom.audit")).log(ev())
    assert len(audit.events) == 2
