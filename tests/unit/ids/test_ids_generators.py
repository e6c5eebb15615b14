"""Tests of llm_infra.ids: formats, monotonicity, Snowflake rules and thread safety."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_infra import ids
from llm_infra._internal._ulid import encode_ulid
from llm_infra.errors import ConfigError, InfraError
from llm_infra.ids._ids import _Uuid7Generator
from llm_infra.testing import FakeClock

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CROCKFORD = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_uuid4_is_version_4_rfc_variant() -> None:
    """uuid4 returns a canonical lower-case version 4 UUID."""
    value = ids.uuid4()
    assert UUID_RE.match(value)
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122


def test_uuid7_layout_and_timestamp() -> None:
    """uuid7 carries version 7, the RFC variant and the current Unix time in ms."""
    gen = _Uuid7Generator()
    value = gen.new(now_ms=1_700_000_000_123)
    parsed = uuid.UUID(value)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == 1_700_000_000_123
    assert UUID_RE.match(ids.uuid7())


def test_uuid7_monotonic_within_one_millisecond() -> None:
    """Many uuid7 ids made in the same millisecond are strictly increasing."""
    gen = _Uuid7Generator()
    values = [gen.new(now_ms=5) for _ in range(1000)]
    assert values == sorted(values)
    assert len(set(values)) == 1000


def test_uuid7_survives_clock_rollback() -> None:
    """A backwards clock step keeps the previous timestamp instead of going back."""
    gen = _Uuid7Generator()
    first = gen.new_int(now_ms=10_000)
    second = gen.new_int(now_ms=9_000)
    assert second > first
    assert second >> 80 == 10_000


def test_uuid7_counter_overflow_moves_to_next_millisecond() -> None:
    """When the 42-bit counter is exhausted the timestamp is bumped by one ms."""
    gen = _Uuid7Generator()
    gen.new_int(now_ms=100)
    gen._last_seq = (1 << 42) - 1
    value = gen.new_int(now_ms=100)
    assert value >> 80 == 101


def test_ulid_format_and_monotonicity() -> None:
    """ulid returns 26 Crockford characters and increases within the process."""
    values = [ids.ulid() for _ in range(2000)]
    assert all(CROCKFORD.match(v) for v in values)
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_error_ids_share_the_ulid_stream() -> None:
    """new_error_id and InfraError's error_id come from the same monotonic ULID stream."""
    a = ids.new_error_id()
    b = InfraError("x").context.error_id
    c = ids.ulid()
    assert a < b < c
    assert CROCKFORD.match(a)


def _reference_ulid(value: int) -> str:
    """Crockford base32 one 5-bit group at a time: 26 characters hold the 128 bits (top 2 bits 0)."""
    return "".join(CROCKFORD_ALPHABET[(value >> (125 - 5 * i)) & 31] for i in range(26))


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
@settings(max_examples=200)
def test_fast_ulid_encoding_matches_reference(value: int) -> None:
    """The table-driven ULID encoder agrees with a bit-by-bit reference for any 128-bit value."""
    assert encode_ulid(value) == _reference_ulid(value)


def test_ulid_carries_the_current_millisecond() -> None:
    """The first 48 bits of a ulid are the Unix time in ms; ulid strings sort like their integers."""
    before = time.time_ns() // 1_000_000
    value = ids.ulid()
    after = time.time_ns() // 1_000_000
    number = sum(CROCKFORD_ALPHABET.index(ch) << (125 - 5 * i) for i, ch in enumerate(value))
    assert _reference_ulid(number) == value
    assert before <= number >> 80 <= after + 1  # +1: a monotonic bump within one millisecond


@pytest.mark.parametrize("size", [1, 5, 21, 64])
def test_nanoid_size_and_alphabet(size: int) -> None:
    """nanoid returns exactly size URL-safe characters."""
    value = ids.nanoid(size)
    assert len(value) == size
    assert set(value) <= set(ids.NANOID_ALPHABET)


def test_nanoid_default_uses_whole_alphabet() -> None:
    """The default alphabet's symbols all appear in a large sample (no stuck bits)."""
    sample = "".join(ids.nanoid(64) for _ in range(200))
    assert set(sample) == set(ids.NANOID_ALPHABET)


@given(st.integers(min_value=1, max_value=40), st.sampled_from(["01", "abc", "0123456789", "xyz!" * 1]))
@settings(max_examples=50)
def test_nanoid_custom_alphabet(size: int, alphabet: str) -> None:
    """A custom alphabet yields ids of the requested size over that alphabet only."""
    value = ids.nanoid(size, alphabet=alphabet)
    assert len(value) == size
    assert set(value) <= set(alphabet)


@pytest.mark.parametrize(
    ("size", "alphabet", "code"),
    [
        (0, None, "ids.invalid_size"),
        (-1, None, "ids.invalid_size"),
        (0, "abc", "ids.invalid_size"),
        (5, "a", "ids.invalid_alphabet"),
        (5, "aab", "ids.invalid_alphabet"),
        (5, "x" * 300, "ids.invalid_alphabet"),
    ],
)
def test_nanoid_rejects_bad_arguments(size: int, alphabet: str | None, code: str) -> None:
    """A size below one or an invalid alphabet raises ConfigError."""
    with pytest.raises(ConfigError) as info:
        ids.nanoid(size, alphabet=alphabet)
    assert info.value.code == code


# --------------------------------------------------------------------------- Snowflake


def _flake(clock: FakeClock, **kw: object) -> ids.Snowflake:
    return ids.Snowflake(7, epoch_ms=1_700_000_000_000, clock=clock, **kw)  # type: ignore[arg-type]


def test_snowflake_bit_layout() -> None:
    """An id packs 41 bits of ms since the epoch, 10 of worker and 12 of sequence."""
    clock = FakeClock(epoch=1_700_000_000.5)
    flake = _flake(clock)
    first = flake.next_id()
    second = flake.next_id()
    assert first == (500 << 22) | (7 << 12)
    assert second == first + 1
    parts = flake.parts(second)
    assert parts == ids.SnowflakeParts(1_700_000_000_500, 7, 1)
    assert flake.worker_id == 7
    assert flake.epoch_ms == 1_700_000_000_000
    assert "worker_id=7" in repr(flake)


def test_snowflake_sequence_resets_each_millisecond() -> None:
    """The sequence starts at 0 again when the millisecond changes."""
    clock = FakeClock(epoch=1_700_000_001.0)
    flake = _flake(clock)
    flake.next_id()
    flake.next_id()
    clock.advance(0.001)
    assert flake.parts(flake.next_id()).sequence == 0


def test_snowflake_waits_for_next_millisecond_when_sequence_exhausted() -> None:
    """The 4097th id in one millisecond waits (sleeps) for the next millisecond instead of wrapping."""
    clock = FakeClock(epoch=1_700_000_001.0)
    flake = _flake(clock)
    made = [flake.next_id() for _ in range(4097)]
    assert len(set(made)) == 4097
    assert made == sorted(made)
    assert clock.sleeps, "the generator must have waited"
    last = flake.parts(made[-1])
    assert last.sequence == 0
    assert last.timestamp_ms == 1_700_000_001_001


def test_snowflake_small_rollback_is_waited_out() -> None:
    """A backwards step within max_rollback_ms waits until the clock catches up."""
    clock = FakeClock(epoch=1_700_000_002.0)
    flake = _flake(clock, max_rollback_ms=10)
    first = flake.next_id()
    clock.set_time(1_700_000_001.995)
    second = flake.next_id()
    assert second > first
    assert clock.sleeps


def test_snowflake_large_rollback_is_refused() -> None:
    """A backwards step beyond max_rollback_ms raises a retryable ids.clock_rollback error."""
    clock = FakeClock(epoch=1_700_000_002.0)
    flake = _flake(clock, max_rollback_ms=10)
    flake.next_id()
    clock.set_time(1_700_000_001.0)
    with pytest.raises(InfraError) as info:
        flake.next_id()
    assert info.value.code == "ids.clock_rollback"
    assert info.value.retryable
    assert info.value.retry_after == pytest.approx(1.0)


def test_snowflake_refuses_time_before_epoch_and_overflow() -> None:
    """Times before the epoch or past the 41-bit range raise InfraError with stable codes."""
    clock = FakeClock(epoch=1_600_000_000.0)
    with pytest.raises(InfraError) as info:
        _flake(clock).next_id()
    assert info.value.code == "ids.clock_before_epoch"
    clock.set_time(1_700_000_000.0 + (1 << 41) / 1000 + 1)
    with pytest.raises(InfraError) as info:
        _flake(clock).next_id()
    assert info.value.code == "ids.timestamp_overflow"


def test_snowflake_stalled_clock_is_reported() -> None:
    """A clock that never advances while waiting raises ids.clock_stalled instead of hanging."""
    clock = FakeClock(epoch=1_700_000_001.0)
    flake = _flake(clock, sleep=lambda _s: None)
    for _ in range(4096):
        flake.next_id()
    with pytest.raises(InfraError) as info:
        flake.next_id()
    assert info.value.code == "ids.clock_stalled"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"worker_id": -1}, "ids.invalid_worker"),
        ({"worker_id": 1024}, "ids.invalid_worker"),
        ({"epoch_ms": -5}, "ids.invalid_epoch"),
        ({"max_rollback_ms": -1}, "ids.invalid_rollback"),
    ],
)
def test_snowflake_rejects_bad_configuration(kwargs: dict[str, int], code: str) -> None:
    """Out-of-range worker ids, negative epochs and tolerances raise ConfigError."""
    args = {"worker_id": 1} | kwargs
    with pytest.raises(ConfigError) as info:
        ids.Snowflake(**args)
    assert info.value.code == code
    assert info.value.key == next(iter(kwargs))


def test_snowflake_real_clock_defaults() -> None:
    """With the system clock the default epoch gives increasing positive 63-bit ids."""
    flake = ids.Snowflake(3)
    made = [flake.next_id() for _ in range(10_000)]
    assert made == sorted(set(made))
    assert 0 < made[0] < 1 << 63


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=300))
@settings(max_examples=50, deadline=None)
def test_snowflake_ids_strictly_increase_under_any_clock_steps(steps: list[int]) -> None:
    """Whatever small forward steps the clock takes, ids strictly increase."""
    clock = FakeClock(epoch=1_700_000_001.0)
    flake = _flake(clock)
    previous = -1
    for step in steps:
        clock.advance(step / 1000)
        value = flake.next_id()
        assert value > previous
        previous = value


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize(
    "make",
    [ids.uuid7, ids.ulid, ids.Snowflake(9).next_id],
    ids=["uuid7", "ulid", "snowflake"],
)
def test_no_duplicates_from_8_threads_x_100k(make: Callable[[], object]) -> None:
    """8 threads making 100k ids each produce 800k distinct ids."""
    per_thread = 100_000
    results: list[list[object]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def work(out: list[object]) -> None:
        barrier.wait()
        out.extend([make() for _ in range(per_thread)])

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = [v for out in results for v in out]
    assert len(merged) == 8 * per_thread
    assert len(set(merged)) == len(merged)
    for out in results:
        assert out == sorted(out), "ids from one thread are monotonic"


def test_random_ids_no_duplicates_from_threads() -> None:
    """uuid4 and nanoid made concurrently by 8 threads do not collide."""
    results: list[list[str]] = [[] for _ in range(8)]

    def work(out: list[str]) -> None:
        for _ in range(5_000):
            out.append(ids.uuid4())
            out.append(ids.nanoid())

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = [v for out in results for v in out]
    assert len(set(merged)) == len(merged) == 80_000
