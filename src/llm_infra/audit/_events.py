"""The ``SecurityEvent`` variants as frozen dataclasses (secrets never go in)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, final

from llm_infra._internal._ulid import new_ulid
from llm_infra.audit import _codes as codes
from llm_infra.errors import ValidationError
from llm_infra.secrets import Secret

_MAX_TEXT = 4096
_MAX_INDICATORS = 64
_HASH_RE = re.compile(r"\A(?:hmac-sha256|sha256):[0-9a-f]{64}\Z")
_ULID_RE = re.compile(r"\A[0-9A-HJKMNP-TV-Z]{26}\Z")
_MIN_HASH_KEY = 16


class AuthMethod(StrEnum):
    """How a caller authenticated (``AuthMethod``); its string value is accepted too.

    .. versionadded:: 0.1.0
    """

    API_KEY = "api_key"
    JWT = "jwt"
    OAUTH = "oauth"
    CERTIFICATE = "certificate"


class SecretOperation(StrEnum):
    """What was done with a secret (``SecretOperation``).

    .. versionadded:: 0.1.0
    """

    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ROTATE = "rotate"


def _current_trace() -> tuple[str | None, str | None]:
    from opentelemetry import trace

    span = trace.get_current_span()
    ctx = span.get_span_context()
    if not ctx.is_valid or not span.is_recording():
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _trace_id() -> str | None:
    return _current_trace()[0]


def _span_id() -> str | None:
    return _current_trace()[1]


def _now() -> datetime:
    return datetime.now(UTC)


def _bad(field_name: str, message: str, expected: str | None = None) -> ValidationError:
    # The offending value is never echoed: it could be a secret passed by mistake.
    return ValidationError(
        f"invalid audit event field {field_name!r}: {message}",
        field=field_name,
        expected=expected,
        code=codes.INVALID_EVENT,
    )


def _text(name: str, value: object, *, optional: bool = False, allow_empty: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, Secret):
        raise _bad(name, "a Secret may never be recorded in an audit event", "plain text")
    if not isinstance(value, str):
        raise _bad(name, f"expected a string, got {type(value).__name__}", "str")
    if not value and not allow_empty:
        raise _bad(name, "must not be empty", "non-empty string")
    if len(value) > _MAX_TEXT:
        raise _bad(name, f"longer than {_MAX_TEXT} characters", f"<= {_MAX_TEXT} characters")
    return value


def _flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise _bad(name, "must be a bool", "bool")


_E = TypeVar("_E", bound=StrEnum)


def _member(name: str, value: str, enum: type[_E], what: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise _bad(name, f"unknown {what}", ", ".join(m.value for m in enum)) from None


def _ip(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    raise _bad(name, "not an IPv4 or IPv6 address", "IP address")


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """Base of every security event: a ULID id, a UTC timestamp and the current trace ids.

    Subclasses add their own fields. Events hold identifiers, never secret values: passing a
    ``Secret`` to any field raises ``ValidationError`` (code ``audit.invalid_event``).

    Attributes:
        event_id: ULID string, unique per event.
        timestamp: aware UTC datetime of the event.
        trace_id: the recording OpenTelemetry span's trace id (32 hex) when the event was made.
        span_id: that span's id (16 hex).

    .. versionadded:: 0.1.0
    """

    event_type: ClassVar[str] = "SecurityEvent"
    #: The bool field whose False makes the event a warning (a failure, a denial), if any.
    _outcome: ClassVar[str | None] = None
    #: The level of events without an outcome.
    _level: ClassVar[int] = logging.INFO

    event_id: str = field(default_factory=new_ulid, kw_only=True)
    timestamp: datetime = field(default_factory=_now, kw_only=True)
    trace_id: str | None = field(default_factory=_trace_id, kw_only=True)
    span_id: str | None = field(default_factory=_span_id, kw_only=True)

    def __post_init__(self) -> None:
        self._validate()
        self._validate_meta()

    def _validate(self) -> None:
        """Check (and normalize) the variant's fields; subclasses extend it."""

    def _validate_meta(self) -> None:
        if not isinstance(self.event_id, str) or not _ULID_RE.match(self.event_id):
            raise _bad("event_id", "not a ULID", "26-character ULID")
        ts = self.timestamp
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            raise _bad("timestamp", "must be an aware datetime", "aware datetime")
        object.__setattr__(self, "timestamp", ts.astimezone(UTC))
        if self.trace_id is not None and not re.fullmatch(r"[0-9a-f]{32}", str(self.trace_id)):
            raise _bad("trace_id", "not 32 lower-case hex digits", "32 hex digits")
        if self.span_id is not None and not re.fullmatch(r"[0-9a-f]{16}", str(self.span_id)):
            raise _bad("span_id", "not 16 lower-case hex digits", "16 hex digits")

    @property
    def level(self) -> int:
        """The ``logging`` level this event is logged at.

        WARNING for a failed authentication, a denied authorization, a rate limit and suspicious
        activity; INFO otherwise.
        """
        if self._outcome is None:
            return self._level
        return logging.INFO if getattr(self, self._outcome) else logging.WARNING

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: ``type``, the metadata, then the variant's fields."""
        out: dict[str, Any] = {"type": self.event_type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, StrEnum):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@final
@dataclass(frozen=True, slots=True)
class AuthenticationAttempt(SecurityEvent):
    """Someone tried to authenticate.

    Args:
        identity: who claimed to be authenticating (subject, or a key id); never the credential.
        method: an ``AuthMethod`` or its string value (``"api_key"``, ``"jwt"``, ...).
        success: whether authentication succeeded.
        ip_address: the client address, if known.
        user_agent: the client's User-Agent, if known.
        reason: for failures, the error code (``auth.invalid_credentials``, ...).

    .. versionadded:: 0.1.0
    """

    event_type: ClassVar[str] = "AuthenticationAttempt"
    _outcome = "success"

    identity: str
    method: AuthMethod
    success: bool
    ip_address: str | None = None
    user_agent: str | None = None
    reason: str | None = None

    def _validate(self) -> None:
        _text("identity", self.identity)
        object.__setattr__(
            self, "method", _member("method", self.method, AuthMethod, "authentication method")
        )
        _flag("success", self.success)
        object.__setattr__(self, "ip_address", _ip("ip_address", self.ip_address))
        _text("user_agent", self.user_agent, optional=True, allow_empty=True)
        _text("reason", self.reason, optional=True)


@final
@dataclass(frozen=True, slots=True)
class AuthorizationCheck(SecurityEvent):
    """A permission check was made.

    Args:
        identity: the subject checked.
        resource: the resource (``collection/docs``).
        action: the action (``vector:read``).
        granted: the decision.

    .. versionadded:: 0.1.0
    """

    event_type: ClassVar[str] = "AuthorizationCheck"
    _outcome = "granted"

    identity: str
    resource: str
    action: str
    granted: bool

    def _validate(self) -> None:
        _text("identity", self.identity)
        _text("resource", self.resource, allow_empty=True)
        _text("action", self.action)
        _flag("granted", self.granted)


@final
@dataclass(frozen=True, slots=True)
class SecretAccess(SecurityEvent):
    """A secret was read, written, deleted or rotated (its id only; never its value).

    Args:
        secret_id: the secret's name or id.
        accessor: who accessed it.
        operation: a ``SecretOperation`` or its string value.

    .. versionadded:: 0.1.0
    """

    event_type: ClassVar[str] = "SecretAccess"

    secret_id: str
    accessor: str
    operation: SecretOperation

    def _validate(self) -> None:
        _text("secret_id", self.secret_id)
        _text("accessor", self.accessor)
        object.__setattr__(
            self, "operation", _member("operation", self.operation, SecretOperation, "secret operation")
        )


def _value_bytes(value: object) -> bytes:
    from llm_infra.json import dumps_canonical

    plain = value.reveal() if isinstance(value, Secret) else value
    if isinstance(plain, bytes):
        return b"b:" + plain
    return b"j:" + dumps_canonical(plain)


def hash_config_value(value: object, key: bytes | Secret[bytes] | Secret[str] | str) -> str:
    """Keyed hash of a configuration value, for ``ConfigChange`` (``hmac-sha256:<hex>``).

    The hash is an HMAC under a server key, so low-entropy values (ports, booleans, short
    passwords) cannot be recovered by hashing guesses, which an unsalted hash would allow.

    Args:
        value: any JSON-serializable value, ``bytes``, or a ``Secret`` of either (revealed only
            to be hashed).
        key: the HMAC key, at least 16 bytes.

    Raises:
        ValidationError: the key is too short (code ``audit.weak_key``).
        SerializationError: the value cannot be serialized.

    .. versionadded:: 0.1.0
    """
    raw = key.reveal() if isinstance(key, Secret) else key
    key_bytes = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(key_bytes) < _MIN_HASH_KEY:
        raise ValidationError(
            f"the config hash key must be at least {_MIN_HASH_KEY} bytes",
            field="key",
            expected=f">= {_MIN_HASH_KEY} bytes",
            code=codes.WEAK_KEY,
        )
    return "hmac-sha256:" + hmac.new(key_bytes, _value_bytes(value), hashlib.sha256).hexdigest()


@final
@dataclass(frozen=True, slots=True)
class ConfigChange(SecurityEvent):
    """A configuration key changed; only keyed hashes of the values are recorded.

    Build it with ``ConfigChange.from_values(...)``, which hashes for you. The hash fields
    accept only ``hmac-sha256:<64 hex>`` (or ``sha256:<64 hex>``) strings, so a raw value can
    never be stored by mistake.

    Args:
        key: the configuration key (``http.timeout``).
        changed_by: who changed it.
        old_value_hash: hash of the previous value, None when the key was new.
        new_value_hash: hash of the new value.

    .. versionadded:: 0.1.0
    """

    event_type: ClassVar[str] = "ConfigChange"

    key: str
    changed_by: str
    old_value_hash: str | None
    new_value_hash: str

    def _validate(self) -> None:
        _text("key", self.key)
        _text("changed_by", self.changed_by)
        for name in ("old_value_hash", "new_value_hash"):
            value = getattr(self, name)
            if value is None and name == "old_value_hash":
                continue
            if not isinstance(value, str) or not _HASH_RE.match(value):
                raise _bad(name, "must be a value hash, never a value", "hmac-sha256:<64 hex>")

    @classmethod
    def from_values(
        cls,
        key: str,
        changed_by: str,
        old_value: object,
        new_value: object,
        *,
        hash_key: bytes | Secret[bytes] | Secret[str] | str,
        old_missing: bool = False,
    ) -> ConfigChange:
        """Build the event from the values themselves, hashing them with ``hash_config_value``.

        Args:
            key: the configuration key.
            changed_by: who changed it.
            old_value: the previous value (ignored when ``old_missing``).
            new_value: the new value.
            hash_key: HMAC key (>= 16 bytes), e.g. the audit key.
            old_missing: True when the key did not exist before.
        """
        old_hash = None if old_missing else hash_config_value(old_value, hash_key)
        return cls(key, changed_by, old_hash, hash_config_value(new_value, hash_key))


@final
@dataclass(frozen=True, slots=True)
class RateLimitExceeded(SecurityEvent):
    """A caller went over a rate limit.

    Args:
        identity: the limited caller.
        endpoint: what was called.
        limit: the number of requests allowed per window.
        window: the window, in seconds (a ``timedelta`` is accepted).

    .. versionadded:: 0.1.0
    """

    event_type: ClassVar[str] = "RateLimitExceeded"
    _level = logging.WARNING

    identity: str
    endpoint: str
    limit: int
    window: float

    def _validate(self) -> None:
        _text("identity", self.identity)
        _text("endpoint", self.endpoint)
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0:
            raise _bad("limit", "must be a non-negative int", "int >= 0")
        window: object = self.window
        if isinstance(window, timedelta):
            window = window.total_seconds()
        if isinstance(window, bool) or not isinstance(window, int | float) or not math.isfinite(window):
            raise _bad("window", "must be a finite number of seconds", "seconds")
        if window <= 0:
            raise _bad("window", "must be positive", "seconds > 0")
        object.__setattr__(self, "window", float(window))


@final
@dataclass(frozen=True, slots=True)
class SuspiciousActivity(SecurityEvent):
    """Something looked like an attack (token replay, key probing, path traversal, ...).

    Args:
        description: what was seen.
        source_ip: where it came from, if known.
        indicators: short machine-readable tags (``"kid_injection"``, ``"bad_mac"``).

    .. versionadded:: 0.1.0
    """

    event_type: ClassVar[str] = "SuspiciousActivity"
    _level = logging.WARNING

    description: str
    source_ip: str | None = None
    indicators: tuple[str, ...] = ()

    def _validate(self) -> None:
        _text("description", self.description)
        object.__setattr__(self, "source_ip", _ip("source_ip", self.source_ip))
        raw: object = self.indicators
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            raise _bad("indicators", "must be a sequence of strings", "list of str")
        items = tuple(raw)
        if len(items) > _MAX_INDICATORS:
            raise _bad("indicators", f"more than {_MAX_INDICATORS} indicators", f"<= {_MAX_INDICATORS}")
        for item in items:
            _text("indicators", item)
        object.__setattr__(self, "indicators", items)


EVENT_TYPES: Mapping[str, type[SecurityEvent]] = {
    cls.event_type: cls
    for cls in (
        AuthenticationAttempt,
        AuthorizationCheck,
        SecretAccess,
        ConfigChange,
        RateLimitExceeded,
        SuspiciousActivity,
    )
}


def event_from_dict(data: Mapping[str, Any]) -> SecurityEvent:
    """Rebuild an event from ``SecurityEvent.to_dict()`` output (e.g. read back from a sink).

    Raises:
        ValidationError: unknown ``type``, missing or unexpected fields, or invalid values
            (code ``audit.invalid_event``).

    .. versionadded:: 0.1.0
    """
    if not isinstance(data, Mapping):
        raise _bad("type", "an event must be a mapping", "object")
    cls = EVENT_TYPES.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise _bad("type", "unknown event type", ", ".join(EVENT_TYPES))
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k != "type"}
    unknown = set(kwargs) - names
    if unknown:
        raise _bad(sorted(unknown)[0], "unexpected field", "a field of " + cls.event_type)
    ts = kwargs.get("timestamp")
    if isinstance(ts, str):
        try:
            kwargs["timestamp"] = datetime.fromisoformat(ts)
        except ValueError:
            raise _bad("timestamp", "not an ISO 8601 timestamp", "ISO 8601") from None
    if "indicators" in kwargs and isinstance(kwargs["indicators"], list):
        kwargs["indicators"] = tuple(kwargs["indicators"])
    try:
        return cls(**kwargs)
    except TypeError:
        missing = sorted(n for n in names if n not in kwargs)
        raise _bad(
            missing[0] if missing else "type", "missing field", "a field of " + cls.event_type
        ) from None
