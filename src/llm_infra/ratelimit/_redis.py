"""Rate-limit state in Redis: one atomic Lua script (one round trip) per decision.

Each algorithm is a script over one key, so a decision is atomic however many processes or
hosts share the limit. Times are microseconds as doubles (exact below 2**53 µs, i.e. until the
year 2255); state is written with ``%.17g`` so it round-trips exactly. By default the script
reads the Redis server's ``TIME``, the one clock every client agrees on; a limiter built with an
explicit ``clock=`` passes its ``clock.time()`` instead (tests do this with a ``FakeClock``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
from typing import TYPE_CHECKING, Any, final

from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError
from llm_infra.errors._foreign import redis_error
from llm_infra.ratelimit import _codes
from llm_infra.ratelimit._core import Decision, LimitSpec

if TYPE_CHECKING:
    import redis
    import redis.asyncio

_PRELUDE = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local eps = 1e-9
local cost = tonumber(ARGV[4])
local function fmt(x) return string.format('%.17g', x) end
local function left(x)
  local n = math.floor(x + eps)
  if n < 0 then n = 0 end
  return n
end
"""

GCRA_SCRIPT = (
    _PRELUDE
    + """
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - tolerance
if allow_at - now > 0.001 then
  return {0, left((tolerance - (tat - now)) / interval), fmt(allow_at - now), fmt(tat - now)}
end
if cost > 0 then
  redis.call('SET', KEYS[1], fmt(new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
end
return {1, left((tolerance - (new_tat - now)) / interval), '0', fmt(new_tat - now)}
"""
)

TOKEN_BUCKET_SCRIPT = (
    _PRELUDE
    + """
local rate = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'l')
local tokens = capacity
if state[1] then
  local elapsed = now - tonumber(state[2])
  if elapsed < 0 then elapsed = 0 end
  tokens = tonumber(state[1]) + elapsed * rate
  if tokens > capacity then tokens = capacity end
end
if tokens + eps < cost then
  return {0, math.floor(tokens + eps), fmt((cost - tokens) / rate), fmt((capacity - tokens) / rate)}
end
tokens = tokens - cost
local empty = capacity - tokens
if empty < 0 then empty = 0 end
if cost > 0 then
  redis.call('HSET', KEYS[1], 't', fmt(tokens), 'l', fmt(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(empty / rate / 1000) + 1)
end
return {1, left(tokens), '0', fmt(empty / rate)}
"""
)

SLIDING_WINDOW_SCRIPT = (
    _PRELUDE
    + """
local period = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local window = math.floor(now / period)
local elapsed = now - window * period
local state = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local curr, prev = 0, 0
if state[1] then
  local w = tonumber(state[1])
  if w >= window then
    curr = tonumber(state[2])
    prev = tonumber(state[3])
  elseif w == window - 1 then
    prev = tonumber(state[2])
  end
end
local count = prev * (1 - elapsed / period) + curr
if count + cost > limit + eps then
  local retry
  if curr + cost <= limit + eps and prev > 0 then
    retry = period * (1 - (limit - curr - cost) / prev) - elapsed
    if retry < 0 then retry = 0 end
  else
    retry = period - elapsed
    if curr + cost > limit then retry = retry + period * (1 - (limit - cost) / curr) end
  end
  local reset = period - elapsed
  if curr > 0 then reset = 2 * period - elapsed end
  return {0, left(limit - count), fmt(retry), fmt(reset)}
end
if cost > 0 then
  curr = curr + cost
  count = count + cost
  redis.call('HSET', KEYS[1], 'w', fmt(window), 'c', fmt(curr), 'p', fmt(prev))
  redis.call('PEXPIRE', KEYS[1], math.ceil((2 * period - elapsed) / 1000) + 1)
end
local reset = 0
if curr > 0 then reset = 2 * period - elapsed elseif prev > 0 then reset = period - elapsed end
return {1, left(limit - count), '0', fmt(reset)}
"""
)

_SCRIPTS = {
    "gcra": GCRA_SCRIPT,
    "token_bucket": TOKEN_BUCKET_SCRIPT,
    "sliding_window": SLIDING_WINDOW_SCRIPT,
}
_SHAS = {
    name: hashlib.sha1(src.encode(), usedforsecurity=False).hexdigest() for name, src in _SCRIPTS.items()
}
_US = 1_000_000.0


def script_args(spec: LimitSpec, cost: int, now: float | None) -> tuple[str, ...]:
    """The ARGV of ``spec``'s script: ``now`` (µs, or '' for the server's TIME), parameters, cost."""
    now_arg = "" if now is None else repr(now * _US)
    if spec.algorithm == "gcra":
        params = (repr(spec.emission_interval * _US), repr(spec.tolerance * _US))
    elif spec.algorithm == "token_bucket":
        params = (repr(spec.rate / _US), str(spec.capacity))
    else:
        params = (repr(spec.period * _US), str(spec.limit))
    return (now_arg, *params, str(cost))


def parse_reply(spec: LimitSpec, reply: list[Any]) -> Decision:
    """Turn a script's ``{allowed, remaining, retry_us, reset_us}`` into a ``Decision``.

    A refusal's ``retry_after`` is rounded up to the next whole microsecond plus one, so waiting
    exactly ``retry_after`` suffices even though a client-supplied time is rounded to a double.
    """
    allowed, remaining, retry_us, reset_us = reply
    retry = 0.0 if allowed else (math.ceil(max(float(retry_us), 0.0)) + 1) / _US
    return Decision(bool(allowed), int(remaining), retry, max(float(reset_us), 0.0) / _US, spec.limit)


@final
class RedisBackend:
    """Rate-limit state in Redis, shared by every process using the same ``prefix``.

    Build it from a URL (sync and async clients are created on first use) or pass clients.

    Args:
        url: a ``redis://`` URL.
        client: a ``redis.Redis`` for ``RateLimiter.check`` (not closed by ``close``).
        async_client: a ``redis.asyncio.Redis`` for ``RateLimiter.acheck`` (not closed by ``aclose``).
        prefix: prepended to every key.

    Raises:
        ConfigError: no URL and no client, or the ``redis`` extra is missing.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_async",
        "_errors",
        "_idle",
        "_idle_async",
        "_idle_loop",
        "_lock",
        "_noscript",
        "_owns_async",
        "_owns_sync",
        "_sync",
        "_url",
        "prefix",
    )

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
        prefix: str = "llm-infra:ratelimit:",
    ) -> None:
        if not url and client is None and async_client is None:
            raise ConfigError("RedisBackend needs url=, client= or async_client=", key="url")
        rexc = require("redis.exceptions", "redis")
        self._errors: tuple[type[Exception], ...] = (rexc.RedisError, OSError)
        self._noscript: type[Exception] = rexc.NoScriptError
        self._url = url
        self._sync = client
        self._async = async_client
        self._owns_sync = False
        self._owns_async = False
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._idle_async: list[Any] = []
        self._idle_loop: asyncio.AbstractEventLoop | None = None
        self.prefix = prefix

    def _sync_client(self) -> redis.Redis:
        if self._sync is not None:
            return self._sync
        message = "this RedisBackend has only an async client: use acheck/aacquire"
        client: redis.Redis = self._connect("_sync", "redis", message, "client", _codes.NO_SYNC_CLIENT)
        return client

    def _async_client(self) -> redis.asyncio.Redis:
        if self._async is not None:
            return self._async
        message = "this RedisBackend has only a sync client: use check/acquire"
        client: redis.asyncio.Redis = self._connect(
            "_async", "redis.asyncio", message, "async_client", _codes.NO_ASYNC_CLIENT
        )
        return client

    def _connect(self, attr: str, module: str, message: str, key: str, code: str) -> Any:
        """Create (once, under the lock) the client kept in ``attr`` from the URL; this backend owns it."""
        with self._lock:
            client = getattr(self, attr)
            if client is None:
                if not self._url:
                    raise ConfigError(message, key=key, code=code)
                client = require(module, "redis").Redis.from_url(self._url)
                setattr(self, attr, client)
                setattr(self, f"_owns{attr}", True)
        return client

    def _key(self, spec: LimitSpec, key: str) -> str:
        return self.prefix + spec.storage_key(key)

    def _evaluate(self, name: str, full: str, args: tuple[str, ...]) -> Any:
        """EVALSHA (EVAL on NOSCRIPT) on a connection this backend keeps checked out.

        Going through ``Redis.evalsha`` costs a pool checkout and release per call (with its
        lock and bookkeeping), about as much as the round trip itself. Idle connections wait on
        a stack instead (``list.pop``/``append`` are atomic, so threads share it safely); a
        connection that failed mid-exchange may hold half a reply, so it is disconnected and
        handed back to the pool rather than reused.
        """
        pool = self._sync_client().connection_pool
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = pool.get_connection()
        clean = False
        try:
            try:
                conn.send_command("EVALSHA", _SHAS[name], 1, full, *args)
                reply = conn.read_response()
            except self._noscript:
                conn.send_command("EVAL", _SCRIPTS[name], 1, full, *args)
                reply = conn.read_response()
            clean = True
            return reply
        finally:
            if clean:
                self._idle.append(conn)
            else:
                conn.disconnect()
                pool.release(conn)

    def decide(self, spec: LimitSpec, key: str, cost: int, now: float | None) -> Decision:
        """Run ``spec``'s script for ``key`` (``now`` in seconds since the epoch, or None for TIME).

        Raises:
            ExternalError: Redis failed (retryable when it was a connection problem).
        """
        try:
            reply = self._evaluate(spec.algorithm, self._key(spec, key), script_args(spec, cost, now))
        except self._errors as exc:
            raise redis_error(exc, "ratelimit", area=_codes.AREA) from exc
        return parse_reply(spec, reply)

    async def _aevaluate(self, name: str, full: str, args: tuple[str, ...]) -> Any:
        """Async ``_evaluate``: the idle stack belongs to the event loop that filled it."""
        pool: Any = self._async_client().connection_pool
        loop = asyncio.get_running_loop()
        if self._idle_loop is not loop:
            # Connections are bound to the loop that opened them; never reuse them elsewhere.
            self._idle_async = []
            self._idle_loop = loop
        idle = self._idle_async
        try:
            conn = idle.pop()
        except IndexError:
            conn = await pool.get_connection()
        clean = False
        try:
            try:
                await conn.send_command("EVALSHA", _SHAS[name], 1, full, *args)
                reply = await conn.read_response()
            except self._noscript:
                await conn.send_command("EVAL", _SCRIPTS[name], 1, full, *args)
                reply = await conn.read_response()
            clean = True
            return reply
        finally:
            if clean:
                idle.append(conn)
            else:
                await conn.disconnect()
                await pool.release(conn)

    async def adecide(self, spec: LimitSpec, key: str, cost: int, now: float | None) -> Decision:
        """Async ``decide``."""
        try:
            reply = await self._aevaluate(spec.algorithm, self._key(spec, key), script_args(spec, cost, now))
        except self._errors as exc:
            raise redis_error(exc, "ratelimit", area=_codes.AREA) from exc
        return parse_reply(spec, reply)

    def reset(self, spec: LimitSpec, key: str) -> None:
        """Forget ``key``'s state."""
        try:
            self._sync_client().unlink(self._key(spec, key))
        except self._errors as exc:
            raise redis_error(exc, "reset", area=_codes.AREA) from exc

    async def areset(self, spec: LimitSpec, key: str) -> None:
        """Async ``reset``."""
        try:
            await self._async_client().unlink(self._key(spec, key))
        except self._errors as exc:
            raise redis_error(exc, "reset", area=_codes.AREA) from exc

    def close(self) -> None:
        """Hand back the connections this backend holds; close the sync client if it created it."""
        if self._sync is not None:
            pool = self._sync.connection_pool
            while self._idle:
                pool.release(self._idle.pop())
        if self._owns_sync and self._sync is not None:
            self._sync.close()
            self._sync = None
            self._owns_sync = False

    async def aclose(self) -> None:
        """Hand back held connections and close both clients this backend created."""
        self.close()
        if self._async is not None:
            pool = self._async.connection_pool
            if self._idle_loop is asyncio.get_running_loop():
                while self._idle_async:
                    await pool.release(self._idle_async.pop())
            self._idle_async = []
        if self._owns_async and self._async is not None:
            await self._async.aclose()
            self._async = None
            self._owns_async = False

    def __repr__(self) -> str:
        return f"RedisBackend(prefix={self.prefix!r})"
