"""The fallback (spill) file of ``SecurityAuditLog``: authenticated JSONL, quarantine for the rest.

Each line is the canonical JSON of ``{"sink", "reason", "event", "mac"}`` where ``mac`` is
``HMAC-SHA256(key, canonical({"event", "reason", "sink"}))``. On replay, a line whose MAC does not
verify (edited, invented, torn, or written with another key) is moved to ``<file>.quarantine``
and reported, never delivered. The fallback file and the quarantine file are created with mode
0600 (``O_NOFOLLOW``: a symlink planted at their path is refused), and the fallback file is
rewritten through ``llm_infra.fs.atomic_write`` (a random ``O_EXCL`` temporary, mode kept).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

from llm_infra.audit._events import SecurityEvent, event_from_dict
from llm_infra.errors import InfraError
from llm_infra.fs import atomic_write
from llm_infra.secrets import Secret

PROCESS_KEY: Secret[bytes] = Secret(secrets.token_bytes(32))
"""Key of fallback files when neither ``fallback_key`` nor a chain sink gives one (this process only)."""

_LINE_KEYS = frozenset({"sink", "reason", "event", "mac"})
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _canonical(obj: object) -> bytes:
    from llm_infra.json import dumps_canonical

    return dumps_canonical(obj)


def _line_mac(key: Secret[bytes], sink: str, reason: str, event: object) -> str:
    body = _canonical({"event": event, "reason": reason, "sink": sink})
    return hmac.new(key.reveal(), body, hashlib.sha256).hexdigest()


@final
@dataclass(frozen=True, slots=True)
class SpilledLine:
    """One authenticated line of the fallback file."""

    index: int
    sink: str
    event: SecurityEvent


def encode_lines(key: Secret[bytes], events: Sequence[SecurityEvent], sink: str, reason: str) -> bytes:
    """The authenticated JSONL lines for ``events`` spilled for ``sink``."""
    out = []
    for event in events:
        body = event.to_dict()
        mac = _line_mac(key, sink, reason, body)
        out.append(_canonical({"sink": sink, "reason": reason, "event": body, "mac": mac}) + b"\n")
    return b"".join(out)


def append(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Append ``data`` to ``path`` (created 0600, never through a symlink), then fsync.

    Raises:
        OSError: the file cannot be created or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, _FLAGS, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def parse(key: Secret[bytes], lines: Sequence[bytes]) -> tuple[list[SpilledLine], list[int]]:
    """The authenticated lines, and the indexes of the lines to quarantine."""
    from llm_infra.json import loads

    good: list[SpilledLine] = []
    bad: list[int] = []
    for index, raw in enumerate(lines):
        line = raw.rstrip(b"\n")
        try:
            obj: Any = loads(line)
        except InfraError:
            bad.append(index)
            continue
        if not isinstance(obj, dict) or set(obj) != _LINE_KEYS:
            bad.append(index)
            continue
        sink, reason, body, mac = obj["sink"], obj["reason"], obj["event"], obj["mac"]
        if not (isinstance(sink, str) and isinstance(reason, str) and isinstance(mac, str)):
            bad.append(index)
            continue
        if not hmac.compare_digest(_line_mac(key, sink, reason, body), mac):
            bad.append(index)
            continue
        try:
            event = event_from_dict(body)
        except (InfraError, KeyError, TypeError, ValueError):
            bad.append(index)
            continue
        good.append(SpilledLine(index, sink, event))
    return good, bad


def quarantine_path(path: Path) -> Path:
    """Where rejected lines of ``path`` go."""
    return path.with_name(path.name + ".quarantine")


def rewrite(path: Path, lines: Sequence[bytes], keep: Iterable[int]) -> None:
    """Replace ``path`` by the kept lines (mode 0600), or remove it when none is kept."""
    remaining = b"".join(lines[i] for i in sorted(keep))
    if remaining:
        atomic_write(path, remaining, mode=0o600)
    else:
        path.unlink(missing_ok=True)
