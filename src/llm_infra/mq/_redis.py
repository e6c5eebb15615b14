"""``RedisStreamsBroker``: a stream per topic, a consumer group per group.

Stale deliveries (unacknowledged past ``ack_wait``, or left by a dead consumer) are taken over
with ``XAUTOCLAIM``; a nack marks the entry idle so that the next claim redelivers it (after
``delay``); dead letters go to the ``<topic>.dlq`` stream. ``XADD`` trims each stream to about
``maxlen`` entries (trimmed unacknowledged entries are reported by ``XAUTOCLAIM`` and dropped).
Idempotent publishes use a ``SET NX`` marker per key, atomically with the ``XADD`` (Lua).
"""

from __future__ import annotations

from typing import Any

from llm_infra import json as _json
from llm_infra._internal._clock import Clock
from llm_infra._internal._lazy import require
from llm_infra.errors import MessageQueueError
from llm_infra.errors._foreign import redis_error
from llm_infra.mq import _codes
from llm_infra.mq._base import BrokerBase, BrokerOptions, Subscription
from llm_infra.mq._message import Delivery, Message, backend_error

_DEDUP_SCRIPT = """
local seen = redis.call('GET', KEYS[2])
if seen then return seen end
local maxlen = tonumber(ARGV[1])
if maxlen > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(ARGV, 4))
else
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return ARGV[2]
"""


def _error(exc: BaseException, operation: str, topic: str | None = None) -> MessageQueueError:
    converted = redis_error(exc, operation, area="mq")
    return backend_error("redis", exc, operation, topic, transient=converted.retryable)


def _encode(message: Message) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {
        b"i": message.id.encode(),
        b"p": message.payload,
        b"t": repr(message.timestamp).encode(),
    }
    if message.headers:
        fields[b"h"] = _json.dumps(dict(message.headers))
    if message.key is not None:
        fields[b"k"] = message.key.encode()
    if message.correlation_id is not None:
        fields[b"c"] = message.correlation_id.encode()
    if message.reply_to is not None:
        fields[b"r"] = message.reply_to.encode()
    if message.ttl is not None:
        fields[b"l"] = repr(message.ttl).encode()
    return fields


def _text(fields: dict[bytes, bytes], name: bytes) -> str | None:
    value = fields.get(name)
    return None if value is None else value.decode()


def _decode(topic: str, entry_id: bytes, fields: dict[bytes, bytes], count: int) -> Message:
    ttl = fields.get(b"l")
    headers = fields.get(b"h")
    return Message(
        id=_text(fields, b"i") or entry_id.decode(),
        topic=topic,
        payload=fields.get(b"p", b""),
        headers=_json.loads(headers) if headers else {},
        key=_text(fields, b"k"),
        timestamp=float(fields.get(b"t", b"0")),
        delivery_count=count,
        correlation_id=_text(fields, b"c"),
        reply_to=_text(fields, b"r"),
        ttl=None if ttl is None else float(ttl),
    )


class RedisStreamsBroker(BrokerBase):
    """Redis Streams backend (needs the ``redis`` extra; Redis >= 6.2 for ``XAUTOCLAIM``).

    Build it with ``await open_broker("redis://host:6379/0", maxlen=1_000_000, prefix="mq:")``.
    """

    system = "redis"
    _driver_error = staticmethod(_error)

    def __init__(
        self,
        client: Any,
        options: BrokerOptions | None = None,
        *,
        maxlen: int | None = 1_000_000,
        prefix: str = "mq:",
    ) -> None:
        super().__init__(options)
        if maxlen is not None and maxlen < 1:
            raise MessageQueueError("maxlen must be >= 1 or None", code=_codes.INVALID_OPTION)
        self.client = client
        self.maxlen = maxlen
        self.prefix = prefix
        self._redis = require("redis.asyncio", "redis")

    @classmethod
    async def connect(
        cls,
        url: str,
        options: BrokerOptions | None = None,
        *,
        maxlen: int | None = 1_000_000,
        prefix: str = "mq:",
        clock: Clock | None = None,
        **client_options: Any,
    ) -> RedisStreamsBroker:
        """Connect to ``url`` and check the server answers."""
        redis = require("redis.asyncio", "redis")
        client = redis.from_url(url, decode_responses=False, **client_options)
        try:
            await client.ping()
        except Exception as exc:  # noqa: BLE001 - every driver failure becomes MessageQueueError
            await client.aclose()
            raise _error(exc, "connect") from None
        broker = cls(client, options, maxlen=maxlen, prefix=prefix)
        broker.clock = clock or broker.clock
        return broker

    def stream(self, topic: str) -> str:
        """The stream key of ``topic``."""
        return f"{self.prefix}{topic}"

    async def _send(self, topic: str, messages: list[Message], dedup: list[str | None]) -> list[str]:
        self._check_open("publish")
        key = self.stream(topic)
        window_ms = str(int(self.options.dedup_window * 1000))
        maxlen = self.maxlen
        with self._converting("publish", topic):
            if len(messages) == 1 and dedup[0] is None:
                await self.client.xadd(key, _encode(messages[0]), maxlen=maxlen, approximate=True)
                return [messages[0].id]
            pipe = self.client.pipeline(transaction=False)
            for message, marker in zip(messages, dedup, strict=True):
                fields = _encode(message)
                if marker is None:
                    pipe.xadd(key, fields, maxlen=maxlen, approximate=True)
                else:
                    flat = [item for pair in fields.items() for item in pair]
                    pipe.eval(
                        _DEDUP_SCRIPT,
                        2,
                        key,
                        f"{self.prefix}dedup:{topic}:{marker}",
                        maxlen or 0,
                        message.id,
                        window_ms,
                        *flat,
                    )
            results = await pipe.execute()
        return [
            m.id if marker is None else (r.decode() if isinstance(r, bytes) else str(r))
            for m, marker, r in zip(messages, dedup, results, strict=True)
        ]

    def _subscription(self, topic: str, group: str, consumer: str, prefetch: int) -> Subscription:
        return _RedisSubscription(self, topic, group, consumer, prefetch)

    async def delete_topic(self, topic: str) -> None:
        """Delete the streams of ``topic`` and ``<topic>.dlq`` (their groups go with them)."""
        with self._converting("delete", topic):
            await self.client.delete(self.stream(topic), self.stream(topic + ".dlq"))

    async def _close(self) -> None:
        await self.client.aclose()


class _RedisSubscription(Subscription):
    broker: RedisStreamsBroker

    def _setup(self) -> None:
        ack_wait = self.broker.options.ack_wait
        self.key = self.broker.stream(self.topic)
        self._cursor = b"0-0"
        self._last_claim = float("-inf")
        self._claim_now = True
        self._ack_wait_ms = max(1, int(ack_wait * 1000))
        self._claim_every = min(ack_wait / 4, 1.0)

    async def _start(self) -> None:
        with self.broker._converting("subscribe", self.topic, ignore=lambda exc: "BUSYGROUP" in str(exc)):
            await self.broker.client.xgroup_create(self.key, self.group, id="0", mkstream=True)

    async def _claim(self, count: int) -> list[Delivery]:
        client = self.broker.client
        self._last_claim = self.broker.timer.monotonic()
        self._claim_now = False
        reply = await client.xautoclaim(
            self.key, self.group, self.consumer, self._ack_wait_ms, start_id=self._cursor, count=count
        )
        self._cursor = reply[0]
        claimed = [(eid, fields) for eid, fields in reply[1] if fields]
        deleted = list(reply[2]) if len(reply) > 2 else []
        if deleted:  # trimmed by MAXLEN before anyone acknowledged them: nothing left to deliver
            await client.xack(self.key, self.group, *deleted)
        if not claimed:
            return []
        pipe = client.pipeline(transaction=False)
        for eid, _ in claimed:
            pipe.xpending_range(self.key, self.group, min=eid, max=eid, count=1)
        counts = await pipe.execute()
        out = []
        for (eid, fields), pending in zip(claimed, counts, strict=True):
            count_ = int(pending[0]["times_delivered"]) if pending else 2
            out.append(self.make_delivery(_decode(self.topic, eid, fields, count_), eid))
        return out

    async def _fetch(self, count: int) -> list[Delivery]:
        try:
            out: list[Delivery] = []
            now = self.broker.timer.monotonic()
            if self._claim_now or now - self._last_claim >= self._claim_every:
                out = await self._claim(count)
            if len(out) < count:
                block = None if out else int(self.broker.options.poll_interval * 1000)
                reply = await self.broker.client.xreadgroup(
                    self.group, self.consumer, {self.key: ">"}, count=count - len(out), block=block
                )
                for _, entries in reply or ():
                    for eid, fields in entries:
                        out.append(self.make_delivery(_decode(self.topic, eid, fields, 1), eid))
                if not out:
                    self._claim_now = True
            return out
        except MessageQueueError:
            raise
        except Exception as exc:  # noqa: BLE001
            if "NOGROUP" in str(exc):  # the stream was deleted under us: recreate the group
                self._started = False
                await self._start()
                self._started = True
                return []
            raise _error(exc, "fetch", self.topic) from None

    async def _ack(self, delivery: Delivery) -> None:
        with self.broker._converting("ack", self.topic):
            await self.broker.client.xack(self.key, self.group, delivery.handle)

    async def _set_idle(self, ids: list[Any], idle_ms: int) -> None:
        with self.broker._converting("nack", self.topic):
            await self.broker.client.xclaim(
                self.key, self.group, self.consumer, 0, ids, idle=idle_ms, justid=True
            )

    async def _requeue(self, delivery: Delivery, delay: float | None) -> None:
        idle = self._ack_wait_ms - int((delay or 0) * 1000)
        await self._set_idle([delivery.handle], max(0, idle) + (0 if delay else 1))
        if not delay:
            self._claim_now = True

    async def _touch(self, delivery: Delivery) -> None:
        await self._set_idle([delivery.handle], 0)

    async def _release(self, deliveries: list[Delivery]) -> None:
        if deliveries:
            await self._set_idle([d.handle for d in deliveries], self._ack_wait_ms + 1)

    async def _stop(self) -> None:
        client = self.broker.client
        with self.broker._converting("close", self.topic):
            mine = await client.xpending_range(
                self.key, self.group, min="-", max="+", count=1, consumername=self.consumer
            )
            if not mine:
                await client.xgroup_delconsumer(self.key, self.group, self.consumer)
