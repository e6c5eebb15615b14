"""The rabbitmq backend passes BrokerContract against the loopback server."""

from __future__ import annotations

from typing import Any

import pytest

from llm_infra.mq import open_broker
from llm_infra.mq._base import BrokerBase
from llm_infra.testing import BrokerContract

pytestmark = pytest.mark.integration


class TestBroker(BrokerContract):
    retains_before_subscribe = False

    @pytest.fixture(autouse=True)
    def _server(self, rabbitmq_url: str) -> None:
        self.url = rabbitmq_url

    async def make_broker(self, **options: Any) -> BrokerBase:
        return await open_broker(self.url, **options)
