"""``JwksCache``: verification keys from a JWKS document (RFC 7517 §5), refreshed with single-flight.

A refresh happens when the keys are older than ``ttl`` or a token names an unknown ``kid``, at
most once per ``min_refresh_interval``. The sync path (``get``) fetches inline under a lock; the
async path (``aprepare``, used by ``JwtValidator.averify``) never blocks the event loop: it
awaits ``afetch``, or runs ``fetch`` in a worker thread, and concurrent callers share one fetch.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, final

from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.crypto import _codes
from llm_infra.crypto._jose import ALGORITHMS, check_algorithm, json_object
from llm_infra.crypto._jwk import JwtKey
from llm_infra.errors import ConfigError, CryptoError

JwksDocument = Mapping[str, object] | str | bytes
"""A JWKS document: a mapping, or its JSON text."""


def _invalid_jwks(message: str) -> CryptoError:
    return CryptoError(message, code=_codes.INVALID_JWKS, operation="load_jwks")


def parse_jwks(document: object, algorithms: frozenset[str]) -> tuple[dict[str | None, JwtKey], int]:
    """The usable keys of a JWKS document by kid, and how many entries were skipped.

    Raises:
        CryptoError: ``crypto.invalid_jwks`` for a malformed document, a duplicate kid, or any
            ``oct`` (symmetric) key: a public key document never carries a shared secret, and
            one that does is either a leak or an attempt to make us accept HMAC tokens.
    """
    if isinstance(document, str | bytes):
        try:
            document = json_object(document.encode("utf-8") if isinstance(document, str) else document)
        except (ValueError, RecursionError):
            raise _invalid_jwks("the JWKS is not a JSON object") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise _invalid_jwks("a JWKS is an object with a 'keys' array")
    entries: list[Any] = document["keys"]
    keys: dict[str | None, JwtKey] = {}
    skipped = 0
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise _invalid_jwks("every JWKS entry must be an object")
        if entry.get("kty") == "oct":
            raise _invalid_jwks("a JWKS must not carry symmetric (kty 'oct') keys")
        try:
            key = JwtKey.from_jwk(entry)
        except (CryptoError, ConfigError):
            # Keys we cannot use (encryption keys, other curves, short RSA) are skipped, not fatal:
            # a provider's JWKS often lists more than one kind.
            skipped += 1
            continue
        if key.algorithm not in algorithms:
            skipped += 1
            continue
        if key.kid in keys:
            raise _invalid_jwks("duplicate kid in the JWKS")
        keys[key.kid] = key
    if None in keys and len(keys) > 1:
        raise _invalid_jwks("with more than one usable key, every JWKS key needs a kid")
    return keys, skipped


@final
class JwksCache:
    """A set of verification keys from a JWKS document (RFC 7517 §5), selected by ``kid``.

    Built from a static document, or with a ``fetch`` callable (and/or an async ``afetch``) that
    returns one. With a fetcher, keys are refreshed when older than ``ttl`` or when a token names
    an unknown ``kid``, at most once per ``min_refresh_interval`` (so forged kids cannot make us
    hammer the provider). A failed refresh keeps the last good keys. Nothing named by a token
    (``jku``, ``x5u``) is ever fetched, and a document carrying a symmetric (``oct``) key is
    refused as a whole.

    ``get`` (the sync path) fetches inline. ``aprepare`` (used by ``JwtValidator.averify``)
    awaits ``afetch`` or runs ``fetch`` in a worker thread, so the event loop keeps running;
    concurrent callers share one fetch (single-flight).

    Args:
        jwks: the initial document (a dict, or JSON text).
        fetch: a callable returning a fresh document.
        afetch: an async callable returning a fresh document (preferred by ``aprepare``).
        algorithms: usable algorithms (others are skipped).
        ttl: seconds before the keys are refreshed (with a fetcher).
        min_refresh_interval: the minimum seconds between two fetches.
        clock: the clock (``monotonic`` is used).

    Raises:
        CryptoError: ``crypto.invalid_jwks`` when the initial document is malformed.
        ConfigError: when neither ``jwks`` nor a fetcher is given, or for bad options.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_afetch",
        "_algorithms",
        "_clock",
        "_fetch",
        "_fetched_at",
        "_inflight",
        "_keys",
        "_last_attempt",
        "_lock",
        "_min_interval",
        "_ttl",
        "fetches",
        "last_error",
        "skipped",
    )

    def __init__(
        self,
        jwks: JwksDocument | None = None,
        *,
        fetch: Callable[[], JwksDocument] | None = None,
        afetch: Callable[[], Awaitable[JwksDocument]] | None = None,
        algorithms: Iterable[str] = ALGORITHMS,
        ttl: float = 300.0,
        min_refresh_interval: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._keys: dict[str | None, JwtKey] = {}
        self.skipped = 0
        self.fetches = 0
        if jwks is None and fetch is None and afetch is None:
            raise ConfigError("JwksCache needs a jwks document or a fetch callable", key="jwks")
        if ttl <= 0 or min_refresh_interval < 0:
            raise ConfigError("ttl must be positive and min_refresh_interval not negative", key="ttl")
        self._algorithms = frozenset(check_algorithm(a) for a in algorithms)
        self._fetch = fetch
        self._afetch = afetch
        self._ttl = float(ttl)
        self._min_interval = float(min_refresh_interval)
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight: dict[asyncio.AbstractEventLoop, asyncio.Future[bool]] = {}
        self.last_error: Exception | None = None
        self._fetched_at = -math.inf
        self._last_attempt = -math.inf
        if jwks is not None:
            self._keys, self.skipped = parse_jwks(jwks, self._algorithms)
            self._fetched_at = clock.monotonic()
        elif fetch is not None:
            self.refresh()
        # With only ``afetch``, the first ``aprepare`` loads the keys.

    @property
    def kids(self) -> tuple[str | None, ...]:
        """The key ids currently held."""
        return tuple(self._keys)

    def _install(self, document: object) -> bool:
        try:
            keys, skipped = parse_jwks(document, self._algorithms)
        except Exception as exc:  # noqa: BLE001 - a bad document keeps the last good keys
            self.last_error = exc
            return False
        self._keys, self.skipped, self.last_error = keys, skipped, None
        self._fetched_at = self._clock.monotonic()
        return True

    def refresh(self) -> bool:
        """Fetch the document now with ``fetch``; return whether the keys were replaced.

        A failure is recorded in ``last_error`` and the previous keys stay in use.
        """
        if self._fetch is None:
            return False
        with self._lock:
            self._last_attempt = self._clock.monotonic()
            self.fetches += 1
            try:
                document = self._fetch()
            except Exception as exc:  # noqa: BLE001 - any fetch failure keeps the last good keys
                self.last_error = exc
                return False
            return self._install(document)

    async def arefresh(self) -> bool:
        """Fetch the document now without blocking the loop; concurrent calls share one fetch.

        Uses ``afetch`` when given, else ``fetch`` in a worker thread. Returns whether the keys
        were replaced; a failure is recorded in ``last_error``.
        """
        if self._afetch is None and self._fetch is None:
            return False
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(loop)
        if pending is None:
            pending = loop.create_task(self._arefresh_once())
            self._inflight[loop] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(loop, None))
        return await asyncio.shield(pending)

    async def _arefresh_once(self) -> bool:
        if self._afetch is None:
            return await asyncio.to_thread(self.refresh)
        self._last_attempt = self._clock.monotonic()
        self.fetches += 1
        try:
            document = await self._afetch()
        except Exception as exc:  # noqa: BLE001 - any fetch failure keeps the last good keys
            self.last_error = exc
            return False
        return self._install(document)

    def _may_refresh(self, now: float) -> bool:
        fetcher = self._fetch is not None or self._afetch is not None
        return fetcher and now - self._last_attempt >= self._min_interval

    def _stale(self, now: float) -> bool:
        return now - self._fetched_at >= self._ttl and self._may_refresh(now)

    def peek(self, kid: str | None) -> JwtKey | None:
        """The key for ``kid`` from the keys held now, never fetching."""
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            # A token without kid may use the only key of a one-key set.
            key = next(iter(self._keys.values()))
        return key

    def get(self, kid: str | None) -> JwtKey | None:
        """The key for ``kid`` (or the sole unnamed key when ``kid`` is None), refreshing if allowed.

        This is the sync path: a refresh runs ``fetch`` inline (async code uses ``aprepare``).
        """
        now = self._clock.monotonic()
        if self._fetch is not None and self._stale(now):
            self.refresh()
        key = self.peek(kid)
        if key is None and kid is not None and self._fetch is not None and self._may_refresh(now):
            self.refresh()
            key = self.peek(kid)
        return key

    async def aprepare(self, kid: str | None) -> None:
        """Refresh (without blocking the loop) when the keys are stale or ``kid`` is unknown."""
        now = self._clock.monotonic()
        if self._stale(now) or (kid is not None and self.peek(kid) is None and self._may_refresh(now)):
            await self.arefresh()

    def __repr__(self) -> str:
        return f"JwksCache(kids={list(self._keys)!r}, skipped={self.skipped})"


__all__ = ["JwksCache", "JwksDocument", "parse_jwks"]
