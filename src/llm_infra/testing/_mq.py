"""``BrokerContract``: the conformance suite every message-queue backend passes.

Subclass it in a test module and implement ``make_broker``; pytest collects the inherited
async tests (they run on anyio's asyncio backend)::

    from llm_infra.mq import open_broker
    from llm_infra.testing import BrokerContract

    class TestRedisBroker(BrokerContract):
        async def make_broker(self, **options):
            return await open_broker("redis://127.0.0.1:6379/15", **options)

``make_broker`` receives ``clock`` (a ``FakeClock``: message timestamps and TTLs follow it) and
the options of the test (``max_deliveries``, ``ack_wait``, ``max_message_bytes``,
``poll_interval``). In-process brokers that also time ``ack_wait`` with ``clock`` set
``clock_drives_ack_wait = True``; server-timed brokers wait ``ack_wait`` for real, so keep
``ack_wait`` small. Backends that drop messages published before a group exists (RabbitMQ)
set ``retains_before_subscribe = False``. ``cleanup`` deletes what a test created (it calls
``delete_topic``/``delete_group`` when the broker has them).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anyio
import pytest

from llm_infra.errors import InfraError, MessageQueueError
from llm_infra.mq import DEAD_LETTER_REASON, Delivery, Message, Subscription, json_payload, run_consumer
from llm_infra.mq._base import BrokerBase
from llm_infra.testing._clock import FakeClock

_WAIT = 20.0


async def collect(
    sub: Subscription, count: int, *, timeout: float = _WAIT, ack: bool = True
) -> list[Delivery]:
    """Receive ``count`` deliveries (fewer when ``timeout`` passes first), acking them by default."""
    out: list[Delivery] = []
    if count <= 0:
        return out
    with anyio.move_on_after(timeout):
        async for delivery in sub:
            if ack:
                await delivery.ack()
            out.append(delivery)
            if len(out) >= count:
                break
    return out


@pytest.mark.anyio
class BrokerContract:
    """Conformance tests for a ``Broker`` (a pytest mixin; see the module docstring).

    .. versionadded:: 0.1.0
    """

    ack_wait: ClassVar[float] = 1.0
    clock_drives_ack_wait: ClassVar[bool] = False
    retains_before_subscribe: ClassVar[bool] = True

    # ---------------------------------------------------------------- hooks

    async def make_broker(self, **options: Any) -> BrokerBase:
        """Open a broker with ``options`` (``clock``, ``max_deliveries``, ``ack_wait``, ...)."""
        pytest.fail(f"{type(self).__name__} must implement async make_broker(**options)")

    async def cleanup(self, broker: BrokerBase, topic: str, groups: list[str]) -> None:
        """Delete ``topic`` (and its dead-letter topic) and ``groups`` after a test."""
        delete_group = getattr(broker, "delete_group", None)
        if delete_group is not None:
            for group in groups:
                await delete_group(topic, group)
        delete_topic = getattr(broker, "delete_topic", None)
        if delete_topic is not None:
            await delete_topic(topic)

    # ---------------------------------------------------------------- helpers

    @contextlib.asynccontextmanager
    async def opened(self, **options: Any) -> AsyncIterator[tuple[BrokerBase, str, FakeClock]]:
        """A broker, a fresh topic name, and the fake clock; cleans up and closes afterwards."""
        clock = FakeClock(start=1000.0, epoch=anyio_time())
        values: dict[str, Any] = {"ack_wait": self.ack_wait, "poll_interval": 0.05, "clock": clock}
        values.update(options)
        broker = await self.make_broker(**values)
        topic = f"contract-{secrets.token_hex(5)}"
        self._groups: list[str] = []
        try:
            yield broker, topic, clock
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.cleanup(broker, topic, self._groups)
                finally:
                    await broker.close()

    def group(self, name: str = "g") -> str:
        """A group name, remembered for cleanup."""
        self._groups.append(name)
        return name

    async def pass_ack_wait(self, clock: FakeClock) -> None:
        """Let ``ack_wait`` pass: advance the fake clock, or (server-timed) nothing: the test waits."""
        if self.clock_drives_ack_wait:
            clock.advance(self.ack_wait + 0.1)

    # ---------------------------------------------------------------- tests

    async def test_publish_then_consume_keeps_every_field(self) -> None:
        async with self.opened() as (broker, topic, _), broker.subscribe(topic, self.group()) as sub:
            payload = bytes(range(256))
            mid = await broker.publish(
                topic,
                payload,
                headers={"tenant": "t1"},
                key="k1",
                correlation_id="c1",
                reply_to="replies",
                ttl=3600.0,
            )
            [delivery] = await collect(sub, 1)
        m = delivery.message
        assert (m.id, m.topic, m.payload, m.key) == (mid, topic, payload, "k1")
        assert (m.correlation_id, m.reply_to, m.ttl, m.delivery_count) == ("c1", "replies", 3600.0, 1)
        assert m.headers["tenant"] == "t1"
        assert m.timestamp > 0

    async def test_publish_before_subscribe_is_kept(self) -> None:
        async with self.opened() as (broker, topic, _):
            if not self.retains_before_subscribe:  # never a silent drop: the publish is refused
                with pytest.raises(MessageQueueError) as info:
                    await broker.publish(topic, b"early")
                assert info.value.code == "mq.no_route"
                return
            await broker.publish(topic, b"early")
            async with broker.subscribe(topic, self.group()) as sub:
                [delivery] = await collect(sub, 1)
        assert delivery.message.payload == b"early"

    async def test_batch_ids_and_order(self) -> None:
        async with self.opened() as (broker, topic, _), broker.subscribe(topic, self.group()) as sub:
            ids = await broker.publish_batch(topic, [f"m{i}".encode() for i in range(20)])
            got = await collect(sub, 20)
            assert await broker.publish_batch(topic, []) == []
        assert len(set(ids)) == 20
        assert sorted(d.message.id for d in got) == sorted(ids)

    async def test_json_payload_roundtrip(self) -> None:
        async with self.opened() as (broker, topic, _), broker.subscribe(topic, self.group()) as sub:
            await broker.publish(topic, json_payload({"doc": 1, "tags": ["a"]}))
            [delivery] = await collect(sub, 1)
        assert delivery.message.json() == {"doc": 1, "tags": ["a"]}

    async def test_message_too_large_names_the_limit_and_sends_nothing(self) -> None:
        async with self.opened(max_message_bytes=1024) as (broker, topic, _):  # noqa: SIM117 - the inner block needs the outer's values
            async with broker.subscribe(topic, self.group()) as sub:
                with pytest.raises(MessageQueueError) as info:
                    await broker.publish(topic, b"x" * 2048)
                assert info.value.code == "mq.message_too_large"
                assert "1024" in str(info.value)
                with pytest.raises(MessageQueueError) as batch:
                    await broker.publish_batch(topic, [b"ok", b"y" * 2048])
                assert batch.value.code == "mq.message_too_large"
                await broker.publish(topic, b"after")
                got = await collect(sub, 2, timeout=1.0)
        assert [d.message.payload for d in got] == [b"after"]

    async def test_invalid_names_rejected(self) -> None:
        async with self.opened() as (broker, _, _):
            for bad in ("", "a b", "a..b", "x" * 300, "a/b", "*"):
                with pytest.raises(MessageQueueError) as info:
                    await broker.publish(bad, b"x")
                assert info.value.code == "mq.invalid_topic"
            with pytest.raises(MessageQueueError) as group:
                broker.subscribe("ok", "bad group")
            assert group.value.code == "mq.invalid_topic"

    async def test_ack_settles_for_good(self) -> None:
        async with self.opened() as (broker, topic, clock):
            group = self.group()
            async with broker.subscribe(topic, group) as sub:
                await broker.publish(topic, b"once")
                assert len(await collect(sub, 1)) == 1
            await self.pass_ack_wait(clock)
            async with broker.subscribe(topic, group) as sub:
                await broker.publish(topic, b"sentinel")
                got = await collect(sub, 1, timeout=self.ack_wait * 3)
        assert [d.message.payload for d in got] == [b"sentinel"]

    async def test_nack_redelivers_with_count(self) -> None:
        async with self.opened() as (broker, topic, _), broker.subscribe(topic, self.group()) as sub:
            await broker.publish(topic, b"retry")
            [first] = await collect(sub, 1, ack=False)
            await first.nack()
            [second] = await collect(sub, 1)
        assert first.message.delivery_count == 1
        assert second.message.delivery_count == 2
        assert second.message.id == first.message.id

    async def test_nack_with_delay_redelivers(self) -> None:
        async with self.opened() as (broker, topic, clock):  # noqa: SIM117 - the inner block needs the outer's values
            async with broker.subscribe(topic, self.group()) as sub:
                await broker.publish(topic, b"later")
                [first] = await collect(sub, 1, ack=False)
                await first.nack(delay=0.2)
                if self.clock_drives_ack_wait:
                    clock.advance(0.3)
                [second] = await collect(sub, 1)
        assert second.message.payload == b"later"
        assert second.message.delivery_count == 2

    async def test_dead_letter_after_max_deliveries(self) -> None:
        async with self.opened(max_deliveries=3) as (broker, topic, _):
            group = self.group()
            async with broker.subscribe(topic + ".dlq", group) as dlq, broker.subscribe(topic, group) as sub:
                await broker.publish(topic, b"poison", headers={"tenant": "t"})
                counts = []
                for _ in range(3):
                    [d] = await collect(sub, 1, ack=False)
                    counts.append(d.message.delivery_count)
                    await d.nack(reason="ValueError: bad row")
                [dead] = await collect(dlq, 1)
                assert await collect(sub, 1, timeout=0.5) == []
        assert counts == [1, 2, 3]
        headers = dead.message.headers
        assert dead.message.payload == b"poison"
        assert headers[DEAD_LETTER_REASON] == "ValueError: bad row"
        assert headers["x-mq-deliveries"] == "3"
        assert headers["x-mq-original-topic"] == topic
        assert headers["tenant"] == "t"

    async def test_reject_dead_letters_at_once(self) -> None:
        async with self.opened() as (broker, topic, _):
            group = self.group()
            async with broker.subscribe(topic + ".dlq", group) as dlq, broker.subscribe(topic, group) as sub:
                await broker.publish(topic, b"bad")
                [d] = await collect(sub, 1, ack=False)
                await d.nack(requeue=False, reason="schema")
                [dead] = await collect(dlq, 1)
        assert dead.message.headers[DEAD_LETTER_REASON] == "schema"
        assert dead.message.headers["x-mq-deliveries"] == "1"

    async def test_unacked_redelivered_after_ack_wait(self) -> None:
        async with self.opened() as (broker, topic, clock):  # noqa: SIM117 - the inner block needs the outer's values
            async with broker.subscribe(topic, self.group(), prefetch=4) as sub:
                await broker.publish(topic, b"stall")
                [first] = await collect(sub, 1, ack=False)
                await first.in_progress()
                await self.pass_ack_wait(clock)
                [second] = await collect(sub, 1, timeout=self.ack_wait * 10 + 5)
                await first.ack()  # a late ack of the stale delivery is harmless
        assert second.message.id == first.message.id
        assert second.message.delivery_count == 2, second.message

    async def test_ttl_expired_is_not_delivered(self) -> None:
        async with self.opened() as (broker, topic, clock):  # noqa: SIM117 - the inner block needs the outer's values
            async with broker.subscribe(topic, self.group()) as sub:
                await broker.publish(topic, b"stale", ttl=5.0)
                clock.advance(10.0)
                await broker.publish(topic, b"fresh", ttl=5.0)
                got = await collect(sub, 2, timeout=1.0)
        assert [d.message.payload for d in got] == [b"fresh"]

    async def test_each_group_gets_each_message_once(self) -> None:
        async with self.opened() as (broker, topic, _):
            g1, g2 = self.group("g1"), self.group("g2")
            async with broker.subscribe(topic, g1) as a1, broker.subscribe(topic, g1) as a2:  # noqa: SIM117 - the inner block needs the outer's values
                async with broker.subscribe(topic, g2) as b:
                    ids = await broker.publish_batch(topic, [b"%d" % i for i in range(30)])
                    got_b = await collect(b, 30)
                    seen: list[str] = []
                    with anyio.move_on_after(_WAIT):
                        while len(seen) < 30:
                            for sub in (a1, a2):
                                seen.extend(
                                    d.message.id for d in await collect(sub, 30 - len(seen), timeout=0.1)
                                )
        assert sorted(d.message.id for d in got_b) == sorted(ids)
        assert sorted(seen) == sorted(ids)

    async def test_idempotency_key_publishes_once(self) -> None:
        async with self.opened() as (broker, topic, _), broker.subscribe(topic, self.group()) as sub:
            first = await broker.publish(topic, b"a", idempotency_key="doc-1")
            again = await broker.publish(topic, b"a", idempotency_key="doc-1")
            await broker.publish(topic, b"sentinel")
            got = await collect(sub, 3, timeout=1.0)
        assert first == again
        assert [d.message.payload for d in got] == [b"a", b"sentinel"]

    async def test_settling_twice_is_a_no_op(self) -> None:
        async with self.opened() as (broker, topic, _), broker.subscribe(topic, self.group()) as sub:
            await broker.publish(topic, b"x")
            [d] = await collect(sub, 1)
            await d.ack()
            await d.nack()
            await d.in_progress()
        assert d.settled

    async def test_run_consumer_graceful_shutdown(self) -> None:
        async with self.opened() as (broker, topic, clock):
            group = self.group()
            async with broker.subscribe(topic, group):
                pass
            await broker.publish_batch(topic, [b"%d" % i for i in range(6)])
            stop = anyio.Event()
            started = anyio.Event()
            release = anyio.Event()
            done: list[bytes] = []

            async def handler(message: Message) -> None:
                started.set()
                await release.wait()
                done.append(message.payload)

            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: run_consumer(broker, topic, group, handler, concurrency=2, stop=stop))
                with anyio.fail_after(_WAIT):
                    await started.wait()
                stop.set()
                release.set()
            assert 1 <= len(done) <= 2
            await self.pass_ack_wait(clock)
            async with broker.subscribe(topic, group) as sub:
                rest = await collect(sub, 6 - len(done), timeout=self.ack_wait * 3 + 5)
        # what finished was acked (never seen again); the rest is still there
        assert sorted(done + [d.message.payload for d in rest]) == sorted(b"%d" % i for i in range(6))

    async def test_closed_broker_refuses(self) -> None:
        async with self.opened() as (broker, topic, clock):
            async with broker.subscribe(topic, self.group()) as sub:
                pass
            assert sub.closed
            other = await self.make_broker(ack_wait=self.ack_wait, clock=clock)
            await other.close()
            await other.close()
            with pytest.raises(InfraError) as info:
                await other.publish(topic, b"x")
            assert info.value.code == "mq.closed"
            with pytest.raises(InfraError) as sub_info:
                other.subscribe(topic, "g")
            assert sub_info.value.code == "mq.closed"


def anyio_time() -> float:
    """The wall clock, for the fake clock's epoch (timestamps stay realistic)."""
    import time

    return time.time()
