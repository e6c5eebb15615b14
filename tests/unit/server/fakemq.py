"""A minimal in-process stand-in for the subset of ``llm_infra.mq`` the service uses (tests only)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field


@dataclass
class FakeMessage:
    id: str
    payload: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delivery_count: int = 1


class FakeDelivery:
    def __init__(self, broker: FakeBroker, topic: str, message: FakeMessage) -> None:
        self._broker = broker
        self._topic = topic
        self.message = message
        self.settled: str | None = None

    async def ack(self) -> None:
        self.settled = "ack"
        self._broker.acked.append(self.message.id)

    async def nack(self, requeue: bool = True, delay: float | None = None) -> None:
        self.settled = "nack"
        if requeue:
            redelivered = FakeMessage(
                self.message.id, self.message.payload, self.message.headers, self.message.delivery_count + 1
            )
            self._broker.queue(self._topic).put_nowait(redelivered)


class FakeBroker:
    """At-least-once in memory: unacked deliveries are redelivered by ``redeliver_unacked``."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[FakeMessage]] = {}
        self._ids = itertools.count(1)
        self._seen: set[str] = set()
        self.published: list[FakeMessage] = []
        self.acked: list[str] = []
        self.closed = False

    def queue(self, topic: str) -> asyncio.Queue[FakeMessage]:
        return self._queues.setdefault(topic, asyncio.Queue())

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        if idempotency_key is not None and idempotency_key in self._seen:
            return idempotency_key
        if idempotency_key is not None:
            self._seen.add(idempotency_key)
        message = FakeMessage(str(next(self._ids)), payload, dict(headers or {}))
        self.published.append(message)
        self.queue(topic).put_nowait(message)
        return message.id

    async def subscribe(
        self, topic: str, group: str, *, consumer: str | None = None, prefetch: int = 16
    ) -> AsyncIterator[FakeDelivery]:
        q = self.queue(topic)
        while True:
            message = await q.get()
            yield FakeDelivery(self, topic, message)

    async def close(self) -> None:
        self.closed = True
