"""Health and degradation: ``HealthStatus``, ``Capabilities``, ``Degradable``, ``HealthChecker``."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, final, runtime_checkable

from llm_infra._internal._attrs import readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import ConfigError, InfraError
from llm_infra.resilience import _codes


class HealthState(StrEnum):
    """The three levels of health, best first."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_RANK = {HealthState.HEALTHY: 0, HealthState.DEGRADED: 1, HealthState.UNHEALTHY: 2}


@final
@dataclass(frozen=True, slots=True)
class HealthStatus:
    """Healthy, or degraded/unhealthy with a reason and the time the state began.

    Build one with ``HealthStatus.healthy()``, ``HealthStatus.degraded(reason)`` or
    ``HealthStatus.unhealthy(reason)``.

    Attributes:
        state: the ``HealthState``.
        reason: why the component is not healthy (None when healthy).
        since: aware UTC time at which the component entered this state (None when healthy).

    .. versionadded:: 0.1.0
    """

    state: HealthState
    reason: str | None = None
    since: datetime | None = None

    @classmethod
    def healthy(cls) -> HealthStatus:
        """The healthy status."""
        return _HEALTHY

    @classmethod
    def degraded(cls, reason: str, since: datetime | None = None) -> HealthStatus:
        """Working with reduced capability (for example, serving from a fallback)."""
        return cls(HealthState.DEGRADED, reason, since or datetime.now(UTC))

    @classmethod
    def unhealthy(cls, reason: str, since: datetime | None = None) -> HealthStatus:
        """Not working."""
        return cls(HealthState.UNHEALTHY, reason, since or datetime.now(UTC))

    @property
    def is_healthy(self) -> bool:
        """True when healthy."""
        return self.state is HealthState.HEALTHY

    @property
    def is_degraded(self) -> bool:
        """True when degraded."""
        return self.state is HealthState.DEGRADED

    @property
    def is_unhealthy(self) -> bool:
        """True when unhealthy."""
        return self.state is HealthState.UNHEALTHY

    @staticmethod
    def worst(*statuses: HealthStatus) -> HealthStatus:
        """The least healthy of ``statuses`` (healthy when there are none); ties keep the earliest."""
        worst = _HEALTHY
        for status in statuses:
            if _RANK[status.state] > _RANK[worst.state]:
                worst = status
        return worst

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict (``since`` as RFC 3339)."""
        return {
            "state": str(self.state),
            "reason": self.reason,
            "since": None if self.since is None else self.since.isoformat(),
        }


_HEALTHY = HealthStatus(HealthState.HEALTHY)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a (possibly degraded) component can currently do.

    Attributes:
        can_read: reads are served.
        can_write: writes are accepted.
        can_search: searches are served.
        max_batch_size: the largest batch accepted now, or None for no limit.
        estimated_latency: the expected latency in seconds, if known.

    .. versionadded:: 0.1.0
    """

    can_read: bool = True
    can_write: bool = True
    can_search: bool = True
    max_batch_size: int | None = None
    estimated_latency: float | None = None

    @classmethod
    def read_only(cls) -> Capabilities:
        """Reads and searches, no writes."""
        return cls(can_write=False)

    @classmethod
    def none(cls) -> Capabilities:
        """Nothing works."""
        return cls(can_read=False, can_write=False, can_search=False)

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict."""
        return asdict(self)


@runtime_checkable
class Degradable(Protocol):
    """A component that can run in a degraded mode and report it (used by ``/readyz``)."""

    def health(self) -> HealthStatus:
        """The current health."""
        ...

    def is_degraded(self) -> bool:
        """True when not fully healthy."""
        ...

    def capabilities(self) -> Capabilities:
        """What the component can currently do."""
        ...


def _reason(error: BaseException | str | None) -> str:
    if error is None:
        return "failure"
    if isinstance(error, str):
        return error
    if isinstance(error, InfraError):
        # InfraError messages are written to be shown; foreign messages may carry anything.
        return f"{error.code}: {error.message}"
    return type(error).__qualname__


@dataclass(frozen=True, slots=True)
class _Thresholds:
    """A ``HealthChecker``'s consecutive-outcome thresholds, validated once."""

    degraded_after: int
    unhealthy_after: int
    recover_after: int

    def __post_init__(self) -> None:
        if not 1 <= self.degraded_after <= self.unhealthy_after or self.recover_after < 1:
            raise ConfigError(
                "HealthChecker needs 1 <= degraded_after <= unhealthy_after and recover_after >= 1",
                code=_codes.INVALID_HEALTH_CHECKER,
            )


@final
class HealthChecker:
    """Turns a stream of successes and failures into a ``HealthStatus``.

    ``degraded_after`` consecutive failures make the status degraded, ``unhealthy_after``
    make it unhealthy, and ``recover_after`` consecutive successes make it healthy again.
    Thread-safe.

    Args:
        name: the component's name (for reasons and logs).
        degraded_after: consecutive failures before degraded (>= 1).
        unhealthy_after: consecutive failures before unhealthy (>= degraded_after).
        recover_after: consecutive successes before healthy again (>= 1).
        clock: wall-clock source of ``since``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_clock", "_failures", "_lock", "_status", "_successes", "_thresholds", "name")
    _failures: int
    _successes: int
    _status: HealthStatus

    def __init__(
        self,
        name: str = "",
        *,
        degraded_after: int = 1,
        unhealthy_after: int = 3,
        recover_after: int = 1,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._thresholds = _Thresholds(degraded_after, unhealthy_after, recover_after)
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.time(), UTC)

    def record_success(self) -> HealthStatus:
        """Count a success; return the resulting status."""
        with self._lock:
            self._failures = 0
            self._successes += 1
            if not self._status.is_healthy and self._successes >= self._thresholds.recover_after:
                self._status = _HEALTHY
            return self._status

    def record_failure(self, error: BaseException | str | None = None) -> HealthStatus:
        """Count a failure (with the error or a reason); return the resulting status."""
        reason = _reason(error)
        with self._lock:
            self._successes = 0
            self._failures += 1
            if self._failures >= self._thresholds.unhealthy_after:
                target = HealthState.UNHEALTHY
            elif self._failures >= self._thresholds.degraded_after:
                target = HealthState.DEGRADED
            else:
                return self._status
            if self._status.state is target:
                self._status = HealthStatus(target, reason, self._status.since)
            else:
                self._status = HealthStatus(target, reason, self._now())
            return self._status

    status: readonly[HealthStatus] = readonly("_status", "The current status.")

    def health(self) -> HealthStatus:
        """The current status (``Degradable`` protocol)."""
        return self._status

    def is_degraded(self) -> bool:
        """True when not healthy."""
        return not self._status.is_healthy

    consecutive_failures: readonly[int] = readonly("_failures", "Failures since the last success.")

    def reset(self) -> None:
        """Forget all counts; healthy again."""
        with self._lock:
            self._failures = 0
            self._successes = 0
            self._status = _HEALTHY
