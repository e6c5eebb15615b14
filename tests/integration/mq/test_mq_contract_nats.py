"""The nats backend passes BrokerContract against the loopback server."""

from __future__ import annotations

from typing import Any

import pytest

from llm_infra.mq import open_broker
from llm_infra.mq._base import BrokerBase
from llm_infra.testing import BrokerContract

pytestmark = pytest.mark.integration


class TestBroker(BrokerContract):
    @pytest.fixture(autouse=True)
    def _server(self, nats_url: str) -> None:
        self.url = nats_url

    async def make_broker(self, **options: Any) -> BrokerBase:
        return await open_broker(self.url, **options)
