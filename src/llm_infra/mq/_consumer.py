"""``run_consumer``: the worker loop with bounded concurrency and graceful shutdown."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from llm_infra.errors import InfraError, MessageQueueError
from llm_infra.mq import _codes
from llm_infra.mq._base import Broker, subscription_span
from llm_infra.mq._message import MAX_REASON, Delivery, Message

_logger = logging.getLogger("llm_infra.mq")


def failure_reason(exc: BaseException) -> str:
    """The reason recorded for a failed handler: the error code for an ``InfraError``, else the type."""
    if isinstance(exc, InfraError):
        return f"{exc.code}: {exc.message}"[:MAX_REASON]
    return f"{type(exc).__qualname__}: {exc}"[:MAX_REASON]


async def run_consumer(
    broker: Broker,
    topic: str,
    group: str,
    handler: Callable[[Message], Awaitable[None]],
    *,
    concurrency: int = 1,
    stop: anyio.Event | None = None,
    consumer: str | None = None,
    prefetch: int | None = None,
) -> None:
    """Consume ``topic`` in ``group`` with ``handler``, ``concurrency`` messages at a time.

    A handler that returns acks its message; one that raises nacks it (redelivered, and after
    ``max_deliveries`` dead-lettered to ``<topic>.dlq`` with the error in the headers). When
    ``stop`` is set the loop stops fetching, lets the in-flight handlers finish, settles them
    and returns. Without ``stop`` it runs until cancelled (in-flight messages are then
    redelivered after ``ack_wait``).

    Args:
        broker: any ``Broker``.
        topic, group: what to consume, as which group.
        handler: ``async def handler(message) -> None``.
        concurrency: handlers running at once (>= 1).
        stop: set it to shut down gracefully.
        consumer: the consumer name (default: host-pid-random).
        prefetch: deliveries held at once (default: ``concurrency``).

    Example::

        stop = anyio.Event()
        async def handle(message: Message) -> None:
            print(message.json())
        await run_consumer(broker, "jobs", "workers", handle, concurrency=4, stop=stop)
    """
    if not isinstance(concurrency, int) or concurrency < 1:
        raise MessageQueueError("concurrency must be an int >= 1", code=_codes.INVALID_OPTION, queue=topic)
    stop = stop or anyio.Event()
    system = str(getattr(broker, "system", "unknown"))
    slots = anyio.Semaphore(concurrency)

    async def process(delivery: Delivery) -> None:
        try:
            try:
                with subscription_span(delivery, system, group):
                    await handler(delivery.message)
            except Exception as exc:  # noqa: BLE001 - any handler failure means redelivery
                _logger.warning(
                    "mq handler failed on %s (delivery %d): %s",
                    delivery.message.id,
                    delivery.message.delivery_count,
                    type(exc).__qualname__,
                )
                await delivery.nack(requeue=True, reason=failure_reason(exc))
            else:
                await delivery.ack()
        except InfraError as exc:  # settling failed (broker gone): it will be redelivered
            _logger.warning("mq could not settle %s: %s", delivery.message.id, exc.code)
        finally:
            slots.release()

    subscription = broker.subscribe(topic, group, consumer=consumer, prefetch=max(prefetch or 0, concurrency))
    async with subscription, anyio.create_task_group() as workers:
        with anyio.CancelScope() as fetching:

            async def watch() -> None:
                await stop.wait()
                fetching.cancel()

            async with anyio.create_task_group() as control:
                control.start_soon(watch)
                try:
                    while not stop.is_set():
                        await slots.acquire()
                        try:
                            delivery = await subscription.__anext__()
                        except StopAsyncIteration:
                            slots.release()
                            break
                        except BaseException:
                            slots.release()
                            raise
                        workers.start_soon(process, delivery)
                finally:
                    control.cancel_scope.cancel()
