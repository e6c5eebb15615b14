"""Stable error codes of ``llm_infra.mq`` (``mq.<reason>``)."""

from __future__ import annotations

from typing import Final

MESSAGE_TOO_LARGE: Final = "mq.message_too_large"
INVALID_TOPIC: Final = "mq.invalid_topic"
INVALID_OPTION: Final = "mq.invalid_option"
INVALID_URL: Final = "mq.invalid_url"
UNAVAILABLE: Final = "mq.unavailable"
CLOSED: Final = "mq.closed"
QUEUE_FULL: Final = "mq.queue_full"
NO_ROUTE: Final = "mq.no_route"
PUBLISH_REJECTED: Final = "mq.publish_rejected"
BACKEND_ERROR: Final = "mq.backend_error"

DESCRIPTIONS: Final[dict[str, str]] = {
    MESSAGE_TOO_LARGE: "the payload and headers exceed max_message_bytes; nothing was sent",
    INVALID_TOPIC: "a topic or group name is empty, too long or uses characters outside [A-Za-z0-9_.-]",
    INVALID_OPTION: "a broker option is out of range or of the wrong type",
    INVALID_URL: "the broker URL has an unknown scheme or cannot be parsed",
    UNAVAILABLE: "the broker cannot be reached (retryable; the client reconnects)",
    CLOSED: "the broker or subscription was used after close()",
    QUEUE_FULL: "a group already holds max_pending unsettled messages (back-pressure, retryable)",
    NO_ROUTE: "RabbitMQ: no group queue exists for the topic yet, so the message would be dropped",
    PUBLISH_REJECTED: "the broker refused to confirm the message (negative publisher confirm)",
    BACKEND_ERROR: "the broker rejected a command (not a connection problem)",
}
