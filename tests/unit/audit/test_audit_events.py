"""The spec's SecurityEvent variants: validation, serialization, trace ids, keyed value hashes."""

from __future__ import annotations

import ipaddress
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from llm_infra.audit import (
    AuthenticationAttempt,
    AuthMethod,
    AuthorizationCheck,
    ConfigChange,
    RateLimitExceeded,
    SecretAccess,
    SecretOperation,
    SecurityEvent,
    SuspiciousActivity,
    event_from_dict,
    hash_config_value,
)
from llm_infra.errors import ValidationError
from llm_infra.secrets import Secret

HASH_KEY = b"k" * 32


def sample_events() -> list[SecurityEvent]:
    return [
        AuthenticationAttempt("alice", "api_key", True, "10.0.0.1", "curl/8"),
        AuthenticationAttempt("unknown", AuthMethod.JWT, False, None, None, reason="auth.invalid_token"),
        AuthorizationCheck("alice", "collection/docs", "vector:read", True),
        AuthorizationCheck("bob", "collection/docs", "vector:write", False),
        SecretAccess("db-password", "deployer", "rotate"),
        ConfigChange.from_values("http.timeout", "ops", 30, 60, hash_key=HASH_KEY),
        RateLimitExceeded("alice", "/v1/search", 100, timedelta(minutes=1)),
        SuspiciousActivity("kid injection attempt", "2001:db8::1", ["kid_injection", "jwt"]),
    ]


def test_authentication_attempt_accepts_the_method_string_value() -> None:
    """``method`` may be given as the enum's string value and is stored as the enum."""
    event = AuthenticationAttempt("alice", "jwt", True, None, None)
    assert event.method is AuthMethod.JWT


@pytest.mark.parametrize("method", ["password", "", "API_KEY"])
def test_unknown_auth_method_is_a_validation_error(method: str) -> None:
    """An unknown method string raises ValidationError with the audit code."""
    with pytest.raises(ValidationError) as info:
        AuthenticationAttempt("alice", method, True)  # type: ignore[arg-type]
    assert info.value.code == "audit.invalid_event"
    assert info.value.field == "method"


def test_secret_access_operation_accepts_strings() -> None:
    """``operation`` accepts a SecretOperation value string."""
    assert SecretAccess("s", "me", "read").operation is SecretOperation.READ
    with pytest.raises(ValidationError) as raised:
        SecretAccess("s", "me", "peek")  # type: ignore[arg-type]
    assert raised.value.code == "audit.invalid_event"


def test_events_get_ulid_ids_and_utc_timestamps() -> None:
    """Every event gets a distinct 26-character ULID and an aware UTC timestamp."""
    a, b = sample_events()[:2]
    assert len(a.event_id) == 26
    assert a.event_id != b.event_id
    assert a.timestamp.tzinfo is not None
    assert a.timestamp.utcoffset() == timedelta(0)


def test_timestamps_are_normalized_to_utc() -> None:
    """An aware timestamp in another zone is converted to UTC; a naive one is refused."""
    tz = timezone(timedelta(hours=2))
    event = AuthorizationCheck("a", "r", "x:y", True, timestamp=datetime(2026, 1, 1, 12, tzinfo=tz))
    assert event.timestamp == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert event.timestamp.tzinfo is UTC
    with pytest.raises(ValidationError) as raised:
        AuthorizationCheck("a", "r", "x:y", True, timestamp=datetime(2026, 1, 1))
    assert raised.value.code == "audit.invalid_event"


def test_trace_ids_come_from_the_recording_span() -> None:
    """Inside a recording span the event carries its trace and span ids; outside, None."""
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("op") as span:
        event = AuthorizationCheck("a", "r", "x:y", True)
        ctx = span.get_span_context()
    assert event.trace_id == format(ctx.trace_id, "032x")
    assert event.span_id == format(ctx.span_id, "016x")
    outside = AuthorizationCheck("a", "r", "x:y", True)
    assert outside.trace_id is None
    assert outside.span_id is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event_id": "not-a-ulid"}, "event_id"),
        ({"trace_id": "XYZ"}, "trace_id"),
        ({"span_id": "12"}, "span_id"),
    ],
)
def test_metadata_is_validated(kwargs: dict[str, str], field: str) -> None:
    """Explicit metadata must be well formed."""
    with pytest.raises(ValidationError) as info:
        AuthorizationCheck("a", "r", "x:y", True, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == "audit.invalid_event"
    assert info.value.field == field


def test_a_secret_can_never_be_recorded() -> None:
    """Passing a Secret to any text field is refused without revealing it."""
    canary = "canary-value-123"
    with pytest.raises(ValidationError) as info:
        AuthenticationAttempt(Secret(canary), "api_key", True)  # type: ignore[arg-type]
    assert info.value.code == "audit.invalid_event"
    assert canary not in repr(info.value)
    assert canary not in str(info.value.to_dict())


@pytest.mark.parametrize(
    "build",
    [
        lambda: AuthenticationAttempt("", "jwt", True),
        lambda: AuthenticationAttempt("a" * 5000, "jwt", True),
        lambda: AuthenticationAttempt("a", "jwt", "yes"),
        lambda: AuthenticationAttempt("a", "jwt", True, "999.1.1.1"),
        lambda: AuthenticationAttempt("a", "jwt", True, 12),
        lambda: AuthenticationAttempt(7, "jwt", True),
        lambda: AuthorizationCheck("a", "r", "x", 1),
        lambda: RateLimitExceeded("a", "/e", -1, 1.0),
        lambda: RateLimitExceeded("a", "/e", True, 1.0),
        lambda: RateLimitExceeded("a", "/e", 1, 0),
        lambda: RateLimitExceeded("a", "/e", 1, float("nan")),
        lambda: RateLimitExceeded("a", "/e", 1, "1"),
        lambda: SuspiciousActivity("d", None, "single-string"),
        lambda: SuspiciousActivity("d", None, 5),
        lambda: SuspiciousActivity("d", None, [""]),
        lambda: SuspiciousActivity("d", None, ["x"] * 65),
        lambda: ConfigChange("k", "me", None, "plain value"),
        lambda: ConfigChange("k", "me", "old", "sha256:" + "0" * 64),
    ],
)
def test_bad_fields_raise_validation_error(build: object) -> None:
    """Every malformed field is a ValidationError with code audit.invalid_event."""
    with pytest.raises(ValidationError) as info:
        build()  # type: ignore[operator]
    assert info.value.code == "audit.invalid_event"


def test_ip_addresses_are_normalized() -> None:
    """IP objects and strings are stored in canonical text form."""
    event = AuthenticationAttempt("a", "jwt", True, ipaddress.ip_address("2001:0db8::0001"))
    assert event.ip_address == "2001:db8::1"
    assert SuspiciousActivity("d", "2001:0db8:0::1").source_ip == "2001:db8::1"


def test_rate_limit_window_accepts_timedelta() -> None:
    """A timedelta window becomes seconds."""
    assert RateLimitExceeded("a", "/e", 10, timedelta(seconds=90)).window == 90.0
    assert RateLimitExceeded("a", "/e", 10, 2).window == 2.0


def test_levels_reflect_failures() -> None:
    """Failures, denials, rate limits and suspicious activity log at WARNING."""
    levels = [e.level for e in sample_events()]
    assert levels == [
        logging.INFO,
        logging.WARNING,
        logging.INFO,
        logging.WARNING,
        logging.INFO,
        logging.INFO,
        logging.WARNING,
        logging.WARNING,
    ]


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type)
def test_to_dict_round_trips(event: SecurityEvent) -> None:
    """``event_from_dict(event.to_dict())`` rebuilds an equal event."""
    data = event.to_dict()
    assert data["type"] == event.event_type
    assert event_from_dict(data) == event


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"type": "Nope"},
        {"type": "AuthorizationCheck", "identity": "a"},
        {
            "type": "AuthorizationCheck",
            "identity": "a",
            "resource": "r",
            "action": "x",
            "granted": True,
            "x": 1,
        },
        {
            "type": "AuthorizationCheck",
            "identity": "a",
            "resource": "r",
            "action": "x",
            "granted": True,
            "timestamp": "yesterday",
        },
    ],
)
def test_event_from_dict_rejects_bad_data(data: object) -> None:
    """Unknown types, missing or extra fields and bad timestamps are ValidationErrors."""
    with pytest.raises(ValidationError) as raised:
        event_from_dict(data)  # type: ignore[arg-type]
    assert raised.value.code == "audit.invalid_event"


def test_config_change_records_keyed_hashes_only() -> None:
    """from_values stores HMAC hashes; the value itself appears nowhere in the event."""
    event = ConfigChange.from_values(
        "db.password", "ops", Secret("hunter2-old"), Secret("hunter2-new"), hash_key=HASH_KEY
    )
    text = str(event.to_dict()) + repr(event)
    assert "hunter2" not in text
    assert event.new_value_hash.startswith("hmac-sha256:")
    assert event.new_value_hash == hash_config_value("hunter2-new", HASH_KEY)
    assert event.old_value_hash != event.new_value_hash


def test_config_change_for_a_new_key_has_no_old_hash() -> None:
    """old_missing leaves old_value_hash None."""
    event = ConfigChange.from_values(
        "new.key", "ops", None, [1, 2], hash_key=Secret(HASH_KEY), old_missing=True
    )
    assert event.old_value_hash is None


def test_config_value_hash_depends_on_the_key() -> None:
    """The same value hashes differently under different keys (no unsalted dictionary attack)."""
    assert hash_config_value(8080, b"a" * 16) != hash_config_value(8080, b"b" * 16)
    assert hash_config_value(b"raw", "s" * 16) == hash_config_value(b"raw", Secret("s" * 16))


def test_config_value_hash_refuses_short_keys() -> None:
    """Keys under 16 bytes are refused."""
    with pytest.raises(ValidationError) as info:
        hash_config_value(1, b"short")
    assert info.value.code == "audit.weak_key"


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    identity=TEXT,
    method=st.sampled_from(list(AuthMethod)),
    success=st.booleans(),
    ip=st.one_of(st.none(), st.ip_addresses().map(str)),
    agent=st.one_of(st.none(), st.text(max_size=40)),
)
def test_authentication_attempt_round_trips_any_text(
    identity: str, method: AuthMethod, success: bool, ip: str | None, agent: str | None
) -> None:
    """Any valid field values survive to_dict/event_from_dict and JSON."""
    from llm_infra.json import dumps, loads

    event = AuthenticationAttempt(identity, method, success, ip, agent)
    assert event_from_dict(loads(dumps(event.to_dict()))) == event
