#!/usr/bin/env python
"""llm_infra.mq throughput per backend vs the raw client doing the same thing.

For each backend (Redis Streams / redis-py, NATS JetStream / nats-py, RabbitMQ / aio-pika) and
round, interleaved (ours then raw, then raw then ours on the next round):

- publish: N messages of 200 bytes, one confirmed publish at a time (ours: ``publish``; raw:
  ``XADD`` / ``js.publish`` / ``exchange.publish`` with publisher confirms);
- consume: N messages already in the group, fetched with prefetch 64 and acked one by one
  (ours: ``subscribe`` + ``ack``; raw: ``XREADGROUP`` + ``XACK`` / pull ``fetch`` + ``ack`` /
  ``queue.iterator`` + ``ack``).

Reports messages/s medians with min-max and the ours/raw ratio (target >= 0.8x). Bounded:
``--messages`` (default 5,000; RabbitMQ uses 2,000) x ``--rounds`` (default 5). Needs the
loopback servers (``LLM_TEST_REDIS_URL`` etc. override the URLs); an unreachable one is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from llm_infra.mq import open_broker

REDIS = os.environ.get("LLM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NATS = os.environ.get("LLM_TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP = os.environ.get("LLM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
PAYLOAD = b"x" * 200
PREFETCH = 64


def reachable(url: str, port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), timeout=1):
            return True
    except OSError:
        return False


async def timed(fn: Callable[[], Awaitable[None]], n: int) -> float:
    start = time.perf_counter()
    await fn()
    return n / (time.perf_counter() - start)


# ------------------------------------------------------------------ ours (any backend)


async def ours_publish(url: str, n: int) -> float:
    async with open_broker(url) as broker:
        topic = f"bench-{secrets.token_hex(4)}"
        async with broker.subscribe(topic, "g"):
            pass

        async def run() -> None:
            for _ in range(n):
                await broker.publish(topic, PAYLOAD)

        try:
            return await timed(run, n)
        finally:
            await cleanup(broker, topic)


async def ours_consume(url: str, n: int) -> float:
    async with open_broker(url, poll_interval=0.2) as broker:
        topic = f"bench-{secrets.token_hex(4)}"
        async with broker.subscribe(topic, "g"):
            pass
        for start in range(0, n, 500):
            await broker.publish_batch(topic, [PAYLOAD] * min(500, n - start))

        async def run() -> None:
            got = 0
            async with broker.subscribe(topic, "g", prefetch=PREFETCH) as sub:
                async for delivery in sub:
                    await delivery.ack()
                    got += 1
                    if got >= n:
                        break

        try:
            return await timed(run, n)
        finally:
            await cleanup(broker, topic)


async def cleanup(broker: Any, topic: str) -> None:
    if hasattr(broker, "delete_group"):
        await broker.delete_group(topic, "g")
    if hasattr(broker, "delete_topic"):
        await broker.delete_topic(topic)


# ------------------------------------------------------------------ raw clients


async def redis_publish(n: int) -> float:
    import redis.asyncio as redis

    client = redis.from_url(REDIS)
    key = f"rawbench:{secrets.token_hex(4)}"

    async def run() -> None:
        for _ in range(n):
            await client.xadd(key, {b"p": PAYLOAD}, maxlen=1_000_000, approximate=True)

    try:
        return await timed(run, n)
    finally:
        await client.delete(key)
        await client.aclose()


async def redis_consume(n: int) -> float:
    import redis.asyncio as redis

    client = redis.from_url(REDIS)
    key = f"rawbench:{secrets.token_hex(4)}"
    await client.xgroup_create(key, "g", id="0", mkstream=True)
    for start in range(0, n, 500):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(500, n - start)):
            pipe.xadd(key, {b"p": PAYLOAD})
        await pipe.execute()

    async def run() -> None:
        got = 0
        while got < n:
            reply = await client.xreadgroup("g", "c", {key: ">"}, count=PREFETCH, block=200)
            for _, entries in reply or ():
                for eid, _fields in entries:
                    await client.xack(key, "g", eid)
                    got += 1

    try:
        return await timed(run, n)
    finally:
        await client.delete(key)
        await client.aclose()


async def nats_publish(n: int) -> float:
    import nats

    nc = await nats.connect(NATS)
    js = nc.jetstream()
    subject = f"rawbench-{secrets.token_hex(4)}"
    await js.add_stream(name=subject, subjects=[subject])

    async def run() -> None:
        for _ in range(n):
            await js.publish(subject, PAYLOAD)

    try:
        return await timed(run, n)
    finally:
        await js.delete_stream(subject)
        await nc.close()


async def nats_consume(n: int) -> float:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    nc = await nats.connect(NATS)
    js = nc.jetstream()
    subject = f"rawbench-{secrets.token_hex(4)}"
    await js.add_stream(name=subject, subjects=[subject])
    for start in range(0, n, 256):
        await asyncio.gather(*(js.publish(subject, PAYLOAD) for _ in range(min(256, n - start))))
    psub = await js.pull_subscribe(
        subject, durable="g", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000)
    )

    async def run() -> None:
        got = 0
        while got < n:
            for msg in await psub.fetch(batch=PREFETCH, timeout=1.0):
                await msg.ack()
                got += 1

    try:
        return await timed(run, n)
    finally:
        await js.delete_stream(subject)
        await nc.close()


async def rabbit_setup(channel: Any) -> tuple[Any, Any, str]:
    import aio_pika

    name = f"rawbench.{secrets.token_hex(4)}"
    exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange)
    return exchange, queue, name


async def rabbit_publish(n: int) -> float:
    import aio_pika

    connection = await aio_pika.connect_robust(AMQP)
    channel = await connection.channel(publisher_confirms=True)
    exchange, queue, _ = await rabbit_setup(channel)

    async def run() -> None:
        for _ in range(n):
            await exchange.publish(
                aio_pika.Message(PAYLOAD, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key="",
                mandatory=True,
            )

    try:
        return await timed(run, n)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
        await connection.close()


async def rabbit_consume(n: int) -> float:
    import aio_pika

    connection = await aio_pika.connect_robust(AMQP)
    channel = await connection.channel(publisher_confirms=True)
    exchange, queue, _ = await rabbit_setup(channel)
    for start in range(0, n, 500):
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(PAYLOAD, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), ""
                )
                for _ in range(min(500, n - start))
            )
        )
    consumer_channel = await connection.channel()
    await consumer_channel.set_qos(prefetch_count=PREFETCH)
    consumer_queue = await consumer_channel.get_queue(queue.name)

    async def run() -> None:
        got = 0
        async with consumer_queue.iterator() as it:
            async for message in it:
                await message.ack()
                got += 1
                if got >= n:
                    break

    try:
        return await timed(run, n)
    finally:
        await consumer_channel.close()
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
        await connection.close()


# ------------------------------------------------------------------ driver


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


async def bench_backend(
    name: str, url: str, raw: dict[str, Callable[[int], Awaitable[float]]], n: int, rounds: int
) -> None:
    results: dict[str, dict[str, list[float]]] = {op: {"ours": [], "raw": []} for op in raw}
    for r in range(rounds):
        for op, raw_fn in raw.items():
            ours_fn = ours_publish if op == "publish" else ours_consume
            pair = [("ours", functools.partial(ours_fn, url, n)), ("raw", functools.partial(raw_fn, n))]
            if r % 2:
                pair.reverse()
            for who, fn in pair:
                results[op][who].append(await fn())
    for op, by in results.items():
        ratio = statistics.median(by["ours"]) / statistics.median(by["raw"])
        print(f"| {name} | {op} | {fmt(by['ours'])} | {fmt(by['raw'])} | {ratio:.2f} |", flush=True)


async def bench_memory(n: int, rounds: int) -> None:
    pub = [await ours_publish("memory://", n) for _ in range(rounds)]
    con = [await ours_consume("memory://", n) for _ in range(rounds)]
    print(f"| memory | publish | {fmt(pub)} | - | - |")
    print(f"| memory | consume | {fmt(con)} | - | - |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 messages x 3 rounds")
    parser.add_argument("--only", default="memory,redis,nats,rabbitmq")
    args = parser.parse_args()
    n, rounds = (1_000, 3) if args.quick else (args.messages, args.rounds)
    only = set(args.only.split(","))
    print(f"messages/s, median (min-max) of {rounds} interleaved rounds, {n} messages of {len(PAYLOAD)} B\n")
    print("| backend | operation | ours | raw client | ours/raw |")
    print("|---|---|---|---|---|")
    if "memory" in only:
        await bench_memory(n, rounds)
    if "redis" in only and reachable(REDIS, 6379):
        await bench_backend("redis", REDIS, {"publish": redis_publish, "consume": redis_consume}, n, rounds)
    if "nats" in only and reachable(NATS, 4222):
        await bench_backend("nats", NATS, {"publish": nats_publish, "consume": nats_consume}, n, rounds)
    if "rabbitmq" in only and reachable(AMQP, 5672):
        rn = min(n, 2_000)
        await bench_backend(
            f"rabbitmq ({rn})", AMQP, {"publish": rabbit_publish, "consume": rabbit_consume}, rn, rounds
        )


if __name__ == "__main__":
    asyncio.run(main())
