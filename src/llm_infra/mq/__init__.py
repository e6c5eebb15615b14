"""Message queues: one async API over in-memory, Redis Streams, NATS JetStream and RabbitMQ brokers.

Delivery is at least once: a consumer group gets each message until one member acknowledges it.
Unsettled deliveries come back after ``ack_wait``; a message that fails ``max_deliveries``
times goes to ``<topic>.dlq`` with the reason in its headers. Publishes return once the broker
confirmed them, carry the W3C trace context, and are refused (``mq.message_too_large``) over
``max_message_bytes``::

    from llm_infra.mq import Message, open_broker, run_consumer

    async with open_broker("redis://localhost:6379/0", max_deliveries=5, ack_wait=30) as broker:
        await broker.publish("ingest", b'{"doc": 1}', idempotency_key="doc-1")

        async def handle(message: Message) -> None:
            print(message.json())

        await run_consumer(broker, "ingest", "workers", handle, concurrency=4, stop=stop)

``SyncBroker`` offers the same from synchronous code.
"""

from llm_infra.mq._base import Broker as Broker
from llm_infra.mq._base import BrokerOptions as BrokerOptions
from llm_infra.mq._base import Subscription as Subscription
from llm_infra.mq._consumer import run_consumer as run_consumer
from llm_infra.mq._memory import MemoryBroker as MemoryBroker
from llm_infra.mq._message import DEAD_LETTER_REASON as DEAD_LETTER_REASON
from llm_infra.mq._message import Delivery as Delivery
from llm_infra.mq._message import Message as Message
from llm_infra.mq._message import json_payload as json_payload

# Network backends import their client library lazily (extras: redis, nats, rabbitmq).
from llm_infra.mq._nats import NatsBroker as NatsBroker
from llm_infra.mq._open import open_broker as open_broker
from llm_infra.mq._rabbit import RabbitMqBroker as RabbitMqBroker
from llm_infra.mq._redis import RedisStreamsBroker as RedisStreamsBroker
from llm_infra.mq._sync import SyncBroker as SyncBroker

__all__ = [
    "Broker",
    "BrokerOptions",
    "DEAD_LETTER_REASON",
    "Delivery",
    "MemoryBroker",
    "Message",
    "NatsBroker",
    "RabbitMqBroker",
    "RedisStreamsBroker",
    "Subscription",
    "SyncBroker",
    "json_payload",
    "open_broker",
    "run_consumer",
]
