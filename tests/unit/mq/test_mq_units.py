"""llm_infra.mq without a server: messages, options, MemoryBroker limits, prefetch, retries, spans."""

from __future__ import annotations

import logging

import anyio
import pytest

from llm_infra.errors import ConfigError, InfraError, MessageQueueError
from llm_infra.mq import (
    Delivery,
    MemoryBroker,
    Message,
    Subscription,
    SyncBroker,
    json_payload,
    open_broker,
    run_consumer,
)
from llm_infra.mq._base import BrokerOptions
from llm_infra.mq._codes import DESCRIPTIONS
from llm_infra.mq._consumer import failure_reason
from llm_infra.mq._message import check_headers
from llm_infra.otel import span
from llm_infra.testing import FakeClock, capture_spans

pytestmark = pytest.mark.anyio


def make(**kw: object) -> MemoryBroker:
    clock = kw.pop("clock", None) or FakeClock()
    options = BrokerOptions(poll_interval=0.02, **kw)  # type: ignore[arg-type]
    return MemoryBroker(options, clock=clock)  # type: ignore[arg-type]


async def next_or_none(sub: Subscription, timeout: float = 0.2) -> Delivery | None:
    with anyio.move_on_after(timeout):
        return await sub.__anext__()
    return None


def test_codes_are_described() -> None:
    assert all(code.startswith("mq.") and text for code, text in DESCRIPTIONS.items())


def test_message_helpers() -> None:
    m = Message(id="1", topic="t", payload=json_payload({"a": [1]}), timestamp=100.0, ttl=5.0)
    assert m.json() == {"a": [1]}
    assert not m.expired(104.9)
    assert m.expired(105.0)
    assert not Message(id="2", topic="t", payload=b"").expired(1e12)


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"max_deliveries": 0}, "max_deliveries"),
        ({"ack_wait": 0}, "ack_wait"),
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"dedup_window": -1}, "dedup_window"),
        ({"poll_interval": 0}, "poll_interval"),
    ],
)
def test_bad_options(kw: dict[str, float], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        BrokerOptions(**kw)  # type: ignore[arg-type]
    assert info.value.code == "mq.invalid_option"
    assert info.value.key == key


async def test_unknown_backend_option() -> None:
    with pytest.raises(ConfigError) as info:
        await open_broker("memory://", maxlen=5)
    assert info.value.code == "mq.invalid_option"


async def test_bad_url_hides_the_password() -> None:
    with pytest.raises(MessageQueueError) as info:
        await open_broker("kafka://user:hunter2@host/")
    assert info.value.code == "mq.invalid_url"
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/0", "nats://127.0.0.1:1", "amqp://guest:hunter2@127.0.0.1:1/"]
)
async def test_unreachable_server_is_a_retryable_error(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    with pytest.raises(MessageQueueError) as info:
        await open_broker(url, initial_connect_timeout=0.5) if url.startswith("nats") else await open_broker(
            url
        )
    assert info.value.code == "mq.unavailable"
    assert info.value.retryable
    assert "hunter2" not in str(info.value)


async def test_bad_headers_payload_ttl_prefetch() -> None:
    async with make() as broker:
        with pytest.raises(MessageQueueError) as headers:
            await broker.publish("t", b"x", headers={"a": 1})  # type: ignore[dict-item]
        assert headers.value.code == "mq.invalid_option"
        with pytest.raises(MessageQueueError) as payload:
            await broker.publish("t", "text")  # type: ignore[arg-type]
        assert payload.value.code == "mq.invalid_option"
        with pytest.raises(MessageQueueError) as ttl:
            await broker.publish("t", b"x", ttl=0)
        assert ttl.value.code == "mq.invalid_option"
        with pytest.raises(MessageQueueError) as prefetch:
            broker.subscribe("t", "g", prefetch=0)
        assert prefetch.value.code == "mq.invalid_option"
        with pytest.raises(MessageQueueError) as consumer:
            broker.subscribe("t", "g", consumer="a b")
        assert consumer.value.code == "mq.invalid_topic"
    assert check_headers(None) == {}


async def test_size_limit_counts_headers() -> None:
    async with make(max_message_bytes=10) as broker:
        await broker.publish("t", b"x" * 10)
        with pytest.raises(MessageQueueError) as info:
            await broker.publish("t", b"x" * 5, headers={"abc": "def"})
        assert info.value.code == "mq.message_too_large"
        assert info.value.attributes["limit"] == 10


async def test_queue_full_is_retryable_back_pressure() -> None:
    broker = MemoryBroker(BrokerOptions(), clock=FakeClock(), max_pending=3)
    async with broker, broker.subscribe("t", "g"):
        await broker.publish_batch("t", [b"1", b"2", b"3"])
        with pytest.raises(MessageQueueError) as info:
            await broker.publish("t", b"4")
        assert info.value.code == "mq.queue_full"
        assert info.value.retryable
        assert broker.pending("t", "g") == 3
    with pytest.raises(MessageQueueError) as bad:
        MemoryBroker(max_pending=0)
    assert bad.value.code == "mq.invalid_option"


async def test_dedup_window_expires_with_the_clock() -> None:
    clock = FakeClock()
    async with make(clock=clock, dedup_window=10.0) as broker:
        first = await broker.publish("t", b"a", idempotency_key="k")
        assert await broker.publish("t", b"a", idempotency_key="k") == first
        ids = await broker.publish_batch("t", [b"x", b"y"], idempotency_key="batch")
        assert await broker.publish_batch("t", [b"x", b"y"], idempotency_key="batch") == ids
        clock.advance(11.0)
        assert await broker.publish("t", b"a", idempotency_key="k") != first


async def test_retained_history_for_new_groups_and_delete() -> None:
    broker = MemoryBroker(BrokerOptions(poll_interval=0.02), clock=FakeClock(), retain=2)
    async with broker:
        await broker.publish_batch("t", [b"1", b"2", b"3"])
        async with broker.subscribe("t", "late") as sub:
            got = [await sub.__anext__(), await sub.__anext__()]
            assert [d.message.payload for d in got] == [b"2", b"3"]
            for d in got:
                await d.ack()
        await broker.delete_topic("t")
        assert broker.pending("t", "late") == 0


async def test_prefetch_bounds_unsettled_deliveries_and_ack_wait_frees_them() -> None:
    clock = FakeClock()
    async with make(clock=clock, ack_wait=5.0) as broker, broker.subscribe("t", "g", prefetch=2) as sub:
        await broker.publish_batch("t", [b"1", b"2", b"3"])
        first = await sub.__anext__()
        await sub.__anext__()
        assert await next_or_none(sub) is None  # two unsettled: the third waits
        await first.ack()
        third = await sub.__anext__()
        assert third.message.payload == b"3"
        clock.advance(6.0)  # the two unsettled ones expire: redelivered, and capacity is back
        again = await sub.__anext__()
        assert again.message.delivery_count == 2
        await third.nack(delay=1.0)
        assert repr(third).startswith("Delivery(")


async def test_nack_rejects_negative_delay() -> None:
    async with make() as broker, broker.subscribe("t", "g") as sub:
        await broker.publish("t", b"x")
        d = await sub.__anext__()
        with pytest.raises(MessageQueueError) as info:
            await d.nack(delay=-1)
        assert info.value.code == "mq.invalid_option"
        assert not d.settled


async def test_subscription_retries_connection_errors(caplog: pytest.LogCaptureFixture) -> None:
    async with make() as broker, broker.subscribe("t", "g") as sub:
        await broker.publish("t", b"x")
        real = sub._fetch
        calls = []

        async def flaky(count: int) -> list[Delivery]:
            calls.append(count)
            if len(calls) == 1:
                raise MessageQueueError("down", code="mq.unavailable", connection=True)
            return await real(count)

        sub._fetch = flaky  # type: ignore[method-assign]
        d = await sub.__anext__()
        assert d.message.payload == b"x"
        assert len(calls) == 2
        assert "mq.unavailable" in caplog.text

        async def broken(count: int) -> list[Delivery]:
            raise MessageQueueError("bad", code="mq.backend_error")

        sub._fetch = broken  # type: ignore[method-assign]
        with pytest.raises(MessageQueueError) as info:
            await sub.__anext__()
        assert info.value.code == "mq.backend_error"


async def test_closed_subscription() -> None:
    async with make() as broker:
        sub = broker.subscribe("t", "g")
        await sub.aclose()
        with pytest.raises(MessageQueueError) as info:
            await sub.__anext__()
        assert info.value.code == "mq.closed"
        sub2 = broker.subscribe("t", "g")
        async with anyio.create_task_group() as tg:
            got: list[object] = []

            async def drain() -> None:
                got.extend([d async for d in sub2])

            tg.start_soon(drain)
            await anyio.sleep(0.05)
            await sub2.aclose()
        assert got == []


async def test_run_consumer_errors_reasons_and_trace_links() -> None:
    with pytest.raises(MessageQueueError) as info:
        await run_consumer(make(), "t", "g", lambda m: anyio.sleep(0), concurrency=0)
    assert info.value.code == "mq.invalid_option"
    assert failure_reason(ValueError("x")) == "ValueError: x"
    assert failure_reason(MessageQueueError("m", code="mq.queue_full")) == "mq.queue_full: m"
    with capture_spans() as spans:
        async with make(max_deliveries=2) as broker:
            async with broker.subscribe("t", "g"), broker.subscribe("t.dlq", "g"):
                pass
            with span("request") as parent:
                await broker.publish("t", b"ok")
                await broker.publish("t", b"bad")
            trace_id = parent.get_span_context().trace_id
            stop = anyio.Event()
            seen: list[bytes] = []

            async def handler(message: Message) -> None:
                seen.append(message.payload)
                if message.payload == b"bad":
                    raise ValueError("boom")
                if seen.count(b"bad") >= 2 and b"ok" in seen:
                    stop.set()

            async def watchdog() -> None:
                while not (seen.count(b"bad") >= 2 and b"ok" in seen):
                    await anyio.sleep(0.01)
                stop.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(watchdog)
                await run_consumer(broker, "t", "g", handler, concurrency=2, stop=stop)
            async with broker.subscribe("t.dlq", "g") as dlq:
                dead = await dlq.__anext__()
    assert dead.message.payload == b"bad"
    assert dead.message.headers["x-mq-dead-letter-reason"] == "ValueError: boom"
    process = [s for s in spans if s.name == "mq.process"]
    publish = [s for s in spans if s.name == "mq.publish"]
    assert publish
    assert process
    assert all(s.context.trace_id == trace_id for s in process + publish)


async def test_run_consumer_survives_settle_failures(caplog: pytest.LogCaptureFixture) -> None:
    async with make() as broker:
        async with broker.subscribe("t", "g"):
            pass
        await broker.publish("t", b"x")
        stop = anyio.Event()

        async def failing_ack(delivery: Delivery) -> None:
            stop.set()
            raise MessageQueueError("gone", code="mq.unavailable", connection=True)

        original = broker._subscription

        def patched(*args: object) -> Subscription:
            sub = original(*args)  # type: ignore[arg-type]
            sub._ack = failing_ack  # type: ignore[method-assign]
            return sub

        broker._subscription = patched  # type: ignore[method-assign]

        async def handler(message: Message) -> None:
            return None

        await run_consumer(broker, "t", "g", handler, stop=stop)
        assert "could not settle" in caplog.text


def test_sync_broker_publish_consume_and_close() -> None:
    with SyncBroker.open("memory://", poll_interval=0.02) as broker:
        assert broker.broker.system == "memory"
        assert broker.consume("jobs", "w", timeout=0.05) == []
        mid = broker.publish("jobs", b"one", headers={"h": "v"})
        assert len(broker.publish_batch("jobs", [b"two", b"three"])) == 2
        peek = broker.consume("jobs", "w", max_messages=1, timeout=2.0, ack=False)
        assert [m.id for m in peek] == [mid]
        got = broker.consume("jobs", "w", max_messages=3, timeout=2.0)
        assert sorted(m.payload for m in got) == [b"one", b"three", b"two"]
        assert [m.delivery_count for m in got if m.id == mid] == [2]
        with pytest.raises(MessageQueueError) as bad:
            broker.consume("jobs", "w", max_messages=0)
        assert bad.value.code == "mq.invalid_option"
    broker.close()
    with pytest.raises(InfraError) as closed:
        broker.publish("jobs", b"x")
    assert closed.value.code == "mq.closed"


def test_sync_broker_open_failure_stops_the_thread() -> None:
    with pytest.raises(MessageQueueError) as info:
        SyncBroker.open("bogus://x")
    assert info.value.code == "mq.invalid_url"


def test_nats_ack_subject_parsing() -> None:
    from types import SimpleNamespace

    from llm_infra.mq._nats import _ack_info

    v1 = SimpleNamespace(reply="$JS.ACK.MQ_x.g.3.10.5.1700000000500000000.0")
    v2 = SimpleNamespace(reply="$JS.ACK._.ACC.MQ_x.g.2.10.5.1700000000500000000.0.tok")
    assert _ack_info(v1) == (3, 1700000000.5)
    assert _ack_info(v2) == (2, 1700000000.5)
    stamp = SimpleNamespace(timestamp=lambda: 5.0)
    odd = SimpleNamespace(reply="x.y", metadata=SimpleNamespace(num_delivered=4, timestamp=stamp))
    assert _ack_info(odd) == (4, 5.0)
