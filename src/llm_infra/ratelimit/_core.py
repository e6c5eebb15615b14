"""The decision type, the limit specification and the validation shared by every backend."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from llm_infra.errors import ConfigError, ValidationError
from llm_infra.ratelimit import _codes

Algorithm = Literal["gcra", "token_bucket", "sliding_window"]
"""``gcra`` (default), ``token_bucket`` or ``sliding_window``."""

ALGORITHMS: tuple[str, ...] = ("gcra", "token_bucket", "sliding_window")

EPSILON = 1e-9
"""Seconds (or tokens) of float slack: waiting exactly ``retry_after`` always suffices."""


class Decision(NamedTuple):
    """The outcome of one rate-limit check.

    A ``Decision`` is truthy exactly when the request is allowed, so ``if limiter.check(key):``
    reads as expected. It is also a tuple: ``allowed, remaining, *_ = decision``.

    Attributes:
        allowed: whether the request may proceed (its cost has been taken).
        remaining: how many unit-cost requests would be allowed right now after this one.
        retry_after: seconds to wait before this same request would be allowed (0.0 if allowed).
        reset_after: seconds until the key is back to its full allowance.
        limit: the number of requests the limit allows per period.

    .. versionadded:: 0.1.0
    """

    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float
    limit: int

    def __bool__(self) -> bool:
        """True when the request is allowed."""
        return self.allowed


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitSpec:
    """A rate limit: ``limit`` requests per ``period`` seconds, bursting to ``burst``.

    Args:
        limit: requests allowed per period (>= 1).
        period: the period in seconds (> 0).
        burst: requests allowed at once from an idle key (default ``limit``). GCRA and token
            bucket only; a sliding window allows ``limit`` per window.
        algorithm: ``gcra``, ``token_bucket`` or ``sliding_window``.
        name: distinguishes limiters that share a backend; part of every storage key.

    Raises:
        ConfigError: a value is out of range or ``burst`` is given for a sliding window.

    .. versionadded:: 0.1.0
    """

    limit: int
    period: float
    burst: int | None = None
    algorithm: Algorithm = "gcra"
    name: str = ""
    emission_interval: float = field(init=False)
    tolerance: float = field(init=False)
    capacity: int = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigError(
                f"limit must be an int >= 1, got {self.limit!r}", key="limit", code=_codes.INVALID
            )
        if (
            isinstance(self.period, bool)
            or not isinstance(self.period, int | float)
            or not (0 < self.period < math.inf)
        ):
            raise ConfigError(
                f"period must be a finite number of seconds > 0, got {self.period!r}",
                key="period",
                code=_codes.INVALID,
            )
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(
                f"algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}",
                key="algorithm",
                code=_codes.INVALID,
            )
        if self.burst is not None:
            if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
                raise ConfigError(
                    f"burst must be an int >= 1, got {self.burst!r}", key="burst", code=_codes.INVALID
                )
            if self.algorithm == "sliding_window" and self.burst != self.limit:
                raise ConfigError(
                    "a sliding window has no separate burst: it allows `limit` per window",
                    key="burst",
                    code=_codes.INVALID,
                )
        object.__setattr__(self, "period", float(self.period))
        capacity = self.limit if self.burst is None else self.burst
        object.__setattr__(self, "capacity", capacity)
        object.__setattr__(self, "emission_interval", self.period / self.limit)
        object.__setattr__(self, "tolerance", capacity * self.period / self.limit)

    @property
    def rate(self) -> float:
        """Requests per second at the sustained rate."""
        return self.limit / self.period

    def storage_key(self, key: str) -> str:
        """The key under which a backend keeps the state of ``key`` for this limit."""
        base = self.name or f"{self.algorithm}:{self.limit}:{self.period:g}:{self.capacity}"
        return f"{base}:{key}"

    def check_cost(self, cost: int) -> None:
        """Refuse a cost that is not an int in ``[0, capacity]`` (0 peeks without consuming)."""
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValidationError(
                f"cost must be an int >= 0, got {cost!r}",
                field="cost",
                expected="int >= 0",
                actual=repr(cost),
                code=_codes.INVALID_COST,
            )
        if cost > self.capacity:
            raise ValidationError(
                f"cost {cost} can never be allowed: the limit allows at most {self.capacity} at once",
                field="cost",
                expected=f"<= {self.capacity}",
                actual=str(cost),
                code=_codes.COST_EXCEEDS_BURST,
            )
