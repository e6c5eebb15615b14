"""MemoryBroker passes BrokerContract, with the fake clock driving ack_wait and delays."""

from __future__ import annotations

from typing import Any

from llm_infra.mq import MemoryBroker, open_broker
from llm_infra.mq._base import BrokerBase
from llm_infra.testing import BrokerContract


class TestMemoryBroker(BrokerContract):
    clock_drives_ack_wait = True

    async def make_broker(self, **options: Any) -> BrokerBase:
        broker = await open_broker("memory://", **options)
        assert isinstance(broker, MemoryBroker)
        return broker
