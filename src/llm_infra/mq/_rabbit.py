"""``RabbitMqBroker``: aio-pika with publisher confirms, manual acks and quorum queues.

A topic is a fanout exchange ``mq.<topic>``; a group is a durable (quorum) queue
``mq.<topic>::<group>`` bound to it, created when the group first subscribes. Publishes are
``mandatory``: with no group queue yet the message would be dropped, so ``publish`` raises
``mq.no_route`` instead. Each group also gets its dead-letter queue ``mq.<topic>.dlq::<group>``
(read it with ``subscribe(f"{topic}.dlq", group)``), which is the queue's DLX target as well
(``x-delivery-limit`` backstop). ``ack_wait`` is enforced by the client: a delivery left
unsettled that long is nacked back to the queue. The connection is robust (reconnects and
restores consumers); ``idempotency_key`` deduplicates within the publishing process only.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from llm_infra._internal._clock import Clock
from llm_infra._internal._lazy import require
from llm_infra.errors import MessageQueueError
from llm_infra.mq import _codes
from llm_infra.mq._base import BrokerBase, BrokerOptions, Subscription
from llm_infra.mq._message import DLQ_SUFFIX, Delivery, Message, backend_error

_H_KEY, _H_TTL, _H_TS = "x-mq-key", "x-mq-ttl", "x-mq-ts"
_BACKEND = frozenset({"ChannelPreconditionFailed", "ChannelAccessRefused", "ChannelNotFoundEntity"})


def _error(exc: BaseException, operation: str, topic: str | None = None) -> MessageQueueError:
    names = {cls.__name__ for cls in type(exc).__mro__}
    transient = not (names & _BACKEND)
    return backend_error("rabbitmq", exc, operation, topic, transient=transient)


def _exchange(topic: str) -> str:
    return f"mq.{topic}"


def _queue(topic: str, group: str) -> str:
    return f"mq.{topic}::{group}"


class RabbitMqBroker(BrokerBase):
    """RabbitMQ backend (needs the ``rabbitmq`` extra).

    Build it with ``await open_broker("amqp://user:pass@host:5672/", quorum=True)``.
    """

    system = "rabbitmq"
    _driver_error = staticmethod(_error)

    def __init__(
        self, connection: Any, channel: Any, options: BrokerOptions | None = None, *, quorum: bool = True
    ) -> None:
        super().__init__(options)
        self.connection = connection
        self.channel = channel
        self.quorum = quorum
        self._aio_pika = require("aio_pika", "rabbitmq")
        self._exchanges: dict[str, Any] = {}
        self._dedup: dict[str, tuple[str, float]] = {}

    @classmethod
    async def connect(
        cls,
        url: str,
        options: BrokerOptions | None = None,
        *,
        quorum: bool = True,
        clock: Clock | None = None,
        **client_options: Any,
    ) -> RabbitMqBroker:
        """Connect (robustly: the client reconnects and restores consumers by itself)."""
        aio_pika = require("aio_pika", "rabbitmq")
        client_options.setdefault("timeout", 5)
        with cls._converting("connect"):
            connection = await aio_pika.connect_robust(url, **client_options)
            channel = await connection.channel(publisher_confirms=True)
        broker = cls(connection, channel, options, quorum=quorum)
        broker.clock = clock or broker.clock
        return broker

    async def exchange(self, topic: str) -> Any:
        """Declare (once) and return the fanout exchange of ``topic``."""
        found = self._exchanges.get(topic)
        if found is None:
            found = await self.channel.declare_exchange(
                _exchange(topic), self._aio_pika.ExchangeType.FANOUT, durable=True
            )
            self._exchanges[topic] = found
        return found

    def _queue_arguments(self, dead_letter_queue: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.quorum:
            args["x-queue-type"] = "quorum"
            if dead_letter_queue is not None:
                args["x-delivery-limit"] = self.options.max_deliveries + 1
        if dead_letter_queue is not None:
            args["x-dead-letter-exchange"] = ""
            args["x-dead-letter-routing-key"] = dead_letter_queue
        return args

    async def declare_group(self, channel: Any, topic: str, group: str) -> Any:
        """Declare the group queue of ``topic`` and its dead-letter queue; return the group queue."""
        dlq_topic = topic + DLQ_SUFFIX
        dlq_name = _queue(dlq_topic, group)
        if not topic.endswith(DLQ_SUFFIX):
            dlq_exchange = await channel.declare_exchange(
                _exchange(dlq_topic), self._aio_pika.ExchangeType.FANOUT, durable=True
            )
            dlq = await channel.declare_queue(dlq_name, durable=True, arguments=self._queue_arguments(None))
            await dlq.bind(dlq_exchange)
            dead = dlq_name
        else:
            dead = None
        exchange = await channel.declare_exchange(
            _exchange(topic), self._aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            _queue(topic, group), durable=True, arguments=self._queue_arguments(dead)
        )
        await queue.bind(exchange)
        return queue

    def _message(self, message: Message, marker: str | None) -> Any:
        headers: dict[str, Any] = dict(message.headers)
        headers[_H_TS] = repr(message.timestamp)
        if message.key is not None:
            headers[_H_KEY] = message.key
        if message.ttl is not None:
            headers[_H_TTL] = repr(message.ttl)
        if marker is not None:
            headers["x-idempotency-key"] = marker
        return self._aio_pika.Message(
            message.payload,
            headers=headers,
            message_id=message.id,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            timestamp=datetime.fromtimestamp(message.timestamp, UTC),
            delivery_mode=self._aio_pika.DeliveryMode.PERSISTENT,
        )

    async def _send(self, topic: str, messages: list[Message], dedup: list[str | None]) -> list[str]:
        self._check_open("publish")
        now = self.timer.monotonic()
        if len(self._dedup) > 100_000:
            self._dedup = {k: v for k, v in self._dedup.items() if v[1] > now}
        with self._converting("publish", topic):
            exchange = await self.exchange(topic)
        commands = require("pamqp.commands", "rabbitmq")

        async def one(message: Message, marker: str | None) -> str:
            if marker is not None:
                seen = self._dedup.get(f"{topic}\0{marker}")
                if seen is not None and seen[1] > now:
                    return seen[0]
            result = await exchange.publish(self._message(message, marker), routing_key="", mandatory=True)
            if not isinstance(result, commands.Basic.Ack):
                if isinstance(result, commands.Basic.Nack):
                    raise MessageQueueError(
                        f"rabbitmq refused message {message.id} on {topic!r}",
                        code=_codes.PUBLISH_REJECTED,
                        queue=topic,
                        operation="publish",
                        retryable=True,
                    )
                raise MessageQueueError(
                    f"no group subscribes to {topic!r} yet, so RabbitMQ would drop the message; "
                    "subscribe a group first",
                    code=_codes.NO_ROUTE,
                    queue=topic,
                    operation="publish",
                )
            if marker is not None:
                self._dedup[f"{topic}\0{marker}"] = (message.id, now + self.options.dedup_window)
            return message.id

        with self._converting("publish", topic, undo=lambda: self._exchanges.pop(topic, None)):
            if len(messages) == 1:  # no task per message for the common case
                return [await one(messages[0], dedup[0])]
            return list(await asyncio.gather(*(one(m, k) for m, k in zip(messages, dedup, strict=True))))

    def _subscription(self, topic: str, group: str, consumer: str, prefetch: int) -> Subscription:
        return _RabbitSubscription(self, topic, group, consumer, prefetch)

    async def delete_topic(self, topic: str) -> None:
        """Delete the exchanges of ``topic`` and ``<topic>.dlq`` (queues must be deleted per group)."""
        for name in (topic, topic + DLQ_SUFFIX):
            self._exchanges.pop(name, None)
            with self._converting("delete", topic):
                await self.channel.exchange_delete(_exchange(name))

    async def delete_group(self, topic: str, group: str) -> None:
        """Delete the queues of ``group`` on ``topic`` (and its dead-letter queue)."""
        for name in (_queue(topic, group), _queue(topic + DLQ_SUFFIX, group)):
            with self._converting("delete", topic):
                await self.channel.queue_delete(name)

    async def _close(self) -> None:
        await self.connection.close()


class _RabbitSubscription(Subscription):
    broker: RabbitMqBroker

    def _setup(self) -> None:
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._channel: Any = None
        self._queue: Any = None
        self._tag: str | None = None
        self._timers: dict[Delivery, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _start(self) -> None:
        with self.broker._converting("subscribe", self.topic):
            self._channel = await self.broker.connection.channel()
            await self._channel.set_qos(prefetch_count=self.prefetch)
            self._queue = await self.broker.declare_group(self._channel, self.topic, self.group)
            self._tag = await self._queue.consume(self._inbox.put, no_ack=False, consumer_tag=self.consumer)

    def _decode(self, raw: Any) -> Message:
        headers: dict[str, Any] = dict(raw.headers or {})
        previous = headers.pop("x-delivery-count", None)
        count = int(previous) + 1 if previous is not None else (2 if raw.redelivered else 1)
        ttl = headers.pop(_H_TTL, None)
        key = headers.pop(_H_KEY, None)
        stamp = headers.pop(_H_TS, None)
        headers.pop("x-idempotency-key", None)
        headers.pop("x-death", None)
        timestamp = (
            float(stamp) if stamp is not None else (raw.timestamp.timestamp() if raw.timestamp else 0.0)
        )
        return Message(
            id=raw.message_id or "",
            topic=self.topic,
            payload=raw.body,
            headers={k: v.decode() if isinstance(v, bytes) else str(v) for k, v in headers.items()},
            key=None if key is None else str(key),
            timestamp=timestamp,
            delivery_count=count,
            correlation_id=raw.correlation_id,
            reply_to=raw.reply_to,
            ttl=None if ttl is None else float(ttl),
        )

    def _arm(self, delivery: Delivery) -> None:
        old = self._timers.pop(delivery, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[delivery] = loop.call_later(self.broker.options.ack_wait, self._expire, delivery)

    def _expire(self, delivery: Delivery) -> None:
        self._timers.pop(delivery, None)
        if delivery._settle():  # the owner's late ack/nack becomes a no-op
            self._spawn(self._nack_raw(delivery, requeue=True))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _nack_raw(self, delivery: Delivery, *, requeue: bool, delay: float | None = None) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await delivery.handle.nack(requeue=requeue)
        except Exception:  # noqa: BLE001 - channel gone: the server requeues it anyway
            return

    def _disarm(self, delivery: Delivery) -> None:
        timer = self._timers.pop(delivery, None)
        if timer is not None:
            timer.cancel()

    async def _fetch(self, count: int) -> list[Delivery]:
        out: list[Any] = []
        try:
            async with asyncio.timeout(self.broker.options.poll_interval):
                out.append(await self._inbox.get())
        except TimeoutError:
            return []
        while len(out) < count and not self._inbox.empty():
            out.append(self._inbox.get_nowait())
        deliveries = [self.make_delivery(self._decode(raw), raw) for raw in out]
        for delivery in deliveries:
            self._arm(delivery)
        return deliveries

    async def _ack(self, delivery: Delivery) -> None:
        self._disarm(delivery)
        with self.broker._converting("ack", self.topic):
            await delivery.handle.ack()

    async def _requeue(self, delivery: Delivery, delay: float | None) -> None:
        self._disarm(delivery)
        if delay:
            self._spawn(self._nack_raw(delivery, requeue=True, delay=delay))
            return
        with self.broker._converting("nack", self.topic):
            await delivery.handle.nack(requeue=True)

    async def _touch(self, delivery: Delivery) -> None:
        if delivery in self._timers:
            self._arm(delivery)

    async def _release(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._disarm(delivery)
            await self._nack_raw(delivery, requeue=True)

    async def _stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        with self.broker._converting("close", self.topic):
            if self._queue is not None and self._tag is not None:
                await self._queue.cancel(self._tag)
            while not self._inbox.empty():
                await self._nack_raw(
                    self.make_delivery(self._decode(raw := self._inbox.get_nowait()), raw), requeue=True
                )
            if self._channel is not None:
                await self._channel.close()
