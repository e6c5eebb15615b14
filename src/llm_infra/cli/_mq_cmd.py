"""``llm-infra mq publish|consume`` through ``llm_infra.mq.SyncBroker``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from llm_infra.cli import _codes
from llm_infra.cli._output import die, err, print_json
from llm_infra.cli._state import State, state

app = typer.Typer(help="Publish to and consume from the message queue (mq.url).", no_args_is_help=True)

UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="Broker URL (default: mq.url): redis://, amqp://, nats://, memory://."),
]


def _broker_class() -> Any:
    try:
        mq = importlib.import_module("llm_infra.mq")
    except ImportError as exc:
        raise die(
            _codes.NOT_AVAILABLE, "the message queue (llm_infra.mq) is not part of this installation"
        ) from exc
    broker = getattr(mq, "SyncBroker", None)
    if broker is None:
        raise die(_codes.NOT_AVAILABLE, "this installation's llm_infra.mq has no SyncBroker")
    return broker


def _url(st: State, url: str | None) -> str:
    found = url or st.setting("mq.url")
    if not found:
        raise die(_codes.INVALID_INPUT, "no broker URL: pass --url or set mq.url (LLM_MQ_URL)")
    return found


def _headers(items: list[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    headers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise die(_codes.INVALID_INPUT, f"a header is NAME=VALUE, got {item!r}")
        headers[name] = value
    return headers


@app.command("publish")
def publish(
    ctx: typer.Context,
    *,
    topic: Annotated[str, typer.Argument(help="Topic (queue/stream/subject) name.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="Payload text.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Payload file ('-' for stdin).")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="NAME=VALUE; repeatable.")
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="Partition/ordering key.")] = None,
    url: UrlOpt = None,
) -> None:
    """Publish one message and print its id.

    Example: llm-infra mq publish jobs --data '{"op": "rebuild"}' --url redis://127.0.0.1:6379/0
    """
    if (data is None) == (file is None):
        raise die(_codes.INVALID_INPUT, "give exactly one of --data and --file")
    if data is not None:
        payload = data.encode("utf-8")
    elif str(file) == "-":
        payload = sys.stdin.buffer.read()
    else:
        assert file is not None
        payload = file.read_bytes()
    broker_cls = _broker_class()
    with broker_cls.open(_url(state(ctx), url)) as broker:
        message_id = broker.publish(topic, payload, headers=_headers(header), key=key)
    sys.stdout.write(f"{message_id}\n")


@app.command("consume")
def consume(
    ctx: typer.Context,
    *,
    topic: Annotated[str, typer.Argument(help="Topic name.")],
    group: Annotated[str, typer.Option("--group", "-g", help="Consumer group.")] = "llm-infra-cli",
    count: Annotated[int, typer.Option("-n", "--count", min=1, max=10_000, help="Messages wanted.")] = 1,
    timeout: Annotated[float, typer.Option(min=0, max=3600, help="Seconds to wait for messages.")] = 5.0,
    no_ack: Annotated[
        bool, typer.Option("--no-ack", help="Leave the messages unacknowledged (they are redelivered).")
    ] = False,
    url: UrlOpt = None,
) -> None:
    """Receive up to N messages and print them as JSON (payload as text when it is UTF-8).

    Example: llm-infra mq consume jobs --group workers -n 10 --timeout 2
    """
    broker_cls = _broker_class()
    with broker_cls.open(_url(state(ctx), url)) as broker:
        messages = broker.consume(topic, group, max_messages=count, timeout=timeout, ack=not no_ack)
    rows = []
    for msg in messages:
        payload: bytes = msg.payload
        try:
            text: str | None = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        rows.append(
            {
                "id": msg.id,
                "topic": msg.topic,
                "headers": dict(msg.headers or {}),
                "delivery_count": msg.delivery_count,
                "payload": text if text is not None else payload.hex(),
                "encoding": "utf-8" if text is not None else "hex",
            }
        )
    print_json(rows)
    err().print(f"{len(rows)} message(s) from {topic}", style="dim")


__all__ = ["app"]
