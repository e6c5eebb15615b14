"""What every backend shares: the ``Broker`` protocol, options, publish checks, spans and metrics,
and the subscription loop (prefetch bound, TTL, delivery limit, dead letters, reconnect backoff)."""

from __future__ import annotations

import abc
import contextlib
import functools
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, TypedDict, Unpack, runtime_checkable

import anyio
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llm_infra._internal._attrs import AsyncClosing, readonly
from llm_infra._internal._clock import SYSTEM_CLOCK, Clock
from llm_infra.errors import ConfigError, InfraError, MessageQueueError
from llm_infra.ids import ulid
from llm_infra.mq import _codes
from llm_infra.mq._message import (
    DLQ_SUFFIX,
    Delivery,
    Message,
    backend_error,
    check_headers,
    check_name,
    check_size,
    dead_letter_headers,
)
from llm_infra.otel import counter, histogram, inject, span
from llm_infra.resilience import RetryPolicy, RetryState, retry

_logger = logging.getLogger("llm_infra.mq")

_published = counter("mq.published", unit="{message}", description="messages confirmed by the broker")
_delivered = counter("mq.delivered", unit="{message}", description="deliveries handed to consumers")
_redelivered = counter("mq.redelivered", unit="{message}", description="deliveries with delivery_count > 1")
_acked = counter("mq.acked", unit="{message}", description="deliveries acknowledged")
_nacked = counter("mq.nacked", unit="{message}", description="deliveries given back for redelivery")
_dead = counter("mq.dead_lettered", unit="{message}", description="messages moved to <topic>.dlq")
_expired = counter("mq.expired", unit="{message}", description="messages dropped because their TTL ran out")
_lag = histogram("mq.lag", unit="s", description="seconds from publish to delivery")


class _Tracing:
    """Whether an OpenTelemetry SDK may record spans (until one is installed, spans are skipped)."""

    seen = False

    @classmethod
    def active(cls) -> bool:
        if not cls.seen:
            # A global provider, once set, cannot be replaced: remember it and stop checking.
            cls.seen = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        return cls.seen


DEFAULT_RECONNECT = RetryPolicy(max_attempts=1_000_000, base_delay=0.05, max_delay=2.0, jitter="full")


class _PublishOptions(TypedDict, total=False):
    """The keyword options of ``publish`` and ``publish_batch`` (all optional).

    Attributes:
        headers: string headers carried with the message.
        key: the ordering/partition key.
        idempotency_key: a repeat publish with the same key within ``dedup_window`` is dropped
            and returns the first message's id.
        correlation_id: ties a reply to its request.
        reply_to: where a reply should go.
        ttl: seconds after publishing past which the message is not delivered.
    """

    headers: Mapping[str, str] | None
    key: str | None
    idempotency_key: str | None
    correlation_id: str | None
    reply_to: str | None
    ttl: float | None


@runtime_checkable
class Broker(Protocol):
    """A message broker: publish confirmed messages, consume them in groups with at-least-once delivery."""

    async def publish(self, topic: str, payload: bytes, **options: Unpack[_PublishOptions]) -> str:
        """Send one message; return its id once the broker confirmed it."""
        ...

    async def publish_batch(
        self, topic: str, payloads: Sequence[bytes], **options: Unpack[_PublishOptions]
    ) -> list[str]:
        """Send several messages with the same options; return their ids once all are confirmed."""
        ...

    def subscribe(
        self, topic: str, group: str, *, consumer: str | None = None, prefetch: int = 16
    ) -> Subscription:
        """Consume ``topic`` as a member of ``group`` (an async context manager and iterator)."""
        ...

    async def close(self) -> None:
        """Close subscriptions and connections."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerOptions:
    """Options every backend understands (see ``open_broker``)."""

    max_deliveries: int = 5
    ack_wait: float = 30.0
    max_message_bytes: int = 1_048_576
    reconnect: RetryPolicy = DEFAULT_RECONNECT
    publish_retry: RetryPolicy | None = None
    dedup_window: float = 120.0
    poll_interval: float = 1.0

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"broker option {name} {why}", key=name, code=_codes.INVALID_OPTION)

        if not isinstance(self.max_deliveries, int) or self.max_deliveries < 1:
            raise bad("max_deliveries", f"must be an int >= 1, got {self.max_deliveries!r}")
        if not self.ack_wait > 0:
            raise bad("ack_wait", f"must be > 0 seconds, got {self.ack_wait!r}")
        if not isinstance(self.max_message_bytes, int) or self.max_message_bytes < 1:
            raise bad("max_message_bytes", f"must be an int >= 1, got {self.max_message_bytes!r}")
        if not self.dedup_window > 0:
            raise bad("dedup_window", "must be > 0 seconds")
        if not self.poll_interval > 0:
            raise bad("poll_interval", "must be > 0 seconds")


def default_consumer_name() -> str:
    """``<host>-<pid>-<random>``: unique per subscription."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(slots=True)
class _Converting:
    """The context manager of ``BrokerBase._converting`` (a class: it runs on every ack)."""

    convert: Callable[[BaseException, str, str | None], MessageQueueError]
    operation: str
    topic: str | None
    ignore: Callable[[Exception], bool] | None
    undo: Callable[[], object] | None

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if not isinstance(exc, Exception) or isinstance(exc, MessageQueueError):
            return None  # no failure, a MessageQueueError already, or a cancellation: unchanged
        if self.ignore is not None and self.ignore(exc):
            return True
        if self.undo is not None:
            self.undo()
        raise self.convert(exc, self.operation, self.topic) from None


class BrokerBase(abc.ABC):
    """Shared publish path and bookkeeping; backends implement ``_send`` and ``_subscription``."""

    system = "memory"
    #: Whether the server times ack_wait (then local deadlines use real time, not ``clock``).
    server_timed = True

    def __init__(self, options: BrokerOptions | None = None, *, clock: Clock | None = None) -> None:
        self.options = options or BrokerOptions()
        self.clock: Clock = clock or SYSTEM_CLOCK
        self._closed = False
        self._subscriptions: set[Subscription] = set()
        self._topics_seen: set[str] = set()

    # -- backend hooks -------------------------------------------------------------------------
    @abc.abstractmethod
    async def _send(self, topic: str, messages: list[Message], dedup: list[str | None]) -> list[str]:
        """Backend hook (every backend implements it)."""

    @abc.abstractmethod
    def _subscription(self, topic: str, group: str, consumer: str, prefetch: int) -> Subscription:
        """Backend hook (every backend implements it)."""

    async def _close(self) -> None:  # pragma: no cover - backends override
        return None

    @staticmethod
    def _driver_error(  # pragma: no cover - server backends set their client's converter
        exc: BaseException, operation: str, topic: str | None = None
    ) -> MessageQueueError:
        """Backend hook: a client library's exception as a ``MessageQueueError``."""
        return backend_error("memory", exc, operation, topic, transient=False)

    @classmethod
    def _converting(
        cls,
        operation: str,
        topic: str | None = None,
        *,
        ignore: Callable[[Exception], bool] | None = None,
        undo: Callable[[], object] | None = None,
    ) -> _Converting:
        """``with`` block raising a client library's failure as ``MessageQueueError`` (``_driver_error``).

        A ``MessageQueueError`` passes unchanged; a failure that ``ignore`` accepts ends the block
        quietly (so the block must not be one that returns a value); ``undo`` runs before the
        converted error is raised.
        """
        return _Converting(cls._driver_error, operation, topic, ignore, undo)

    # -- public API ----------------------------------------------------------------------------
    closed: readonly[bool] = readonly("_closed", "Whether ``close()`` was called.")

    @property
    def timer(self) -> Clock:
        """The clock of ack deadlines: ``clock`` for in-process brokers, real time for servers."""
        return SYSTEM_CLOCK if self.server_timed else self.clock

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise MessageQueueError("the broker is closed", code=_codes.CLOSED, operation=operation)

    async def publish(self, topic: str, payload: bytes, **options: Unpack[_PublishOptions]) -> str:
        """Send one message and return its id once the broker confirmed it.

        Raises:
            MessageQueueError: ``mq.message_too_large`` (nothing sent), ``mq.invalid_topic``,
                ``mq.unavailable`` (retryable) while the broker is unreachable, ``mq.closed``.
        """
        ids = await self._publish(topic, [payload], options, batch=False)
        return ids[0]

    async def publish_batch(
        self, topic: str, payloads: Sequence[bytes], **options: Unpack[_PublishOptions]
    ) -> list[str]:
        """Send ``payloads`` with the same options; return their ids once all are confirmed.

        Every message is checked before any is sent. With ``idempotency_key`` the i-th message
        gets the key ``f"{idempotency_key}#{i}"``.
        """
        return await self._publish(topic, list(payloads), options, batch=True)

    async def _publish(
        self, topic: str, payloads: list[bytes], options: _PublishOptions, *, batch: bool
    ) -> list[str]:
        ttl = options.get("ttl")
        idempotency_key = options.get("idempotency_key")
        self._check_open("publish")
        if topic not in self._topics_seen:
            check_name(topic)
            if len(self._topics_seen) < 10_000:
                self._topics_seen.add(topic)
        if ttl is not None and not ttl > 0:
            raise MessageQueueError("ttl must be > 0 seconds", code=_codes.INVALID_OPTION, queue=topic)
        if not payloads:
            return []
        base = check_headers(options.get("headers"))
        attrs: dict[str, object] = {
            "messaging.system": self.system,
            "messaging.operation.type": "publish",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": len(payloads),
        }
        scope = (
            span("mq.publish", kind=SpanKind.PRODUCER, attributes=attrs)
            if _Tracing.active()
            else contextlib.nullcontext()
        )
        with scope:
            inject(base)
            limit = self.options.max_message_bytes
            for payload in payloads:
                check_size(topic, payload, base, limit)
            now = self.clock.time()
            messages = [
                Message(
                    id=ulid(),
                    topic=topic,
                    payload=bytes(p),
                    headers=base,
                    key=options.get("key"),
                    timestamp=now,
                    delivery_count=0,
                    correlation_id=options.get("correlation_id"),
                    reply_to=options.get("reply_to"),
                    ttl=ttl,
                )
                for p in payloads
            ]
            if idempotency_key is None:
                dedup: list[str | None] = [None] * len(messages)
            elif batch:
                dedup = [f"{idempotency_key}#{i}" for i in range(len(messages))]
            else:
                dedup = [idempotency_key]
            send = self._send
            if self.options.publish_retry is not None:
                send = retry(self.options.publish_retry)(send)
            ids = await send(topic, messages, dedup)
        _published.add(len(ids), {"messaging.destination.name": topic})
        return ids

    def subscribe(
        self, topic: str, group: str, *, consumer: str | None = None, prefetch: int = 16
    ) -> Subscription:
        """Consume ``topic`` as a member of ``group``: each message goes to one member of each group.

        Use it as ``async with broker.subscribe(t, g) as sub: async for delivery in sub: ...``.
        At most ``prefetch`` deliveries are held unsettled at a time.
        """
        self._check_open("subscribe")
        check_name(topic)
        check_name(group, "group")
        if not isinstance(prefetch, int) or prefetch < 1:
            raise MessageQueueError("prefetch must be an int >= 1", code=_codes.INVALID_OPTION, queue=topic)
        name = consumer or default_consumer_name()
        check_name(name, "consumer")
        sub = self._subscription(topic, group, name, prefetch)
        self._subscriptions.add(sub)
        return sub

    async def dead_letter(self, topic: str, message: Message, group: str, reason: str) -> None:
        """Publish the dead letter of ``message`` to ``<topic>.dlq`` (confirmed)."""
        letter = replace(
            message,
            id=ulid(),
            topic=topic + DLQ_SUFFIX,
            headers=dead_letter_headers(message, group, reason, message.delivery_count),
            delivery_count=0,
            ttl=None,
        )
        await self._send(letter.topic, [letter], [None])
        _dead.add(1, {"messaging.destination.name": topic})

    async def close(self) -> None:
        """Close every subscription, then the connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for sub in list(self._subscriptions):
            await sub.aclose()
        with self._converting("close"):
            await self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


@dataclass(eq=False)
class Subscription(AsyncClosing, AsyncIterator[Delivery]):
    """Deliveries of one topic to one group member: an async context manager and async iterator.

    Backends implement ``_start``, ``_fetch``, ``_ack``, ``_requeue``, ``_touch``, ``_release``
    and ``_stop``, and set up state of their own in ``_setup``. The loop here enforces the
    prefetch bound, drops expired messages, dead-letters messages delivered more than
    ``max_deliveries`` times, and backs off on connection errors.

    Attributes:
        broker: the broker that made the subscription.
        topic: the topic consumed.
        group: the consumer group this subscription is a member of.
        consumer: this member's name.
        prefetch: the most deliveries held unsettled at a time.
    """

    broker: BrokerBase
    topic: str
    group: str
    consumer: str
    prefetch: int

    def __post_init__(self) -> None:
        self._buffer: deque[Delivery] = deque()
        self._unsettled: dict[Delivery, float] = {}
        self._settled_event = anyio.Event()
        self._waiting = False
        self._started = False
        self._closed = False
        self._attrs = {"messaging.destination.name": self.topic, "messaging.consumer.group.name": self.group}
        self._setup()

    # -- backend hooks -------------------------------------------------------------------------
    def _setup(self) -> None:
        """Backend hook: set up the backend's own state (the subscription's fields are set)."""

    async def _start(self) -> None:  # pragma: no cover - backends override
        return None

    @abc.abstractmethod
    async def _fetch(self, count: int) -> list[Delivery]:
        """Backend hook (every backend implements it)."""

    @abc.abstractmethod
    async def _ack(self, delivery: Delivery) -> None:
        """Backend hook (every backend implements it)."""

    @abc.abstractmethod
    async def _requeue(self, delivery: Delivery, delay: float | None) -> None:
        """Backend hook (every backend implements it)."""

    @abc.abstractmethod
    async def _touch(self, delivery: Delivery) -> None:
        """Backend hook (every backend implements it)."""

    async def _release(self, deliveries: list[Delivery]) -> None:  # pragma: no cover - optional
        return None

    async def _stop(self) -> None:  # pragma: no cover - optional
        return None

    async def _dead_letter_and_ack(self, delivery: Delivery, reason: str) -> None:
        await self.broker.dead_letter(self.topic, delivery.message, self.group, reason)
        await self._ack(delivery)

    # -- settlement (the Delivery's settler) ---------------------------------------------------
    def make_delivery(self, message: Message, handle: Any) -> Delivery:
        """Wrap a received message (for backends)."""
        return Delivery(message, self, handle, self._on_settled)

    def _on_settled(self, delivery: Delivery) -> None:
        if self._unsettled.pop(delivery, None) is not None and self._waiting:
            self._settled_event.set()

    async def ack(self, delivery: Delivery) -> None:
        """Settler hook: acknowledge."""
        await self._ack(delivery)
        _acked.add(1, self._attrs)

    async def nack(self, delivery: Delivery, requeue: bool, delay: float | None, reason: str) -> None:
        """Settler hook: redeliver, or dead-letter when rejected or out of deliveries."""
        if not requeue or delivery.message.delivery_count >= self.broker.options.max_deliveries:
            await self._dead_letter_and_ack(delivery, reason)
        else:
            await self._requeue(delivery, delay)
            _nacked.add(1, self._attrs)

    async def in_progress(self, delivery: Delivery) -> None:
        """Settler hook: extend the ack deadline."""
        if delivery in self._unsettled:
            self._unsettled[delivery] = self.broker.timer.monotonic() + self.broker.options.ack_wait
        await self._touch(delivery)

    # -- iteration -----------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self._ensure_started()
        return self

    async def _ensure_started(self) -> None:
        if self._closed:
            raise MessageQueueError("the subscription is closed", code=_codes.CLOSED, queue=self.topic)
        if not self._started:
            await self._retrying(self._start)
            self._started = True

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        await self._ensure_started()
        while not self._closed:
            if self._buffer:
                delivery = self._buffer.popleft()
                if await self._admit(delivery):
                    return delivery
                continue
            await self._wait_capacity()
            if self._closed:
                break
            room = self.prefetch - len(self._unsettled)
            if room <= 0:
                continue
            fetched = await self._retrying(functools.partial(self._fetch, room))
            if self._closed:
                await self._release(fetched)
                break
            self._buffer.extend(fetched)
        raise StopAsyncIteration

    async def _admit(self, delivery: Delivery) -> bool:
        """Decide whether to hand out ``delivery``: drop expired, dead-letter over-delivered."""
        message = delivery.message
        options = self.broker.options
        now = self.broker.clock.time()
        if message.expired(now):
            delivery._settle()
            await self._ack(delivery)
            _expired.add(1, self._attrs)
            return False
        if message.delivery_count > options.max_deliveries:
            delivery._settle()
            await self._dead_letter_and_ack(
                delivery, f"not acknowledged within ack_wait ({options.ack_wait:g} s) on the last delivery"
            )
            return False
        self._unsettled[delivery] = self.broker.timer.monotonic() + options.ack_wait
        _delivered.add(1, self._attrs)
        if message.delivery_count > 1:
            _redelivered.add(1, self._attrs)
        _lag.record(max(0.0, now - message.timestamp), self._attrs)
        return True

    async def _wait_capacity(self) -> None:
        """Block while ``prefetch`` deliveries are unsettled (forgetting those past ack_wait)."""
        while len(self._unsettled) >= self.prefetch and not self._closed:
            now = self.broker.timer.monotonic()
            for delivery, deadline in list(self._unsettled.items()):
                if deadline <= now:
                    del self._unsettled[delivery]  # the broker redelivers it; stop counting it here
            if len(self._unsettled) < self.prefetch:
                return
            self._settled_event = anyio.Event()
            self._waiting = True
            try:
                with anyio.move_on_after(min(self.broker.options.poll_interval, 0.25)):
                    await self._settled_event.wait()
            finally:
                self._waiting = False

    async def _retrying(self, op: Callable[[], Any]) -> Any:
        """Run ``op``; on retryable errors back off with the broker's reconnect policy and retry.

        The schedule is the resilience state machine's (``RetryState``), as for every retry.
        """
        state = RetryState(self.broker.options.reconnect, clock=self.broker.clock)
        while True:
            try:
                return await op()
            except InfraError as exc:
                if self._closed:
                    raise
                delay = state.on_error(exc)
                if delay is None:
                    raise
                _logger.warning(
                    "mq %s %s/%s: %s; retrying in %.2f s",
                    self.broker.system,
                    self.topic,
                    self.group,
                    exc.code,
                    delay,
                )
                await anyio.sleep(delay)

    async def aclose(self) -> None:
        """Stop fetching and give back prefetched deliveries that were not handed out. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._settled_event.set()
        buffered = list(self._buffer)
        self._buffer.clear()
        try:
            with anyio.CancelScope(shield=True):
                if buffered and self._started:
                    await self._release(buffered)
                await self._stop()
        except InfraError as exc:
            _logger.warning(
                "mq %s: closing %s/%s failed: %s", self.broker.system, self.topic, self.group, exc
            )
        finally:
            self.broker._subscriptions.discard(self)

    closed: ClassVar[readonly[bool]] = readonly("_closed", "Whether ``aclose()`` was called.")


def subscription_span(delivery: Delivery, system: str, group: str) -> span | contextlib.nullcontext[None]:
    """The ``mq.process`` span of ``delivery``, parented on the producer's trace context."""
    from llm_infra.otel import extract

    if not _Tracing.active():
        return contextlib.nullcontext()
    message = delivery.message
    return span(
        "mq.process",
        kind=SpanKind.CONSUMER,
        context=extract(message.headers),
        attributes={
            "messaging.system": system,
            "messaging.operation.type": "process",
            "messaging.destination.name": message.topic,
            "messaging.consumer.group.name": group,
            "messaging.message.id": message.id,
            "messaging.message.delivery_count": message.delivery_count,
        },
    )
