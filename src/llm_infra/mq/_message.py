"""``Message``, ``Delivery`` and the checks every backend shares (topic names, size limit, headers)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, final

from llm_infra import json as _json
from llm_infra._internal._attrs import readonly
from llm_infra.errors import MessageQueueError
from llm_infra.mq import _codes

# Headers the library sets on dead letters (readers of ``<topic>.dlq`` find the reason here).
DEAD_LETTER_REASON: Final = "x-mq-dead-letter-reason"
DEAD_LETTER_GROUP: Final = "x-mq-dead-letter-group"
ORIGINAL_TOPIC: Final = "x-mq-original-topic"
ORIGINAL_ID: Final = "x-mq-original-id"
DELIVERIES: Final = "x-mq-deliveries"
DLQ_SUFFIX: Final = ".dlq"

_NAME = re.compile(r"^[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*$")
MAX_NAME: Final = 200
MAX_REASON: Final = 300


@final
@dataclass(frozen=True, slots=True)
class Message:
    """One message as a consumer sees it.

    Attributes:
        id: the id ``publish`` returned (stable across redeliveries).
        topic: where it was published.
        payload: the bytes sent.
        headers: user headers plus W3C trace context (and ``x-mq-*`` on dead letters).
        key: the ordering/partition key given to ``publish``, if any.
        timestamp: publish time, seconds since the Unix epoch.
        delivery_count: 1 on the first delivery, 2 on the first redelivery, ...
        correlation_id: request/reply correlation, if any.
        reply_to: the topic to reply to, if any.
        ttl: seconds after ``timestamp`` past which the message is not delivered.
    """

    id: str
    topic: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    key: str | None = None
    timestamp: float = 0.0
    delivery_count: int = 1
    correlation_id: str | None = None
    reply_to: str | None = None
    ttl: float | None = None

    def json(self) -> Any:
        """The payload decoded with ``llm_infra.json`` (``SerializationError`` when malformed)."""
        return _json.loads(self.payload)

    def expired(self, now: float) -> bool:
        """Whether the TTL ran out at wall-clock ``now``."""
        return self.ttl is not None and now >= self.timestamp + self.ttl


def json_payload(value: Any) -> bytes:
    """Encode ``value`` as a JSON payload with ``llm_infra.json`` (``publish(t, json_payload(x))``)."""
    return _json.dumps(value)


class _Settler(Protocol):
    async def ack(self, delivery: Delivery) -> None: ...

    async def nack(self, delivery: Delivery, requeue: bool, delay: float | None, reason: str) -> None: ...

    async def in_progress(self, delivery: Delivery) -> None: ...


class Delivery:
    """One received message and the means to settle it.

    Settle each delivery exactly once with ``ack()`` or ``nack()``; later calls are no-ops.
    A delivery left unsettled for ``ack_wait`` seconds is redelivered (``in_progress()``
    extends the deadline). ``nack(requeue=True)`` redelivers it (after ``delay`` seconds); after
    ``max_deliveries`` deliveries, or with ``requeue=False``, it goes to ``<topic>.dlq`` with the
    reason in its headers.
    """

    __slots__ = ("_on_settled", "_settled", "_settler", "handle", "message")

    def __init__(
        self,
        message: Message,
        settler: _Settler,
        handle: Any = None,
        on_settled: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.message = message
        self.handle = handle
        self._settler = settler
        self._settled = False
        self._on_settled = on_settled

    settled: readonly[bool] = readonly("_settled", "Whether ``ack`` or ``nack`` was called.")

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        if self._on_settled is not None:
            self._on_settled(self)
        return True

    async def ack(self) -> None:
        """Mark the message processed; it is not delivered to this group again."""
        if self._settle():
            await self._settler.ack(self)

    async def nack(
        self, *, requeue: bool = True, delay: float | None = None, reason: str | None = None
    ) -> None:
        """Give the message back: redeliver it (after ``delay`` s), or dead-letter it.

        Args:
            requeue: redeliver (until ``max_deliveries`` is reached); False dead-letters at once.
            delay: seconds before the redelivery (None: as soon as possible).
            reason: why it failed; recorded in the dead letter's headers.
        """
        if delay is not None and delay < 0:
            raise MessageQueueError("nack delay must be >= 0", code=_codes.INVALID_OPTION, operation="nack")
        if self._settle():
            text = (reason or ("rejected" if not requeue else "nacked"))[:MAX_REASON]
            await self._settler.nack(self, requeue, delay, text)

    async def in_progress(self) -> None:
        """Tell the broker the message is still being worked on (restarts the ``ack_wait`` timer)."""
        if not self._settled:
            await self._settler.in_progress(self)

    def __repr__(self) -> str:
        m = self.message
        return f"Delivery(id={m.id!r}, topic={m.topic!r}, delivery_count={m.delivery_count})"


def check_name(name: str, what: str = "topic") -> str:
    """Return ``name`` when it is a valid topic/group name, else raise ``mq.invalid_topic``."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.match(name):
        raise MessageQueueError(
            f"invalid {what} name {name!r}: use 1-{MAX_NAME} characters of [A-Za-z0-9_-] in "
            "dot-separated non-empty parts",
            code=_codes.INVALID_TOPIC,
            queue=name if isinstance(name, str) else None,
        )
    return name


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Copy ``headers`` after checking every name and value is a string."""
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise MessageQueueError(
                f"message headers must map non-empty str to str, got {name!r}: {type(value).__name__}",
                code=_codes.INVALID_OPTION,
                operation="publish",
            )
        out[name] = value
    return out


def message_size(payload: bytes, headers: Mapping[str, str]) -> int:
    """The bytes counted against ``max_message_bytes``: payload plus header names and values."""
    return len(payload) + sum(len(k.encode()) + len(v.encode()) for k, v in headers.items())


def check_size(topic: str, payload: bytes, headers: Mapping[str, str], limit: int) -> None:
    """Raise ``mq.message_too_large`` naming the limit when the message is over it."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise MessageQueueError(
            f"payload must be bytes, got {type(payload).__name__} (use json_payload(value))",
            code=_codes.INVALID_OPTION,
            queue=topic,
            operation="publish",
        )
    size = message_size(bytes(payload), headers)
    if size > limit:
        raise MessageQueueError(
            f"message of {size} bytes exceeds the limit of {limit} bytes (max_message_bytes) on {topic!r}",
            code=_codes.MESSAGE_TOO_LARGE,
            queue=topic,
            operation="publish",
            context={"size": size, "limit": limit},
            remediation=["store large payloads elsewhere and send a reference", "raise max_message_bytes"],
        )


def backend_error(
    system: str, exc: BaseException, operation: str, topic: str | None, *, transient: bool
) -> MessageQueueError:
    """A broker client's failure as ``mq.unavailable`` (``transient``, retryable) or ``mq.backend_error``."""
    return MessageQueueError(
        f"{system} {operation} failed: {type(exc).__name__}",
        code=_codes.UNAVAILABLE if transient else _codes.BACKEND_ERROR,
        queue=topic,
        operation=operation,
        connection=transient,
    )


def dead_letter_headers(message: Message, group: str, reason: str, deliveries: int) -> dict[str, str]:
    """The headers of the dead letter of ``message``: its own plus the ``x-mq-*`` reason fields."""
    headers = dict(message.headers)
    headers[DEAD_LETTER_REASON] = reason[:MAX_REASON]
    headers[DEAD_LETTER_GROUP] = group
    headers[ORIGINAL_TOPIC] = message.topic
    headers[ORIGINAL_ID] = message.id
    headers[DELIVERIES] = str(deliveries)
    return headers
