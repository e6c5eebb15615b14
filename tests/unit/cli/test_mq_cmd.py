"""``llm-infra mq publish|consume`` against the ``SyncBroker`` contract."""

from __future__ import annotations

import json
import sys
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llm_infra.cli import _codes

from .conftest import Run


@dataclass
class _Msg:
    id: str
    topic: str
    payload: bytes
    headers: dict[str, str] | None
    delivery_count: int = 1


@dataclass
class _FakeBroker:
    url: str
    queues: dict[str, list[_Msg]] = field(default_factory=dict)
    acked: list[bool] = field(default_factory=list)

    def publish(
        self, topic: str, payload: bytes, headers: dict[str, str] | None = None, key: str | None = None
    ) -> str:
        msg = _Msg(f"m{sum(len(q) for q in self.queues.values()) + 1}", topic, payload, headers)
        self.queues.setdefault(topic, []).append(msg)
        return msg.id

    def consume(
        self, topic: str, group: str, *, max_messages: int = 1, timeout: float = 5.0, ack: bool = True
    ) -> list[_Msg]:
        self.acked.append(ack)
        got = self.queues.get(topic, [])[:max_messages]
        del self.queues.get(topic, [])[: len(got)]
        return got


@pytest.fixture
def fake_mq(monkeypatch: pytest.MonkeyPatch) -> _FakeBroker:
    """A ``llm_infra.mq`` whose ``SyncBroker.open`` hands out one shared in-memory broker."""
    broker = _FakeBroker("")

    class SyncBroker:
        @classmethod
        @contextmanager
        def open(cls, url: str, **kw: object) -> Iterator[_FakeBroker]:
            broker.url = url
            yield broker

    module = types.ModuleType("llm_infra.mq")
    module.SyncBroker = SyncBroker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llm_infra.mq", module)
    return broker


def test_publish_then_consume(run: Run, fake_mq: _FakeBroker, workdir: Path) -> None:
    """Publish prints the id; consume prints the messages as JSON (text, or hex for binary)."""
    first = run(
        "mq", "publish", "jobs", "--data", '{"op": "x"}', "-H", "a=1", "--key", "k", "--url", "memory://"
    )
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == "m1"
    assert fake_mq.url == "memory://"
    (workdir / "blob.bin").write_bytes(b"\xff\x00")
    assert (
        run("mq", "publish", "jobs", "--file", "blob.bin", env={"LLM_MQ__URL": "memory://cfg"}).exit_code == 0
    )
    assert fake_mq.url == "memory://cfg"
    assert (
        run("mq", "publish", "jobs", "--file", "-", "--url", "memory://", input="stdin body").exit_code == 0
    )
    got = run("mq", "consume", "jobs", "-n", "5", "--no-ack", "--url", "memory://")
    assert got.exit_code == 0, got.stderr
    messages = json.loads(got.stdout)
    assert [m["payload"] for m in messages] == ['{"op": "x"}', "ff00", "stdin body"]
    assert [m["encoding"] for m in messages] == ["utf-8", "hex", "utf-8"]
    assert messages[0]["headers"] == {"a": "1"}
    assert fake_mq.acked == [False]


def test_publish_input_errors(run: Run, fake_mq: _FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly one payload source, NAME=VALUE headers and a broker URL are required."""
    # Without the service's keys there is no mq.url default (the service's is memory://).
    monkeypatch.setattr("llm_infra.cli._state._service_keys", tuple)
    for args in (
        ["mq", "publish", "t", "--url", "memory://"],
        ["mq", "publish", "t", "--data", "x", "--file", "f", "--url", "memory://"],
        ["mq", "publish", "t", "--data", "x", "-H", "novalue", "--url", "memory://"],
        ["mq", "publish", "t", "--data", "x"],
    ):
        result = run(*args)
        assert result.exit_code == 1, args
        assert f"error[{_codes.INVALID_INPUT}]" in result.stderr, args


def test_without_the_mq_module(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``llm_infra.mq`` (or its ``SyncBroker``) the command reports ``cli.not_available``."""
    monkeypatch.setitem(sys.modules, "llm_infra.mq", None)
    result = run("mq", "publish", "t", "--data", "x", "--url", "memory://")
    assert result.exit_code == 1
    assert f"error[{_codes.NOT_AVAILABLE}]" in result.stderr
    monkeypatch.setitem(sys.modules, "llm_infra.mq", types.ModuleType("llm_infra.mq"))
    bare = run("mq", "consume", "t", "--url", "memory://")
    assert f"error[{_codes.NOT_AVAILABLE}]" in bare.stderr


def test_real_broker_round_trip(run: Run, redis_url: str) -> None:
    """With the real ``SyncBroker`` on the loopback Redis: publish, then consume the same payload."""
    mq = pytest.importorskip("llm_infra.mq")
    if not hasattr(mq, "SyncBroker"):
        pytest.skip("llm_infra.mq.SyncBroker is not in this tree yet (message queue branch)")
    topic = f"cli-test-{uuid.uuid4().hex[:8]}"
    sent = run("mq", "publish", topic, "--data", "hello", "--url", redis_url)
    assert sent.exit_code == 0, sent.stderr
    got = run("mq", "consume", topic, "--group", "g", "--timeout", "5", "--url", redis_url)
    assert got.exit_code == 0, got.stderr
    assert [m["payload"] for m in json.loads(got.stdout)] == ["hello"]
