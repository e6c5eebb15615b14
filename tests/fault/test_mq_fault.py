"""Fault tests of llm_infra.mq: consumer kills and stalls, poison messages, dropped connections.

Each test proves at-least-once delivery by counting: every published message is processed at
least once (0 lost), nothing else is processed (0 unexpected), and duplicates are reported.
The kill/stall test sends 10,000 messages on every backend; a stall is a handler that holds
its delivery past ack_wait while its consumer goes on (then acks late).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from llm_infra.errors import MessageQueueError
from llm_infra.mq import DEAD_LETTER_REASON, Message, open_broker, run_consumer
from llm_infra.mq._base import BrokerBase
from llm_infra.resilience import RetryPolicy
from llm_infra.testing import FakeClock

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

BACKENDS = ["memory", "redis", "nats", "rabbitmq"]
SERVER_FIXTURE = {"redis": "redis_url", "nats": "nats_url", "rabbitmq": "rabbitmq_url"}


def server_url(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "memory":
        return "memory://"
    return str(request.getfixturevalue(SERVER_FIXTURE[backend]))


async def cleanup(broker: BrokerBase, topic: str, groups: list[str]) -> None:
    with anyio.CancelScope(shield=True):
        delete_group = getattr(broker, "delete_group", None)
        if delete_group is not None:
            for group in groups:
                await delete_group(topic, group)
        delete_topic = getattr(broker, "delete_topic", None)
        if delete_topic is not None:
            await delete_topic(topic)


async def create_group(broker: BrokerBase, topic: str, group: str) -> None:
    """Subscribe once so the group exists (RabbitMQ keeps messages only for existing groups)."""
    async with broker.subscribe(topic, group):
        pass


async def publish_numbers(broker: BrokerBase, topic: str, numbers: range, prefix: str = "") -> None:
    chunk = 500
    for start in range(numbers.start, numbers.stop, chunk):
        stop = min(start + chunk, numbers.stop)
        await broker.publish_batch(topic, [f"{prefix}{i}".encode() for i in range(start, stop)])


async def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)
        return True
    return False


# ------------------------------------------------------------------ kills and stalls (in-process)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_kills_and_stalls_lose_nothing(request: pytest.FixtureRequest, backend: str) -> None:
    total = 10_000
    kills, stalls = 20, 5
    clock = FakeClock() if backend == "memory" else None
    ack_wait = 5.0 if backend == "memory" else 1.0
    # A killed consumer's prefetched deliveries count as deliveries; with 20 kills in quick
    # succession the same head-of-queue messages can bounce more than 5 times, so the delivery
    # cap (covered by the poison test) is raised here to keep this test about loss.
    options: dict[str, Any] = {"ack_wait": ack_wait, "poll_interval": 0.05, "max_deliveries": 100}
    if clock is not None:
        options["clock"] = clock
    broker = await open_broker(server_url(request, backend), **options)
    topic, group = f"fault-{secrets.token_hex(4)}", "workers"
    processed: list[int] = []
    received: Counter[int] = Counter()
    stalled: list[int] = []
    stall_budget = [stalls]
    rng = random.Random(7)

    async def stall_past_ack_wait() -> None:
        if clock is None:
            await anyio.sleep(ack_wait * 2.5)  # the property under test is the passage of ack_wait
            return
        until = clock.monotonic() + ack_wait * 2.5
        while clock.monotonic() < until:
            await anyio.sleep(0.005)

    async def hold_past_ack_wait(delivery: Any) -> None:
        """A hung handler: the delivery stays unsettled past ack_wait, then is acked late."""
        try:
            await stall_past_ack_wait()
        finally:
            processed.append(int(delivery.message.payload))
            with anyio.CancelScope(shield=True), contextlib.suppress(MessageQueueError):
                await delivery.ack()  # its subscription may be gone (killed): then it was redelivered

    async def consume(scope: anyio.CancelScope, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        with scope:
            async with broker.subscribe(topic, group, prefetch=32) as sub:
                task_status.started()
                async for delivery in sub:
                    number = int(delivery.message.payload)
                    received[number] += 1
                    due = total * (stalls - stall_budget[0] + 1) // (stalls + 2)
                    if stall_budget[0] > 0 and len(processed) >= due:
                        stall_budget[0] -= 1
                        stalled.append(number)
                        holders.start_soon(hold_past_ack_wait, delivery)
                        continue
                    processed.append(number)
                    await delivery.ack()

    async def tick() -> None:
        assert clock is not None
        while True:
            clock.advance(0.05)
            await anyio.sleep(0.005)

    try:
        await create_group(broker, topic, group)
        await publish_numbers(broker, topic, range(total))
        async with anyio.create_task_group() as holders, anyio.create_task_group() as tg:
            if clock is not None:
                holders.start_soon(tick)
            scopes = [anyio.CancelScope() for _ in range(3)]
            for scope in scopes:
                await tg.start(consume, scope)
            for kill in range(kills):
                threshold = total * (kill + 1) // (kills + 2)
                assert await wait_for(lambda t=threshold: len(set(processed)) >= t, 60), "consumers stalled"
                victim = rng.randrange(3)
                scopes[victim].cancel()  # the consumer dies with deliveries in hand
                scopes[victim] = anyio.CancelScope()
                await tg.start(consume, scopes[victim])
            done = await wait_for(lambda: len(set(processed)) >= total, 90)
            # every stalled delivery went past ack_wait, so it must come again (to some consumer)
            redelivered = await wait_for(lambda: all(received[n] >= 2 for n in stalled), 30)
            tg.cancel_scope.cancel()
            holders.cancel_scope.cancel()
        counts = Counter(processed)
        lost = set(range(total)) - set(counts)
        unexpected = set(counts) - set(range(total))
        duplicates = sum(c - 1 for c in counts.values())
        print(
            f"\n[{backend}] {total} messages, {kills} kills, {len(stalled)} stalls: "
            f"lost={len(lost)} unexpected={len(unexpected)} duplicates={duplicates}"
        )
        assert done
        assert not lost
        assert not unexpected
        assert len(stalled) == stalls
        assert redelivered
    finally:
        await cleanup(broker, topic, [group])
        await broker.close()


# ------------------------------------------------------------------ poison messages


@pytest.mark.parametrize("backend", BACKENDS)
async def test_poison_messages_reach_dlq_after_exactly_max_deliveries(
    request: pytest.FixtureRequest, backend: str
) -> None:
    good_total, poison_total, max_deliveries = 400, 100, 5
    broker = await open_broker(
        server_url(request, backend), max_deliveries=max_deliveries, poll_interval=0.05
    )
    topic, group = f"poison-{secrets.token_hex(4)}", "workers"
    attempts: Counter[str] = Counter()
    good: set[str] = set()
    dead: list[Message] = []
    try:
        await create_group(broker, topic, group)
        async with broker.subscribe(topic + ".dlq", group) as dlq:
            payloads = [f"good-{i}" for i in range(good_total)] + [f"poison-{i}" for i in range(poison_total)]
            random.Random(3).shuffle(payloads)
            await broker.publish_batch(topic, [p.encode() for p in payloads])

            async def handler(message: Message) -> None:
                text = message.payload.decode()
                attempts[text] += 1
                if text.startswith("poison"):
                    raise ValueError(f"cannot parse {text}")
                good.add(text)

            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(
                        lambda: run_consumer(broker, topic, group, handler, concurrency=4, stop=stop)
                    )
                with anyio.move_on_after(60):
                    async for delivery in dlq:
                        dead.append(delivery.message)
                        await delivery.ack()
                        if len(dead) >= poison_total:
                            break
                assert await wait_for(lambda: len(good) >= good_total, 30)
                stop.set()
        names = sorted(m.payload.decode() for m in dead)
        assert names == sorted(f"poison-{i}" for i in range(poison_total))
        assert all(attempts[f"poison-{i}"] == max_deliveries for i in range(poison_total))
        assert all(m.headers[DEAD_LETTER_REASON].startswith("ValueError: cannot parse") for m in dead)
        assert all(m.headers["x-mq-deliveries"] == str(max_deliveries) for m in dead)
        assert len(good) == good_total
    finally:
        await cleanup(broker, topic, [group])
        await broker.close()


# ------------------------------------------------------------------ dropped connections


class DropProxy:
    """A loopback TCP proxy whose connections can all be cut at once (a broker connection drop)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.drops = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        self.links.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.links.difference_update((writer, up_writer))

    def drop(self) -> None:
        self.drops += 1
        for writer in list(self.links):
            writer.transport.abort()

    async def close(self) -> None:
        self.drop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@contextlib.asynccontextmanager
async def proxied(url: str) -> AsyncIterator[tuple[str, DropProxy]]:
    parts = urlsplit(url)
    default = {"redis": 6379, "nats": 4222, "amqp": 5672}[parts.scheme]
    proxy = DropProxy(parts.hostname or "127.0.0.1", parts.port or default)
    port = await proxy.start()
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    try:
        yield urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{port}")), proxy
    finally:
        await proxy.close()


@pytest.mark.parametrize("backend", ["redis", "nats", "rabbitmq"])
async def test_connection_drops_lose_no_acknowledged_message(
    request: pytest.FixtureRequest, backend: str
) -> None:
    total = 2_000
    direct = server_url(request, backend)
    topic, group = f"drop-{secrets.token_hex(4)}", "workers"
    processed: list[int] = []
    confirmed: set[int] = set()
    async with proxied(direct) as (url, proxy):
        broker = await open_broker(
            url,
            ack_wait=2.0,
            poll_interval=0.2,
            publish_retry=RetryPolicy(max_attempts=100, base_delay=0.05, max_delay=0.5, deadline=30),
            reconnect=RetryPolicy(max_attempts=1_000, base_delay=0.05, max_delay=0.5),
        )
        try:
            await create_group(broker, topic, group)

            async def handler(message: Message) -> None:
                processed.append(int(message.payload))

            async def produce() -> None:
                for start in range(0, total, 50):
                    numbers = range(start, start + 50)
                    await broker.publish_batch(topic, [b"%d" % i for i in numbers])
                    confirmed.update(numbers)  # confirmed by the broker: must not be lost
                    await anyio.sleep(0)

            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                for _ in range(2):
                    tg.start_soon(
                        lambda: run_consumer(broker, topic, group, handler, concurrency=8, stop=stop)
                    )
                tg.start_soon(produce)
                for fraction in (0.25, 0.6):
                    assert await wait_for(lambda f=fraction: len(set(processed)) >= total * f, 60)
                    proxy.drop()  # every client connection of this broker is cut mid-stream
                ok = await wait_for(lambda: len(confirmed) == total and confirmed <= set(processed), 90)
                stop.set()
            lost = confirmed - set(processed)
            print(
                f"\n[{backend}] {total} messages, {proxy.drops} connection drops: lost={len(lost)} "
                f"duplicates={len(processed) - len(set(processed))}"
            )
            assert ok
            assert not lost
            assert set(processed) <= set(range(total))
        finally:
            with anyio.move_on_after(20, shield=True):
                await cleanup(broker, topic, [group])
                await broker.close()


# ------------------------------------------------------------------ real kill -9 of worker processes

WORKER = textwrap.dedent(
    """
    import sys, anyio
    from llm_infra.mq import open_broker, run_consumer

    url, topic, group, out = sys.argv[1:5]

    async def main():
        async with open_broker(url, ack_wait=1.0, poll_interval=0.1) as broker:
            with open(out, "a", buffering=1) as fh:
                async def handle(message):
                    fh.write(message.payload.decode() + "\\n")
                await run_consumer(broker, topic, group, handle, concurrency=4)

    anyio.run(main)
    """
)


@pytest.mark.parametrize("backend", ["redis", "nats"])
async def test_worker_processes_killed_with_sigkill(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    total, kills = 2_000, 4
    url = server_url(request, backend)
    topic, group = f"kill-{secrets.token_hex(4)}", "workers"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    broker = await open_broker(url, ack_wait=1.0)  # the workers' ack_wait
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(n: int) -> subprocess.Popen[bytes]:
        out = tmp_path / f"out-{n}.txt"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        proc = subprocess.Popen([sys.executable, str(script), url, topic, group, str(out)], env=env)
        procs.append(proc)
        return proc

    def seen() -> list[int]:
        numbers: list[int] = []
        for path in tmp_path.glob("out-*.txt"):
            numbers.extend(int(line) for line in path.read_text().split())
        return numbers

    try:
        await create_group(broker, topic, group)
        await publish_numbers(broker, topic, range(total))
        live = [spawn(n) for n in range(3)]
        rng = random.Random(11)
        for kill in range(kills):
            threshold = total * (kill + 1) // (kills + 2)
            assert await wait_for(lambda t=threshold: len(set(seen())) >= t, 60)
            victim = live.pop(rng.randrange(len(live)))
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            live.append(spawn(3 + kill))
        done = await wait_for(lambda: len(set(seen())) >= total, 90)
        numbers = seen()
        lost = set(range(total)) - set(numbers)
        print(
            f"\n[{backend}] {total} messages, {kills} worker kill -9s: lost={len(lost)} "
            f"duplicates={len(numbers) - len(set(numbers))}"
        )
        assert done
        assert not lost
        assert set(numbers) <= set(range(total))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await cleanup(broker, topic, [group])
        await broker.close()
