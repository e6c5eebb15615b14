#!/usr/bin/env python
"""llm_infra.mq throughput per backend vs the raw client doing the same thing.

For each backend (Redis Streams / redis-py, NATS JetStream / nats-py, RabbitMQ / aio-pika):

- publish: N messages of 200 bytes, one confirmed publish at a time (ours: ``publish``; raw:
  ``XADD`` / ``js.publish`` / ``exchange.publish`` with publisher confirms, mandatory);
- consume: N messages already in the group, fetched with prefetch 64 and acked one by one
  (ours: ``subscribe`` + ``ack``; raw: ``XREADGROUP`` + ``XACK`` / pull ``fetch`` + ``ack`` /
  ``queue.iterator`` + ``ack``).

Ours and raw run side by side, alternating blocks of 250 messages (the order flips every
block), so machine-load drift hits both equally; each round gives one rate per side. Reports
messages/s medians with min-max over the rounds and the ours/raw ratio (target >= 0.8x).
Bounded: ``--messages`` (default 5,000) x ``--rounds`` (default 5). Needs the loopback servers
(``LLM_TEST_REDIS_URL`` etc. override the URLs); an unreachable one is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from llm_infra.mq import open_broker

REDIS = os.environ.get("LLM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NATS = os.environ.get("LLM_TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP = os.environ.get("LLM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
PAYLOAD = b"x" * 200
PREFETCH = 64
BLOCK = 250


def reachable(url: str, port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), timeout=1):
            return True
    except OSError:
        return False


class Side:
    """One contender: ``setup(n)``, then ``run(k)`` repeatedly, then ``close()``."""

    async def setup(self, n: int) -> None:
        return None

    async def run(self, k: int) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


# ------------------------------------------------------------------ ours (any backend)


class OursPublish(Side):
    def __init__(self, url: str) -> None:
        self.url = url

    async def setup(self, n: int) -> None:
        self.broker = await open_broker(self.url)
        self.topic = f"bench-{secrets.token_hex(4)}"
        async with self.broker.subscribe(self.topic, "g"):
            pass

    async def run(self, k: int) -> None:
        publish, topic = self.broker.publish, self.topic
        for _ in range(k):
            await publish(topic, PAYLOAD)

    async def close(self) -> None:
        await cleanup(self.broker, self.topic)
        await self.broker.close()


class OursConsume(OursPublish):
    async def setup(self, n: int) -> None:
        await super().setup(n)
        for start in range(0, n, 500):
            await self.broker.publish_batch(self.topic, [PAYLOAD] * min(500, n - start))
        self.sub = self.broker.subscribe(self.topic, "g", prefetch=PREFETCH)
        await self.sub.__aenter__()

    async def run(self, k: int) -> None:
        sub = self.sub
        for _ in range(k):
            delivery = await sub.__anext__()
            await delivery.ack()

    async def close(self) -> None:
        await self.sub.aclose()
        await super().close()


async def cleanup(broker: Any, topic: str) -> None:
    if hasattr(broker, "delete_group"):
        await broker.delete_group(topic, "g")
    if hasattr(broker, "delete_topic"):
        await broker.delete_topic(topic)


# ------------------------------------------------------------------ raw clients


class RedisPublish(Side):
    async def setup(self, n: int) -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(REDIS)
        self.key = f"rawbench:{secrets.token_hex(4)}"

    async def run(self, k: int) -> None:
        for _ in range(k):
            await self.client.xadd(self.key, {b"p": PAYLOAD}, maxlen=1_000_000, approximate=True)

    async def close(self) -> None:
        await self.client.delete(self.key)
        await self.client.aclose()


class RedisConsume(RedisPublish):
    async def setup(self, n: int) -> None:
        await super().setup(n)
        await self.client.xgroup_create(self.key, "g", id="0", mkstream=True)
        for start in range(0, n, 500):
            pipe = self.client.pipeline(transaction=False)
            for _ in range(min(500, n - start)):
                pipe.xadd(self.key, {b"p": PAYLOAD})
            await pipe.execute()
        self.buffer: deque[Any] = deque()

    async def run(self, k: int) -> None:
        client, key, buffer = self.client, self.key, self.buffer
        for _ in range(k):
            while not buffer:
                for _, entries in (
                    await client.xreadgroup("g", "c", {key: ">"}, count=PREFETCH, block=200) or ()
                ):
                    buffer.extend(entries)
            eid, _fields = buffer.popleft()
            await client.xack(key, "g", eid)


class NatsPublish(Side):
    async def setup(self, n: int) -> None:
        import nats

        self.nc = await nats.connect(NATS)
        self.js = self.nc.jetstream()
        self.subject = f"rawbench-{secrets.token_hex(4)}"
        await self.js.add_stream(name=self.subject, subjects=[self.subject])

    async def run(self, k: int) -> None:
        for _ in range(k):
            await self.js.publish(self.subject, PAYLOAD)

    async def close(self) -> None:
        await self.js.delete_stream(self.subject)
        await self.nc.close()


class NatsConsume(NatsPublish):
    async def setup(self, n: int) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig

        await super().setup(n)
        for start in range(0, n, 256):
            await asyncio.gather(
                *(self.js.publish(self.subject, PAYLOAD) for _ in range(min(256, n - start)))
            )
        self.psub = await self.js.pull_subscribe(
            self.subject,
            durable="g",
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000),
        )
        self.buffer: deque[Any] = deque()

    async def run(self, k: int) -> None:
        buffer = self.buffer
        for _ in range(k):
            while not buffer:
                buffer.extend(await self.psub.fetch(batch=PREFETCH, timeout=1.0))
            await buffer.popleft().ack()


class RabbitPublish(Side):
    async def setup(self, n: int) -> None:
        import aio_pika

        self.aio_pika = aio_pika
        self.connection = await aio_pika.connect_robust(AMQP)
        self.channel = await self.connection.channel(publisher_confirms=True)
        name = f"rawbench.{secrets.token_hex(4)}"
        self.exchange = await self.channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)
        self.queue = await self.channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await self.queue.bind(self.exchange)

    def message(self) -> Any:
        return self.aio_pika.Message(PAYLOAD, delivery_mode=self.aio_pika.DeliveryMode.PERSISTENT)

    async def run(self, k: int) -> None:
        for _ in range(k):
            await self.exchange.publish(self.message(), routing_key="", mandatory=True)

    async def close(self) -> None:
        await self.queue.delete(if_unused=False, if_empty=False)
        await self.exchange.delete()
        await self.connection.close()


class RabbitConsume(RabbitPublish):
    async def setup(self, n: int) -> None:
        await super().setup(n)
        for start in range(0, n, 500):
            await asyncio.gather(
                *(self.exchange.publish(self.message(), "") for _ in range(min(500, n - start)))
            )
        self.consumer_channel = await self.connection.channel()
        await self.consumer_channel.set_qos(prefetch_count=PREFETCH)
        queue = await self.consumer_channel.get_queue(self.queue.name)
        self.iterator = queue.iterator()
        await self.iterator.__aenter__()

    async def run(self, k: int) -> None:
        for _ in range(k):
            message = await self.iterator.__anext__()
            await message.ack()

    async def close(self) -> None:
        await self.iterator.close()
        await self.consumer_channel.close()
        await super().close()


# ------------------------------------------------------------------ driver


async def side_by_side(ours: Side, raw: Side, n: int) -> tuple[float, float]:
    """Rates (messages/s) of ``ours`` and ``raw``, alternating blocks of BLOCK messages."""
    await ours.setup(n)
    await raw.setup(n)
    spent = {"ours": 0.0, "raw": 0.0}
    try:
        done, flip = 0, False
        while done < n:
            k = min(BLOCK, n - done)
            order = [("raw", raw), ("ours", ours)] if flip else [("ours", ours), ("raw", raw)]
            for who, side in order:
                start = time.perf_counter()
                await side.run(k)
                spent[who] += time.perf_counter() - start
            done += k
            flip = not flip
    finally:
        await ours.close()
        await raw.close()
    return n / spent["ours"], n / spent["raw"]


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


async def bench_backend(name: str, url: str, raw: dict[str, type[Side]], n: int, rounds: int) -> None:
    for op, raw_side in raw.items():
        ours_side = OursPublish if op == "publish" else OursConsume
        ours_rates, raw_rates = [], []
        for _ in range(rounds):
            a, b = await side_by_side(ours_side(url), raw_side(), n)
            ours_rates.append(a)
            raw_rates.append(b)
        ratios = sorted(a / b for a, b in zip(ours_rates, raw_rates, strict=True))
        print(
            f"| {name} | {op} | {fmt(ours_rates)} | {fmt(raw_rates)} | "
            f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f}) |",
            flush=True,
        )


async def bench_memory(n: int, rounds: int) -> None:
    for op, side in (("publish", OursPublish), ("consume", OursConsume)):
        rates = []
        for _ in range(rounds):
            s = side("memory://")
            await s.setup(n)
            start = time.perf_counter()
            await s.run(n)
            rates.append(n / (time.perf_counter() - start))
            await s.close()
        print(f"| memory | {op} | {fmt(rates)} | - | - |", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 messages x 3 rounds")
    parser.add_argument("--only", default="memory,redis,nats,rabbitmq")
    args = parser.parse_args()
    n, rounds = (1_000, 3) if args.quick else (args.messages, args.rounds)
    only = set(args.only.split(","))
    print(f"messages/s, median (min-max) of {rounds} rounds, {n} messages of {len(PAYLOAD)} B")
    print(f"ours and raw alternate blocks of {BLOCK}; ratio = median (min-max) of per-round ratios\n")
    print("| backend | operation | ours | raw client | ours/raw |")
    print("|---|---|---|---|---|")
    if "memory" in only:
        await bench_memory(n, rounds)
    if "redis" in only and reachable(REDIS, 6379):
        await bench_backend("redis", REDIS, {"publish": RedisPublish, "consume": RedisConsume}, n, rounds)
    if "nats" in only and reachable(NATS, 4222):
        await bench_backend("nats", NATS, {"publish": NatsPublish, "consume": NatsConsume}, n, rounds)
    if "rabbitmq" in only and reachable(AMQP, 5672):
        await bench_backend("rabbitmq", AMQP, {"publish": RabbitPublish, "consume": RabbitConsume}, n, rounds)


if __name__ == "__main__":
    asyncio.run(main())
