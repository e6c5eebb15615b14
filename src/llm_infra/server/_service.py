"""``Service``: the state of one running service process (stores, security, jobs) and its lifecycle."""

from __future__ import annotations

import collections
import importlib.util
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from llm_infra.errors import InfraError
from llm_infra.resilience import Capabilities, HealthStatus
from llm_infra.server._collections import Collections
from llm_infra.server._jobs import BrokerFactory, Jobs, open_mq_broker
from llm_infra.server._security import Security, build_security
from llm_infra.server._settings import ServiceSettings
from llm_infra.server._state import StateStore, open_state

_log = logging.getLogger("llm_infra.server")

BOOTSTRAP_SUBJECT = "admin"


@dataclass(slots=True)
class RequestRate:
    """Requests per second over the last minute (for the status page)."""

    window: float = 60.0
    _stamps: collections.deque[float] = field(default_factory=collections.deque)
    total: int = 0

    def hit(self, now: float | None = None) -> None:
        """Count one request."""
        self.total += 1
        now = time.monotonic() if now is None else now
        self._stamps.append(now)
        cutoff = now - self.window
        while self._stamps and self._stamps[0] < cutoff:
            self._stamps.popleft()

    def per_second(self, now: float | None = None) -> float:
        """The rate over the window."""
        now = time.monotonic() if now is None else now
        cutoff = now - self.window
        while self._stamps and self._stamps[0] < cutoff:
            self._stamps.popleft()
        return len(self._stamps) / self.window


class Service:
    """Everything one service process holds; built by ``create_app`` and closed on shutdown."""

    def __init__(self, settings: ServiceSettings, *, broker_factory: BrokerFactory | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.security: Security = build_security(settings)
        backend_url = settings.vector_url
        self.state: StateStore = open_state(backend_url, settings.data_dir)
        self.collections = Collections(
            self.state,
            vector_url=backend_url,
            data_dir=settings.data_dir,
            coalesce=settings.coalesce_searches,
            quota_collections=settings.quota_collections,
            quota_points=settings.quota_points,
        )
        self.jobs = Jobs(
            self.state,
            self.collections,
            mq_url=settings.mq_url,
            data_dir=settings.data_dir,
            topic=settings.mq_topic,
            ack_wait=settings.mq_ack_wait,
            broker_factory=broker_factory or open_mq_broker,
        )
        self.consumer_enabled = settings.queue_consumer and (
            broker_factory is not None or importlib.util.find_spec("llm_infra.mq") is not None
        )
        self.rate = RequestRate()
        self.started_at = time.time()
        self._stop = anyio.Event()
        self._closed = False

    # -- bootstrap ------------------------------------------------------------------------------

    def bootstrap_admin(self) -> str | None:
        """Issue the first admin key when the key store holds none; returns it (shown once) or None."""
        if self.security.keys.list_keys():
            return None
        tenant = self.settings.default_tenant
        issued = self.security.keys.issue(
            f"{tenant}/{BOOTSTRAP_SUBJECT}", ["admin"], tenant=tenant, name="bootstrap", actor="server"
        )
        return issued.key.reveal()

    # -- consumer -------------------------------------------------------------------------------

    async def run_consumer(self) -> None:
        """Consume queued jobs until ``stop`` (failures to reach the broker are logged and retried)."""
        while not self._stop.is_set():
            try:
                await self.jobs.consume(self._stop)
            except InfraError as err:
                _log.warning("job consumer stopped (%s); retrying in 1 s", err.code)
                with anyio.move_on_after(1.0):
                    await self._stop.wait()
            else:
                return

    def stop(self) -> None:
        """Ask the consumer to stop."""
        self._stop.set()

    # -- health ---------------------------------------------------------------------------------

    def readiness(self) -> tuple[HealthStatus, Capabilities, dict[str, Any]]:
        """Probe each dependency: the key store, the catalog, each open store (``Degradable`` ones too)."""
        checks: dict[str, Any] = {}
        statuses: list[HealthStatus] = []
        caps = Capabilities()

        def probe(name: str, fn: Any) -> None:
            try:
                fn()
            except InfraError as err:
                status = HealthStatus.unhealthy(err.code)
            else:
                status = HealthStatus.healthy()
            statuses.append(status)
            checks[name] = status.to_dict()

        probe("keys", lambda: self.security.key_store.get("a" * 16))
        probe("catalog", lambda: self.state.get("collection", "_", "_"))
        for coll in self.collections.open_collections():
            health = getattr(coll.store, "health", None)
            if callable(health):
                status = health()
                statuses.append(status)
                checks[f"collection:{coll.tenant}/{coll.name}"] = status.to_dict()
                capabilities = getattr(coll.store, "capabilities", None)
                if status.is_degraded and callable(capabilities):
                    caps = capabilities()
        overall = HealthStatus.worst(*statuses) if statuses else HealthStatus.healthy()
        if overall.is_unhealthy:
            caps = Capabilities.none()
        return overall, caps, checks

    # -- shutdown -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Graceful shutdown: stop the consumer, flush and close stores, broker, audit log."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        await self.jobs.close()
        await anyio.to_thread.run_sync(self.close_sync)

    def close_sync(self) -> None:
        """The blocking part of the shutdown."""
        try:
            self.collections.close()
        finally:
            self.state.close()
            self.security.close()
