"""Jobs: queued ingest and long operations (snapshot, verify, rebuild, migrate) through ``llm_infra.mq``.

A job is a catalog document; its work travels as messages (ingest in chunks of ``CHUNK`` points,
each with an idempotency key). A consumer applies each message with an idempotent upsert, records
the chunk's outcome as its own document (so a redelivery rewrites the same record), then acks:
delivery is at-least-once and progress is ``done chunks / chunks``. ``llm_infra.mq`` is imported
only when a broker is opened, so the service starts without it until a job is submitted.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import anyio
import numpy as np

from llm_infra.errors import (
    BatchError,
    ExternalError,
    InfraError,
    NotFoundError,
    ValidationError,
    to_infra_error,
)
from llm_infra.ids import ulid
from llm_infra.json import dumps, loads
from llm_infra.otel import counter, span
from llm_infra.server import _codes
from llm_infra.server._collections import Collections
from llm_infra.server._state import StateStore

_log = logging.getLogger("llm_infra.server.jobs")

TOPIC = "llm-infra.jobs"
GROUP = "llm-infra-workers"
CHUNK = 256
KIND = "job"
TASKS = ("snapshot", "verify", "rebuild", "migrate")


class Message(Protocol):
    """The subset of ``llm_infra.mq.Message`` used here."""

    @property
    def id(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def delivery_count(self) -> int: ...


class Delivery(Protocol):
    """The subset of ``llm_infra.mq.Delivery`` used here."""

    @property
    def message(self) -> Message: ...
    async def ack(self) -> None: ...
    async def nack(self, requeue: bool = True, delay: float | None = None) -> None: ...


class Broker(Protocol):
    """The subset of ``llm_infra.mq.Broker`` used here."""

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
        idempotency_key: str | None = None,
    ) -> str: ...

    def subscribe(
        self, topic: str, group: str, *, consumer: str | None = None, prefetch: int = 16
    ) -> AsyncIterator[Delivery]: ...

    async def close(self) -> None: ...


BrokerFactory = Callable[[str, float], Awaitable[Broker]]


async def open_mq_broker(url: str, ack_wait: float = 30.0) -> Broker:
    """Open ``url`` with ``llm_infra.mq.open_broker``.

    Raises:
        ExternalError: ``llm_infra.mq`` is missing or the broker cannot be reached
            (``server.queue_unavailable``).
    """
    try:
        from llm_infra import mq  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise ExternalError(
            "queued ingest needs llm_infra.mq, which this installation lacks",
            code=_codes.QUEUE_UNAVAILABLE,
        ) from exc
    broker: Any = await mq.open_broker(url, ack_wait=ack_wait, max_message_bytes=16 << 20)
    return cast("Broker", broker)


def _job_not_found(job_id: str) -> NotFoundError:
    return NotFoundError(
        f"no job {job_id!r}", resource_type="job", resource_id=job_id, code=_codes.JOB_NOT_FOUND
    )


class Jobs:
    """Submits jobs, reports their progress and (as a consumer) carries them out."""

    def __init__(
        self,
        state: StateStore,
        collections: Collections,
        *,
        mq_url: str,
        data_dir: Path,
        topic: str = TOPIC,
        ack_wait: float = 30.0,
        broker_factory: BrokerFactory = open_mq_broker,
    ) -> None:
        self._topic = topic
        self._state = state
        self._collections = collections
        self._data_dir = data_dir
        self._open_broker = functools.partial(broker_factory, mq_url, ack_wait)
        self._broker: Broker | None = None
        self._lock = anyio.Lock()

    async def broker(self) -> Broker:
        """The broker, opened on first use."""
        async with self._lock:
            if self._broker is None:
                self._broker = await self._open_broker()
            return self._broker

    async def close(self) -> None:
        """Close the broker."""
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.close()

    # -- submitting -----------------------------------------------------------------------------

    async def submit_ingest(
        self, tenant: str, collection: str, points: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Queue ``points`` for ``collection``; returns the job document (status ``queued``)."""
        job_id = ulid()
        chunks = max(1, (len(points) + CHUNK - 1) // CHUNK)
        doc = self._new(job_id, "ingest", collection, total=len(points), chunks=chunks)
        broker = await self.broker()
        self._state.put(KIND, tenant, job_id, doc)
        for i in range(chunks):
            part = list(points[i * CHUNK : (i + 1) * CHUNK])
            body = {
                "job": job_id,
                "tenant": tenant,
                "collection": collection,
                "kind": "ingest",
                "chunk": i,
                "points": part,
            }
            await broker.publish(
                self._topic, dumps(body), key=f"{tenant}/{collection}", idempotency_key=f"{job_id}:{i}"
            )
        counter("server.jobs.submitted").add(1, {"kind": "ingest"})
        return self.view(tenant, job_id)

    async def submit_task(
        self, tenant: str, collection: str, kind: str, options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Queue a ``snapshot``/``verify``/``rebuild``/``migrate`` of ``collection``."""
        if kind not in TASKS:
            raise ValidationError(f"unknown job kind {kind!r}", field="kind", code=_codes.INVALID_REQUEST)
        job_id = ulid()
        doc = self._new(job_id, kind, collection, total=1, chunks=1)
        broker = await self.broker()
        self._state.put(KIND, tenant, job_id, doc)
        body = {
            "job": job_id,
            "tenant": tenant,
            "collection": collection,
            "kind": kind,
            "chunk": 0,
            "options": dict(options),
        }
        await broker.publish(
            self._topic, dumps(body), key=f"{tenant}/{collection}", idempotency_key=f"{job_id}:0"
        )
        counter("server.jobs.submitted").add(1, {"kind": kind})
        return self.view(tenant, job_id)

    @staticmethod
    def _new(job_id: str, kind: str, collection: str, *, total: int, chunks: int) -> dict[str, Any]:
        return {
            "id": job_id,
            "kind": kind,
            "collection": collection,
            "total": total,
            "chunks": chunks,
            "created_at": time.time(),
        }

    # -- progress -------------------------------------------------------------------------------

    def view(self, tenant: str, job_id: str) -> dict[str, Any]:
        """The job with its progress.

        Raises:
            NotFoundError: no such job in this tenant (``server.job_not_found``).
        """
        doc = self._state.get(KIND, tenant, job_id) if job_id.isalnum() else None
        if doc is None:
            raise _job_not_found(job_id)
        parts = [d for _, _, d in self._state.list(f"chunk:{job_id}", tenant)]
        done = sum(int(p.get("points", 0)) for p in parts)
        failed = sum(int(p.get("failed", 0)) for p in parts)
        errors = [e for p in parts for e in p.get("errors", ())][:20]
        status = "queued"
        if parts:
            status = "running"
        if len(parts) >= int(doc["chunks"]):
            status = "failed" if any(p.get("error") for p in parts) else "succeeded"
        view = {
            **doc,
            "status": status,
            "done_chunks": len(parts),
            "processed": done,
            "failed": failed,
            "progress": len(parts) / max(1, int(doc["chunks"])),
            "errors": errors,
        }
        results = [p["result"] for p in parts if "result" in p]
        if results:
            view["result"] = results[0]
        fatal = [p["error"] for p in parts if p.get("error")]
        if fatal:
            view["error"] = fatal[0]
        return view

    def list(self, tenant: str, limit: int = 50) -> list[dict[str, Any]]:
        """The tenant's most recent jobs, newest first."""
        ids = sorted((name for _, name, _ in self._state.list(KIND, tenant)), reverse=True)[:limit]
        return [self.view(tenant, job_id) for job_id in ids]

    # -- consuming ------------------------------------------------------------------------------

    async def consume(self, stop: anyio.Event, *, consumer: str | None = None) -> None:
        """Apply messages until ``stop`` is set (each acked only after its outcome is stored)."""
        broker = await self.broker()
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await stop.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            subscription: Any = broker.subscribe(self._topic, GROUP, consumer=consumer, prefetch=4)
            if hasattr(subscription, "__aenter__"):
                async with subscription as deliveries:
                    async for delivery in deliveries:
                        await self.handle(delivery)
            else:
                async for delivery in subscription:
                    await self.handle(delivery)
            tg.cancel_scope.cancel()

    async def handle(self, delivery: Delivery) -> None:
        """Apply one message, store its outcome, then ack (nack with a delay on a transient failure)."""
        try:
            body = loads(delivery.message.payload)
        except InfraError:
            _log.error("dropping a malformed job message %s", delivery.message.id)
            await delivery.ack()
            return
        with span(
            "server.job", attributes={"job.kind": str(body.get("kind")), "job.id": str(body.get("job"))}
        ):
            try:
                outcome = await self._apply(body)
            except Exception as exc:  # noqa: BLE001 - a bad job fails alone; the consumer goes on
                err = to_infra_error(exc)
                if err.retryable:
                    await delivery.nack(requeue=True, delay=1.0)
                    return
                outcome = {"points": 0, "error": {"code": err.code, "detail": str(err)}}
            self._state.put(f"chunk:{body['job']}", str(body["tenant"]), str(body["chunk"]), outcome)
            await delivery.ack()
            counter("server.jobs.chunks").add(1, {"kind": str(body.get("kind"))})

    async def _apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        tenant, name, kind = str(body["tenant"]), str(body["collection"]), str(body["kind"])
        coll = self._collections.get(tenant, name)
        if kind == "ingest":
            points = list(body.get("points") or ())
            result: Any
            try:
                if len({len(p.get("vector") or ()) for p in points}) == 1:
                    result = await coll.call(
                        "upsert_batch",
                        coll.store.upsert_batch,
                        ids=[str(p.get("id")) for p in points],
                        vectors=np.asarray([p.get("vector") for p in points], dtype=np.float32),
                        metadatas=[p.get("metadata") for p in points],
                    )
                else:  # vectors of several lengths: the item form fails each bad one alone
                    items = [
                        (str(p.get("id")), np.asarray(p.get("vector"), np.float32), p.get("metadata"))
                        for p in points
                    ]
                    result = await coll.call("upsert_batch", coll.store.upsert_batch, items)
            except BatchError as every:
                result = every
            errors = [
                {"id": f.item_id, "code": f.error.code, "detail": str(f.error)} for f in result.failures
            ]
            return {"points": result.succeeded, "failed": len(result.failures), "errors": errors[:10]}
        options = dict(body.get("options") or {})
        if kind == "snapshot":
            dest = self._data_dir / "snapshots" / tenant / name / str(body["job"])
            await coll.call("snapshot", coll.store.snapshot, dest)
            return {"points": 1, "result": {"path": str(dest)}}
        if kind == "verify":
            report = await coll.call("verify", coll.store.verify)
            return {
                "points": 1,
                "result": {"ok": report.ok, "count": report.count, "problems": list(report.problems)},
            }
        if kind == "rebuild":
            await coll.call("rebuild", coll.store.rebuild)
            return {"points": 1, "result": {"rebuilt": True}}
        return await self._migrate(coll, options, str(body["job"]))

    async def _migrate(self, coll: Any, options: Mapping[str, Any], job_id: str) -> dict[str, Any]:
        from llm_infra.server._collections import store_config, vector_api
        from llm_infra.vector import open_store

        target = str(options.get("target", ""))
        migrate = vector_api("migrate")
        if not target or migrate is None:
            raise ValidationError(
                "migrate needs a 'target' vector URL or directory, and llm_infra.vector.migrate",
                field="target",
                code=_codes.INVALID_REQUEST,
            )
        opener = vector_api("open_backend") if "://" in target else None
        config = store_config(coll.spec, f"{coll.tenant}.{coll.name}")
        checkpoint = self._data_dir / "migrations" / f"{job_id}.checkpoint"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)

        def run() -> Any:
            dst = (opener or open_store)(target, config)
            try:
                return migrate(coll.store, dst, checkpoint=checkpoint)
            finally:
                dst.close()

        report = await coll.call("migrate", run)
        return {
            "points": 1,
            "result": {
                "target": target,
                "copied": getattr(report, "copied", None),
                "problems": list(getattr(report, "problems", ())),
            },
        }
