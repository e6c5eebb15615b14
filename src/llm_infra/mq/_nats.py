"""``NatsBroker``: NATS JetStream, a stream per topic and a durable pull consumer per group.

The server redelivers a message left unacknowledged for ``AckWait`` (= ``ack_wait``) and stops
after ``MaxDeliver`` (= ``max_deliveries + 1``: the extra delivery lets the client move it to
``<topic>.dlq`` with the reason). Publishes carry ``Nats-Msg-Id`` (the idempotency key, or the
message id) so a retried publish is stored once within ``dedup_window``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

from llm_infra._internal._clock import Clock
from llm_infra._internal._lazy import require
from llm_infra.errors import MessageQueueError
from llm_infra.mq._base import BrokerBase, BrokerOptions, Subscription
from llm_infra.mq._message import Delivery, Message, backend_error

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_TRANSIENT = frozenset(
    {
        "TimeoutError",
        "ConnectionClosedError",
        "ConnectionReconnectingError",
        "NoRespondersError",
        "NoServersError",
        "StaleConnectionError",
        "UnexpectedEOF",
        "OutboundBufferLimitError",
        "ServiceUnavailableError",
        "NoStreamResponseError",
        "FlushTimeoutError",
    }
)
_H_ID, _H_TS, _H_KEY, _H_CORR, _H_REPLY, _H_TTL = "Mq-Id", "Mq-Ts", "Mq-Key", "Mq-Corr", "Mq-Reply", "Mq-Ttl"
_PUBLISH_WINDOW = 256


def _error(exc: BaseException, operation: str, topic: str | None = None) -> MessageQueueError:
    names = {cls.__name__ for cls in type(exc).__mro__}
    transient = bool(names & _TRANSIENT) or isinstance(exc, OSError | asyncio.TimeoutError)
    return backend_error("nats", exc, operation, topic, transient=transient)


def _named(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is the client library's exception class ``name`` (not imported eagerly)."""
    return type(exc).__name__ == name


def _safe(name: str) -> str:
    if not _UNSAFE.search(name):
        return name
    return f"{_UNSAFE.sub('_', name)}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"  # noqa: S324 - a name, not security


def _headers(message: Message, msg_id: str) -> dict[str, str]:
    # Few headers, as parsing them is most of a consumer's cost: the id travels as Nats-Msg-Id
    # (Mq-Id only when an idempotency key takes that place), the timestamp as the stream's own
    # (Mq-Ts only when a TTL needs the publisher's clock).
    headers = {k: v for k, v in message.headers.items() if not k.startswith(("Mq-", "Nats-"))}
    headers["Nats-Msg-Id"] = msg_id
    if msg_id != message.id:
        headers[_H_ID] = message.id
    if message.key is not None:
        headers[_H_KEY] = message.key
    if message.correlation_id is not None:
        headers[_H_CORR] = message.correlation_id
    if message.reply_to is not None:
        headers[_H_REPLY] = message.reply_to
    if message.ttl is not None:
        headers[_H_TTL] = repr(message.ttl)
        headers[_H_TS] = repr(message.timestamp)
    return headers


def _ack_info(raw: Any) -> tuple[int, float]:
    """(delivery count, stream timestamp in s) from the JetStream ack subject, cheaper than
    ``msg.metadata`` (v1: ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>``,
    v2 adds domain and account hash after ``ACK``)."""
    tokens = (raw.reply or "").split(".")
    try:
        if len(tokens) == 9:
            return int(tokens[4]), int(tokens[7]) / 1e9
        return int(tokens[6]), int(tokens[9]) / 1e9
    except (IndexError, ValueError):
        metadata = raw.metadata
        return int(metadata.num_delivered), metadata.timestamp.timestamp()


def _decode(topic: str, raw: Any) -> Message:
    headers: dict[str, str] = raw.headers or {}
    ttl = headers.get(_H_TTL)
    stamp = headers.get(_H_TS)
    delivered, stream_time = _ack_info(raw)
    return Message(
        id=headers.get(_H_ID) or headers.get("Nats-Msg-Id", ""),
        topic=topic,
        payload=raw.data or b"",
        headers={k: v for k, v in headers.items() if not k.startswith(("Mq-", "Nats-"))},
        key=headers.get(_H_KEY),
        timestamp=float(stamp) if stamp is not None else stream_time,
        delivery_count=delivered,
        correlation_id=headers.get(_H_CORR),
        reply_to=headers.get(_H_REPLY),
        ttl=None if ttl is None else float(ttl),
    )


class NatsBroker(BrokerBase):
    """NATS JetStream backend (needs the ``nats`` extra).

    Build it with ``await open_broker("nats://host:4222", stream_max_msgs=1_000_000)``.
    """

    system = "nats"
    _driver_error = staticmethod(_error)

    def __init__(
        self,
        nc: Any,
        options: BrokerOptions | None = None,
        *,
        stream_max_msgs: int = 1_000_000,
        max_ack_pending: int = 10_000,
    ) -> None:
        super().__init__(options)
        self.nc = nc
        self.js = nc.jetstream()
        self.stream_max_msgs = stream_max_msgs
        self.max_ack_pending = max_ack_pending
        self._streams: set[str] = set()
        self._api = require("nats.js.api", "nats")

    @classmethod
    async def connect(
        cls,
        url: str,
        options: BrokerOptions | None = None,
        *,
        stream_max_msgs: int = 1_000_000,
        max_ack_pending: int = 10_000,
        clock: Clock | None = None,
        **client_options: Any,
    ) -> NatsBroker:
        """Connect to ``url``; the client reconnects by itself after a drop."""
        nats = require("nats", "nats")

        async def quiet(_: Exception) -> None:
            return None

        client_options.setdefault("max_reconnect_attempts", -1)
        client_options.setdefault("reconnect_time_wait", 0.2)
        client_options.setdefault("connect_timeout", 2)
        client_options.setdefault("error_cb", quiet)
        wait = float(client_options.pop("initial_connect_timeout", 5.0))
        # The client retries forever once connected; the first connection is bounded.
        with cls._converting("connect"):
            nc = await asyncio.wait_for(nats.connect(url, allow_reconnect=True, **client_options), wait)
        broker = cls(nc, options, stream_max_msgs=stream_max_msgs, max_ack_pending=max_ack_pending)
        broker.clock = clock or broker.clock
        return broker

    @staticmethod
    def stream_name(topic: str) -> str:
        """The JetStream stream of ``topic``."""
        return "MQ_" + _safe(topic)

    async def ensure_stream(self, topic: str) -> str:
        """Create the stream of ``topic`` when missing; return its name."""
        name = self.stream_name(topic)
        if name in self._streams:
            return name
        api = self._api
        config = api.StreamConfig(
            name=name,
            subjects=[topic],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_msgs=self.stream_max_msgs,
            duplicate_window=self.options.dedup_window,
        )
        with self._converting("create stream", topic):
            try:
                await self.js.stream_info(name)
            except Exception as exc:
                if not _named(exc, "NotFoundError"):
                    raise
                await self.js.add_stream(config)
        self._streams.add(name)
        return name

    async def _send(self, topic: str, messages: list[Message], dedup: list[str | None]) -> list[str]:
        self._check_open("publish")
        stream = await self.ensure_stream(topic)
        js = self.js

        async def one(message: Message, marker: str | None) -> str:
            ack = await js.publish(
                topic, message.payload, stream=stream, headers=_headers(message, marker or message.id)
            )
            if not ack.duplicate or marker is None:
                return message.id
            original = await js.get_msg(stream, ack.seq)
            headers = original.headers or {}
            return str(headers.get(_H_ID) or headers.get("Nats-Msg-Id") or message.id)

        with self._converting("publish", topic, undo=lambda: self._streams.discard(stream)):
            if len(messages) == 1:
                return [await one(messages[0], dedup[0])]
            ids: list[str] = []
            pairs = list(zip(messages, dedup, strict=True))
            for start in range(0, len(pairs), _PUBLISH_WINDOW):
                chunk = pairs[start : start + _PUBLISH_WINDOW]
                ids.extend(await asyncio.gather(*(one(m, k) for m, k in chunk)))
            return ids

    def _subscription(self, topic: str, group: str, consumer: str, prefetch: int) -> Subscription:
        return _NatsSubscription(self, topic, group, consumer, prefetch)

    async def delete_topic(self, topic: str) -> None:
        """Delete the streams of ``topic`` and ``<topic>.dlq`` (and their consumers)."""
        for name in (topic, topic + ".dlq"):
            stream = self.stream_name(name)
            self._streams.discard(stream)
            with self._converting("delete", topic, ignore=lambda exc: _named(exc, "NotFoundError")):
                await self.js.delete_stream(stream)

    async def _close(self) -> None:
        await self.nc.close()


class _NatsSubscription(Subscription):
    broker: NatsBroker

    _psub: Any = None

    async def _start(self) -> None:
        broker = self.broker
        api = broker._api
        stream = await broker.ensure_stream(self.topic)
        durable = _safe(self.group)
        config = api.ConsumerConfig(
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=broker.options.ack_wait,
            max_deliver=broker.options.max_deliveries + 1,
            max_ack_pending=broker.max_ack_pending,
            filter_subject=self.topic,
        )
        with broker._converting("subscribe", self.topic, undo=lambda: broker._streams.discard(stream)):
            try:  # create, or update ack_wait/max_deliver of an existing group: the newest wins
                await broker.js.add_consumer(stream, config)
            except Exception as exc:
                if not _named(exc, "BadRequestError"):
                    raise
                await broker.js.consumer_info(stream, durable)  # not updatable: keep the old one
            self._psub = await broker.js.pull_subscribe_bind(durable=durable, stream=stream)

    async def _fetch(self, count: int) -> list[Delivery]:
        try:
            raw = await self._psub.fetch(batch=count, timeout=self.broker.options.poll_interval)
        except Exception as exc:  # noqa: BLE001
            if _named(exc, "TimeoutError") and self.broker.nc.is_connected:
                return []
            if _named(exc, "NotFoundError"):  # consumer or stream deleted: recreate
                await self._start()
                return []
            raise _error(exc, "fetch", self.topic) from None
        return [self.make_delivery(_decode(self.topic, m), m) for m in raw]

    async def _ack(self, delivery: Delivery) -> None:
        with self.broker._converting(
            "ack", self.topic, ignore=lambda exc: _named(exc, "MsgAlreadyAckdError")
        ):
            await delivery.handle.ack()

    async def _requeue(self, delivery: Delivery, delay: float | None) -> None:
        with self.broker._converting("nack", self.topic):
            await delivery.handle.nak(delay=delay or None)

    async def _touch(self, delivery: Delivery) -> None:
        with self.broker._converting("in_progress", self.topic):
            await delivery.handle.in_progress()

    async def _release(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self._requeue(delivery, None)

    async def _stop(self) -> None:
        if self._psub is not None:
            with self.broker._converting("close", self.topic):
                await self._psub.unsubscribe()
