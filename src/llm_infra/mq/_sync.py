"""``SyncBroker``: a blocking facade over an async broker, for scripts and the CLI."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, final

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from llm_infra._internal._attrs import Closing, readonly
from llm_infra.errors import MessageQueueError
from llm_infra.mq import _codes
from llm_infra.mq._base import BrokerBase
from llm_infra.mq._message import Message
from llm_infra.mq._open import open_broker


@final
class SyncBroker(Closing):
    """Publish and consume from synchronous code; the broker lives on its own event-loop thread.

    Example::

        with SyncBroker.open("memory://") as broker:
            broker.publish("jobs", b"hello")
            [message] = broker.consume("jobs", "workers", timeout=1.0)
    """

    __slots__ = ("_broker", "_portal", "_stack")

    def __init__(self, broker: BrokerBase, portal: BlockingPortal, stack: contextlib.ExitStack) -> None:
        self._broker = broker
        self._portal = portal
        self._stack = stack

    @classmethod
    def open(cls, url: str, **kw: Any) -> SyncBroker:
        """Connect to ``url`` (same options as ``open_broker``) on a new event-loop thread."""
        stack = contextlib.ExitStack()
        portal = stack.enter_context(start_blocking_portal())
        try:
            broker = portal.call(cls._open, url, kw)
        except BaseException:
            stack.close()
            raise
        return cls(broker, portal, stack)

    @staticmethod
    async def _open(url: str, kw: dict[str, Any]) -> BrokerBase:
        return await open_broker(url, **kw)

    broker: readonly[BrokerBase] = readonly(
        "_broker", "The async broker behind the facade (use it only on the facade's loop)."
    )

    def _check(self) -> None:
        if self._broker.closed:
            raise MessageQueueError("the broker is closed", code=_codes.CLOSED)

    def publish(self, topic: str, payload: bytes, **kw: Any) -> str:
        """``Broker.publish`` from sync code; returns the message id."""
        self._check()
        return self._portal.call(lambda: self._broker.publish(topic, payload, **kw))

    def publish_batch(self, topic: str, payloads: Sequence[bytes], **kw: Any) -> list[str]:
        """``Broker.publish_batch`` from sync code; returns the message ids."""
        self._check()
        return self._portal.call(lambda: self._broker.publish_batch(topic, payloads, **kw))

    def consume(
        self, topic: str, group: str, *, max_messages: int = 1, timeout: float = 5.0, ack: bool = True
    ) -> list[Message]:
        """Receive up to ``max_messages`` within ``timeout`` seconds (fewer, or none, on timeout).

        With ``ack=False`` the messages are given back (nacked) for redelivery; that counts as a
        delivery towards ``max_deliveries``.
        """
        self._check()
        if max_messages < 1:
            raise MessageQueueError("max_messages must be >= 1", code=_codes.INVALID_OPTION, queue=topic)
        return self._portal.call(self._consume, topic, group, max_messages, timeout, ack)

    async def _consume(
        self, topic: str, group: str, max_messages: int, timeout: float, ack: bool
    ) -> list[Message]:
        out: list[Message] = []
        async with self._broker.subscribe(topic, group, prefetch=max_messages) as sub:
            with anyio.move_on_after(timeout):
                async for delivery in sub:
                    if ack:
                        await delivery.ack()
                    else:
                        await delivery.nack(requeue=True, reason="returned by consume(ack=False)")
                    out.append(delivery.message)
                    if len(out) >= max_messages:
                        break
        return out

    def close(self) -> None:
        """Close the broker and stop the loop thread. Idempotent."""
        try:
            if not self._broker.closed:
                self._portal.call(self._broker.close)
        finally:
            self._stack.close()
