"""``MemoryBroker``: the in-process backend with the same semantics as the network ones.

One event loop owns it (no locks, so no lock-order deadlocks). Every group's queue is bounded
by ``max_pending`` (publishing into a full group raises a retryable ``mq.queue_full``), the
dedup table by ``dedup_window``, and the history a new group starts from by ``retain``.
The clock is injectable: with a ``FakeClock`` the ack_wait redelivery happens when the test
advances time.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace

import anyio

from llm_infra._internal._clock import Clock
from llm_infra.errors import MessageQueueError
from llm_infra.mq import _codes
from llm_infra.mq._base import BrokerBase, BrokerOptions, Subscription
from llm_infra.mq._message import Delivery, Message

_tokens = itertools.count(1)


class _Entry:
    __slots__ = ("count", "deadline", "done", "message", "token")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.count = 0
        self.deadline = 0.0
        self.done = False
        self.token = 0


@dataclass(eq=False)
class _Group:
    ready: deque[_Entry] = field(default_factory=deque)
    delayed: list[tuple[float, int, _Entry]] = field(default_factory=list)
    inflight: dict[int, _Entry] = field(default_factory=dict)
    pending: int = 0
    event: anyio.Event = field(default_factory=anyio.Event)

    def wake(self) -> None:
        self.event.set()
        self.event = anyio.Event()


@dataclass(eq=False)
class _Topic:
    log: deque[Message]
    groups: dict[str, _Group] = field(default_factory=dict)


class MemoryBroker(BrokerBase):
    """An in-process broker: consumer groups, ack_wait redelivery, delays, TTL, dead letters, dedup.

    Args:
        options: the common broker options (``open_broker("memory://")`` builds them).
        clock: time source for ack_wait, delays and TTL (``FakeClock`` in tests).
        max_pending: unsettled messages a group may hold before ``publish`` raises ``mq.queue_full``.
        retain: messages per topic a group created later still receives.

    Example::

        async with await open_broker("memory://") as broker:
            await broker.publish("jobs", b"hello")
    """

    system = "memory"
    server_timed = False

    def __init__(
        self,
        options: BrokerOptions | None = None,
        *,
        clock: Clock | None = None,
        max_pending: int = 100_000,
        retain: int = 10_000,
    ) -> None:
        super().__init__(options, clock=clock)
        if max_pending < 1 or retain < 0:
            raise MessageQueueError("max_pending must be >= 1 and retain >= 0", code=_codes.INVALID_OPTION)
        self.max_pending = max_pending
        self.retain = retain
        self._topics: dict[str, _Topic] = {}
        self._dedup: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(log=deque(maxlen=self.retain))
        return topic

    def group(self, topic: str, group: str) -> _Group:
        """The state of ``group`` on ``topic``, created (from the retained history) on first use."""
        state = self._topic(topic)
        found = state.groups.get(group)
        if found is None:
            found = state.groups[group] = _Group()
            for message in state.log:
                found.ready.append(_Entry(message))
            found.pending = len(found.ready)
        return found

    def pending(self, topic: str, group: str) -> int:
        """Messages of ``group`` not yet acknowledged or dead-lettered."""
        return self.group(topic, group).pending

    async def _send(self, topic: str, messages: list[Message], dedup: list[str | None]) -> list[str]:
        self._check_open("publish")
        now = self.clock.monotonic()
        while self._dedup:
            first = next(iter(self._dedup.values()))
            if first[1] > now and len(self._dedup) <= 1_000_000:
                break
            self._dedup.popitem(last=False)
        state = self._topic(topic)
        fresh = [
            (m, k)
            for m, k in zip(messages, dedup, strict=True)
            if k is None or f"{topic}\0{k}" not in self._dedup
        ]
        for group in state.groups.values():
            if group.pending + len(fresh) > self.max_pending:
                raise MessageQueueError(
                    f"a group of {topic!r} already holds {group.pending} unsettled messages "
                    f"(max_pending={self.max_pending})",
                    code=_codes.QUEUE_FULL,
                    queue=topic,
                    operation="publish",
                    retryable=True,
                )
        ids: list[str] = []
        for message, key in zip(messages, dedup, strict=True):
            if key is not None:
                seen = self._dedup.get(f"{topic}\0{key}")
                if seen is not None:
                    ids.append(seen[0])
                    continue
                self._dedup[f"{topic}\0{key}"] = (message.id, now + self.options.dedup_window)
            state.log.append(message)
            for group in state.groups.values():
                group.ready.append(_Entry(message))
                group.pending += 1
            ids.append(message.id)
        for group in state.groups.values():
            group.wake()
        return ids

    def _subscription(self, topic: str, group: str, consumer: str, prefetch: int) -> Subscription:
        return _MemorySubscription(self, topic, group, consumer, prefetch)

    def take(self, topic: str, group: str, count: int) -> list[tuple[_Entry, Message]]:
        """Hand out up to ``count`` messages of ``group`` (expired in-flight ones come back first)."""
        state = self.group(topic, group)
        now = self.clock.monotonic()
        expired = [e for e in state.inflight.values() if e.deadline <= now]
        for entry in expired:
            del state.inflight[entry.token]
        state.ready.extendleft(reversed(expired))
        while state.delayed and state.delayed[0][0] <= now:
            state.ready.append(heapq.heappop(state.delayed)[2])
        out: list[tuple[_Entry, Message]] = []
        while state.ready and len(out) < count:
            entry = state.ready.popleft()
            if entry.done:
                continue
            entry.count += 1
            entry.token = next(_tokens)
            entry.deadline = now + self.options.ack_wait
            state.inflight[entry.token] = entry
            out.append((entry, replace(entry.message, delivery_count=entry.count)))
        return out

    def settle(self, topic: str, group: str, entry: _Entry) -> None:
        """Mark ``entry`` acknowledged (a late ack of a redelivered message still counts)."""
        if entry.done:
            return
        entry.done = True
        state = self.group(topic, group)
        state.inflight.pop(entry.token, None)
        state.pending -= 1

    def requeue(self, topic: str, group: str, entry: _Entry, token: int, delay: float | None) -> None:
        """Give ``entry`` back for redelivery (ignored when it was already redelivered or settled)."""
        state = self.group(topic, group)
        if entry.done or entry.token != token or state.inflight.pop(token, None) is None:
            return
        if delay:
            heapq.heappush(state.delayed, (self.clock.monotonic() + delay, token, entry))
        else:
            state.ready.append(entry)
        state.wake()

    def touch(self, topic: str, group: str, entry: _Entry, token: int) -> None:
        """Restart the ack_wait timer of the current delivery of ``entry``."""
        if not entry.done and entry.token == token:
            entry.deadline = self.clock.monotonic() + self.options.ack_wait

    async def delete_topic(self, topic: str) -> None:
        """Forget ``topic``, its groups and its dead-letter topic."""
        for name in (topic, topic + ".dlq"):
            state = self._topics.pop(name, None)
            for group in state.groups.values() if state else ():
                group.wake()

    async def _close(self) -> None:
        for state in self._topics.values():
            for group in state.groups.values():
                group.wake()


class _MemorySubscription(Subscription):
    broker: MemoryBroker

    async def _start(self) -> None:
        self.broker.group(self.topic, self.group)

    async def _fetch(self, count: int) -> list[Delivery]:
        broker = self.broker
        taken = broker.take(self.topic, self.group, count)
        if not taken:
            event = broker.group(self.topic, self.group).event
            with anyio.move_on_after(broker.options.poll_interval):
                await event.wait()
            taken = broker.take(self.topic, self.group, count)
        return [self.make_delivery(message, (entry, entry.token)) for entry, message in taken]

    async def _ack(self, delivery: Delivery) -> None:
        entry, _ = delivery.handle
        self.broker.settle(self.topic, self.group, entry)

    async def _requeue(self, delivery: Delivery, delay: float | None) -> None:
        entry, token = delivery.handle
        self.broker.requeue(self.topic, self.group, entry, token, delay)

    async def _touch(self, delivery: Delivery) -> None:
        entry, token = delivery.handle
        self.broker.touch(self.topic, self.group, entry, token)

    async def _release(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            entry, token = delivery.handle
            entry.count -= 1  # never handed out: the delivery does not count
            self.broker.requeue(self.topic, self.group, entry, token, None)

    async def _stop(self) -> None:
        topic = self.broker._topics.get(self.topic)
        group = topic.groups.get(self.group) if topic else None
        if group is not None:
            group.wake()
