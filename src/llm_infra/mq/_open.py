"""``open_broker(url)``: pick the backend by URL scheme; awaitable and an async context manager."""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any, final
from urllib.parse import urlsplit

from llm_infra.errors import ConfigError, MessageQueueError
from llm_infra.mq import _codes
from llm_infra.mq._base import DEFAULT_RECONNECT, BrokerBase, BrokerOptions
from llm_infra.resilience import RetryPolicy

_SCHEMES = ("memory", "redis", "rediss", "nats", "tls", "amqp", "amqps")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


async def _connect(url: str, options: BrokerOptions, extra: dict[str, Any]) -> BrokerBase:
    scheme = urlsplit(url).scheme.lower() if isinstance(url, str) else ""
    if scheme not in _SCHEMES:
        raise MessageQueueError(
            f"unknown broker URL {_redact(url) if isinstance(url, str) else url!r}: "
            "use memory://, redis://, nats:// or amqp://",
            code=_codes.INVALID_URL,
        )
    try:
        if scheme == "memory":
            from llm_infra.mq._memory import MemoryBroker

            return MemoryBroker(options, **extra)
        if scheme in ("redis", "rediss"):
            from llm_infra.mq._redis import RedisStreamsBroker

            return await RedisStreamsBroker.connect(url, options, **extra)
        if scheme in ("nats", "tls"):
            from llm_infra.mq._nats import NatsBroker

            return await NatsBroker.connect(url, options, **extra)
        from llm_infra.mq._rabbit import RabbitMqBroker

        return await RabbitMqBroker.connect(url, options, **extra)
    except TypeError as exc:  # an option this backend does not know
        raise ConfigError(
            f"invalid option for a {scheme}:// broker: {exc}", code=_codes.INVALID_OPTION
        ) from None


@final
class _Opening:
    """``await open_broker(...)`` gives the broker; ``async with open_broker(...) as b`` closes it too."""

    __slots__ = ("_broker", "_extra", "_options", "_url")

    def __init__(self, url: str, options: BrokerOptions, extra: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._extra = extra
        self._broker: BrokerBase | None = None

    def __await__(self) -> Generator[Any, None, BrokerBase]:
        return _connect(self._url, self._options, self._extra).__await__()

    async def __aenter__(self) -> BrokerBase:
        self._broker = await _connect(self._url, self._options, self._extra)
        return self._broker

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._broker is not None:
            await self._broker.close()


def open_broker(
    url: str,
    *,
    max_deliveries: int = 5,
    ack_wait: float = 30.0,
    max_message_bytes: int = 1_048_576,
    reconnect: RetryPolicy | None = None,
    publish_retry: RetryPolicy | None = None,
    dedup_window: float = 120.0,
    poll_interval: float = 1.0,
    **options: Any,
) -> _Opening:
    """Open the broker of ``url``: ``memory://``, ``redis://``, ``nats://`` or ``amqp://``.

    ``await open_broker(url)`` returns the broker; ``async with open_broker(url) as broker:``
    closes it at the end. Backend-specific options (``clock`` and ``max_pending`` for memory,
    ``maxlen`` for Redis, ``stream_max_msgs`` for NATS, ``quorum`` for RabbitMQ) pass through.

    Args:
        url: selects the backend; credentials in it never appear in errors or logs.
        max_deliveries: deliveries before a failing message goes to ``<topic>.dlq``.
        ack_wait: seconds a delivery may stay unsettled before it is redelivered.
        max_message_bytes: payload plus headers limit (``mq.message_too_large`` beyond it).
        reconnect: backoff of subscriptions while the broker is unreachable (retry forever).
        publish_retry: retry publishes during an outage with this policy; None raises a
            retryable ``mq.unavailable`` at once.
        dedup_window: seconds an ``idempotency_key`` suppresses a repeated publish.
        poll_interval: longest a fetch blocks before re-checking for close/expiry.

    Raises:
        MessageQueueError: ``mq.invalid_url``; ``mq.unavailable`` when the broker is unreachable.
        ConfigError: invalid options, or the backend's client library is missing (pip line).

    Example::

        async with open_broker("memory://", max_deliveries=3) as broker:
            await broker.publish("jobs", b"hello")
    """
    opts = BrokerOptions(
        max_deliveries=max_deliveries,
        ack_wait=ack_wait,
        max_message_bytes=max_message_bytes,
        reconnect=reconnect or DEFAULT_RECONNECT,
        publish_retry=publish_retry,
        dedup_window=dedup_window,
        poll_interval=poll_interval,
    )
    return _Opening(url, opts, dict(options))
