"""``HashChainedFileSink``: an append-only JSONL file whose records form an HMAC chain.

Record ``i`` is the canonical JSON of ``{"seq": i, "prev": <mac of record i-1>, "event": {...},
"mac": <mac>}`` on one line, where ``mac = HMAC-SHA256(key, canonical({"event", "prev", "seq"}))``
and the first record's ``prev`` is ``HMAC-SHA256(key, GENESIS)``. A side file ``<path>.head``
holds the record count and the last MAC (itself MACed), replaced atomically after each batch,
so deleting records at the end (truncation) is detected as well as any edit, deletion,
insertion or reordering in the middle.

A new chain writes its head (0 records) before it creates the file, so a chain file without a
head is always an anomaly: deleting the head together with the last records must not make the
shortened chain look whole. The sink refuses to open such a file (``audit.head_missing``) and
``verify_chain`` reports ``head_missing``, even for an empty file. After checking the records,
an operator accepts the chain as it is with ``python -m llm_infra.audit reseal PATH`` (key in
``LLM_AUDIT_KEY``) or ``reseal_chain(path, key)``, which writes a new head.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

from llm_infra._internal._attrs import Closing, readonly
from llm_infra.audit import _codes as codes
from llm_infra.audit._events import SecurityEvent
from llm_infra.errors import ConfigError, InfraError, IoError
from llm_infra.fs import atomic_write
from llm_infra.fs._atomic import io_error
from llm_infra.secrets import Secret

try:  # POSIX only: an exclusive lock stops two writers from forking the chain.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_log = logging.getLogger("llm_infra.audit")

GENESIS = b"llm-infra audit chain v1"
_MIN_KEY = 32
_TAIL_CHUNK = 64 * 1024
_RECORD_KEYS = frozenset({"seq", "prev", "event", "mac"})


def key_bytes(key: bytes | str | Secret[bytes] | Secret[str]) -> Secret[bytes]:
    raw = key.reveal() if isinstance(key, Secret) else key
    if isinstance(raw, str):
        raw = raw.encode()
    if not isinstance(raw, bytes | bytearray) or len(raw) < _MIN_KEY:
        raise ConfigError(
            f"the audit chain key must be at least {_MIN_KEY} bytes",
            key="key",
            code=codes.WEAK_KEY,
            remediation=["generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"],
        )
    return Secret(bytes(raw))


def _mac(key: Secret[bytes], data: bytes) -> str:
    return hmac.new(key.reveal(), data, hashlib.sha256).hexdigest()


def _canonical(obj: object) -> bytes:
    from llm_infra.json import dumps_canonical

    return dumps_canonical(obj)


def _genesis(key: Secret[bytes]) -> str:
    return _mac(key, GENESIS)


def _record_mac(key: Secret[bytes], seq: int, prev: str, event: object) -> str:
    return _mac(key, _canonical({"event": event, "prev": prev, "seq": seq}))


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


@final
@dataclass(frozen=True, slots=True)
class ChainHead:
    """The end of a chain: how many records it has and the MAC of the last one.

    Publish it somewhere else now and then (an anchor), and ``verify_chain(..., anchor=head)``
    proves that the file still contains that prefix.

    .. versionadded:: 0.1.0
    """

    count: int
    mac: str


@final
@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of ``verify_chain``.

    Attributes:
        ok: True when every record and the head verify.
        records: how many records verified before the first problem (all of them when ok).
        first_bad_index: 0-based index of the first bad record, or None (ok, or a head problem
            that points at no record).
        reason: None when ok; else ``malformed``, ``non_canonical``, ``mac_mismatch``,
            ``sequence``, ``chain_broken``, ``torn_record``, ``truncated``, ``head_missing``,
            ``head_invalid``, ``head_mismatch``, ``anchor_mismatch`` or ``missing_file``.
        head: the verified end of the chain (count and last MAC).

    .. versionadded:: 0.1.0
    """

    ok: bool
    records: int
    first_bad_index: int | None
    reason: str | None
    head: ChainHead

    def __bool__(self) -> bool:
        return self.ok


def _parse_record(line: bytes) -> dict[str, Any] | None:
    from llm_infra.json import loads

    try:
        obj = loads(line)
    except InfraError:
        return None
    if not isinstance(obj, dict) or set(obj) != _RECORD_KEYS:
        return None
    seq, prev, mac, event = obj["seq"], obj["prev"], obj["mac"], obj["event"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(event, dict):
        return None
    if not isinstance(prev, str) or not isinstance(mac, str):
        return None
    return obj


def _check_record(key: Secret[bytes], line: bytes, index: int, prev: str) -> tuple[str | None, str]:
    """Return (reason or None, mac) for the record on ``line`` (without its newline)."""
    record = _parse_record(line)
    if record is None:
        return "malformed", prev
    expected = _record_mac(key, record["seq"], record["prev"], record["event"])
    if not hmac.compare_digest(expected, record["mac"]):
        return "mac_mismatch", prev
    if _canonical(record) != line:
        return "non_canonical", prev
    if record["seq"] != index:
        return "sequence", prev
    if not hmac.compare_digest(record["prev"], prev):
        return "chain_broken", prev
    return None, record["mac"]


def _read_head(key: Secret[bytes], path: Path) -> ChainHead | str | None:
    """The head file's content, None when absent, or ``"invalid"``."""
    from llm_infra.json import loads

    try:
        raw = _head_path(path).read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = loads(raw)
    except InfraError:
        return "invalid"
    if not isinstance(obj, dict) or set(obj) != {"count", "mac", "head_mac"}:
        return "invalid"
    count, mac, head_mac = obj["count"], obj["mac"], obj["head_mac"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0 or not isinstance(mac, str):
        return "invalid"
    if not isinstance(head_mac, str):
        return "invalid"
    if not hmac.compare_digest(_mac(key, _canonical({"count": count, "mac": mac})), head_mac):
        return "invalid"
    return ChainHead(count, mac)


def verify_chain(
    path: str | os.PathLike[str],
    key: bytes | str | Secret[bytes] | Secret[str],
    *,
    require_head: bool = True,
    anchor: ChainHead | None = None,
) -> ChainReport:
    """Verify a ``HashChainedFileSink`` file and find the first bad record.

    Detects any edit, deletion, insertion or reordering of records (by MAC, sequence number and
    chain link), torn or non-canonical lines, and truncation (by the ``.head`` side file and by
    ``anchor``).

    Args:
        path: the JSONL file.
        key: the chain's HMAC key.
        require_head: fail when the ``.head`` file is missing, even for an empty file (without
            it, dropping records at the end cannot be detected).
        anchor: a ``ChainHead`` recorded earlier; the file must still contain that prefix.

    Returns:
        A ``ChainReport`` (truthy when ok).

    Raises:
        ConfigError: the key is shorter than 32 bytes.
        IoError: the file exists but cannot be read.

    .. versionadded:: 0.1.0
    """
    secret = key_bytes(key)
    path = Path(path)
    genesis = _genesis(secret)
    prev = genesis
    count = 0
    head = _read_head(secret, path)

    def report(ok: bool, index: int | None, reason: str | None) -> ChainReport:
        return ChainReport(ok, count, index, reason, ChainHead(count, prev))

    try:
        handle = path.open("rb")
    except FileNotFoundError:
        if isinstance(head, ChainHead) and head.count > 0:
            return report(False, 0, "truncated")
        return report(False, 0, "missing_file")
    except OSError as exc:
        raise IoError(
            "cannot read the audit chain", operation="read", path=str(path), errno=exc.errno
        ) from exc
    with handle:
        for index, raw in enumerate(handle):
            if not raw.endswith(b"\n"):
                return report(False, index, "torn_record")
            reason, mac = _check_record(secret, raw[:-1], index, prev)
            if reason is not None:
                return report(False, index, reason)
            prev = mac
            count += 1
    if head == "invalid":
        return report(False, None, "head_invalid")
    if head is None:
        if require_head:
            return report(False, None, "head_missing")
    else:
        assert isinstance(head, ChainHead)
        problem = _check_prefix(secret, path, head, count, "head_mismatch")
        if problem is not None:
            return report(False, *problem)
    if anchor is not None:
        problem = _check_prefix(secret, path, anchor, count, "anchor_mismatch")
        if problem is not None:
            return report(False, *problem)
    return report(True, None, None)


def _check_prefix(
    key: Secret[bytes], path: Path, head: ChainHead, count: int, reason: str
) -> tuple[int | None, str] | None:
    if head.count > count:
        return count, "truncated"
    if head.count == 0:
        return None if hmac.compare_digest(head.mac, _genesis(key)) else (None, reason)
    with path.open("rb") as handle:
        for index, raw in enumerate(handle):
            if index == head.count - 1:
                record = _parse_record(raw[:-1])
                if record is not None and hmac.compare_digest(record["mac"], head.mac):
                    return None
                return index, reason
    return head.count - 1, reason  # pragma: no cover - count >= head.count guarantees the line exists


def _last_line(fd: int, size: int) -> tuple[bytes, int]:
    """The last complete line (without newline) and the offset where complete lines end."""
    buf = b""
    pos = size
    while True:
        nl = buf.rfind(b"\n")
        if nl >= 0:
            start = buf.rfind(b"\n", 0, nl)
            if start >= 0:
                return buf[start + 1 : nl], pos + nl + 1
            if pos == 0:
                return buf[:nl], nl + 1
        elif pos == 0:
            return b"", 0
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf


@final
class HashChainedFileSink(Closing):
    """An append-only JSONL audit file with an HMAC chain (see ``verify_chain``).

    Each batch is written with one ``write`` and ``fsync``; on failure the file is cut back to
    its previous length, so a failed write never leaves half a record behind. Reopening the file
    resumes the chain after checking its last record and the head; a torn last line from a
    crash (never acknowledged) is removed. An exclusive ``flock`` keeps a second writer out.

    Args:
        path: the JSONL file (created with mode 0600, parent directories included).
        key: HMAC key of at least 32 bytes (``bytes``, ``str`` or a ``Secret``).
        fsync: fsync the file after each batch (on by default).
        name: the sink's name.

    Raises:
        ConfigError: the key is too short.
        IoError: the file cannot be opened or locked, its last record does not verify
            (``audit.chain_corrupt``), or it is shorter than its head (``audit.chain_truncated``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_count", "_fd", "_fsync", "_key", "_lock", "_name", "_path", "_prev")

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: bytes | str | Secret[bytes] | Secret[str],
        *,
        fsync: bool = True,
        name: str = "chain",
    ) -> None:
        self._key = key_bytes(key)
        self._path = Path(path)
        self._fsync = fsync
        self._name = name
        self._lock = threading.Lock()
        self._fd = -1
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(self._path) and not os.path.lexists(_head_path(self._path)):
                # A new chain: its head comes first, so that a file without a head is an anomaly.
                self._write_head(0, _genesis(self._key))
            flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
            self._fd = os.open(self._path, flags, 0o600)
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._count, self._prev = self._resume()
        except OSError as exc:
            self._close_fd()
            raise IoError(
                "cannot open the audit chain file", operation="open", path=str(self._path), errno=exc.errno
            ) from exc
        except InfraError:
            self._close_fd()
            raise

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _resume(self) -> tuple[int, str]:
        size = os.fstat(self._fd).st_size
        line, end = _last_line(self._fd, size)
        if end < size:
            _log.warning("audit chain %s: removing a torn last record left by a crash", self._path)
            os.ftruncate(self._fd, end)
        head = _read_head(self._key, self._path)
        if head == "invalid":
            raise IoError(
                "the audit chain head does not verify; run verify_chain",
                operation="open",
                path=str(self._path),
                code=codes.CHAIN_CORRUPT,
            )
        if not line:
            count, prev = 0, _genesis(self._key)
        else:
            record = _parse_record(line)
            ok = record is not None and hmac.compare_digest(
                _record_mac(self._key, record["seq"], record["prev"], record["event"]), record["mac"]
            )
            if not ok or record is None:
                raise IoError(
                    "the last audit chain record does not verify; run verify_chain",
                    operation="open",
                    path=str(self._path),
                    code=codes.CHAIN_CORRUPT,
                )
            count, prev = record["seq"] + 1, record["mac"]
        if isinstance(head, ChainHead) and head.count > count:
            raise IoError(
                f"the audit chain has {count} records but its head says {head.count}: it was truncated",
                operation="open",
                path=str(self._path),
                code=codes.CHAIN_TRUNCATED,
            )
        if head is None:
            raise IoError(
                f"the audit chain has {count} records but no head file {_head_path(self._path).name}: "
                "records at its end may have been deleted. Check it with "
                "verify_chain(path, key, require_head=False), then accept it as it is with: "
                f"python -m llm_infra.audit reseal {self._path}",
                operation="open",
                path=str(self._path),
                code=codes.HEAD_MISSING,
                remediation=[
                    "verify_chain(path, key, require_head=False) to check the records",
                    f"LLM_AUDIT_KEY=... python -m llm_infra.audit reseal {self._path}",
                    "or restore the file and its .head from a backup",
                ],
            )
        assert isinstance(head, ChainHead)
        if head.count != count:
            self._write_head(count, prev)
        return count, prev

    def _write_head(self, count: int, mac: str) -> None:
        body = _head_body(self._key, count, mac)
        atomic_write(_head_path(self._path), body, mode=0o600, fsync=self._fsync)

    name: readonly[str] = readonly("_name", "The sink's name.")

    path: readonly[Path] = readonly("_path", "The JSONL file.")

    @property
    def head(self) -> ChainHead:
        """The current end of the chain (publish it as an external anchor)."""
        with self._lock:
            return ChainHead(self._count, self._prev)

    def write(self, events: Sequence[SecurityEvent]) -> None:
        """Append ``events`` as chained records, fsync, then update the head.

        Raises:
            IoError: the write failed (the file is cut back; the chain is unchanged).
        """
        if not events:
            return
        with self._lock:
            if self._fd < 0:
                raise IoError("the audit chain sink is closed", operation="write", path=str(self._path))
            seq, prev = self._count, self._prev
            lines = []
            for event in events:
                body = event.to_dict()
                mac = _record_mac(self._key, seq, prev, body)
                lines.append(_canonical({"seq": seq, "prev": prev, "event": body, "mac": mac}) + b"\n")
                seq, prev = seq + 1, mac
            data = b"".join(lines)
            start = os.fstat(self._fd).st_size
            try:
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                if self._fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                # If even the cut fails, reopening finds and removes the torn tail.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)
                raise IoError(
                    "cannot append to the audit chain",
                    operation="write",
                    path=str(self._path),
                    errno=exc.errno,
                ) from exc
            self._count, self._prev = seq, prev
            try:
                self._write_head(seq, prev)
            except (OSError, IoError):
                # The records are durable and chained, so the batch must not be retried (that would
                # duplicate it); only the truncation guard lags until the next batch or reopen.
                _log.warning("audit chain %s: cannot update the head file", self._path, exc_info=True)

    async def awrite(self, events: Sequence[SecurityEvent]) -> None:
        """Async twin of ``write`` (the file I/O runs in a worker thread)."""
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.write, list(events))

    def close(self) -> None:
        """Release the lock and close the file."""
        with self._lock:
            self._close_fd()

    def __repr__(self) -> str:
        return f"HashChainedFileSink(path={str(self._path)!r}, records={self._count})"


def _head_body(key: Secret[bytes], count: int, mac: str) -> bytes:
    return _canonical(
        {"count": count, "mac": mac, "head_mac": _mac(key, _canonical({"count": count, "mac": mac}))}
    )


def reseal_chain(path: str | os.PathLike[str], key: bytes | str | Secret[bytes] | Secret[str]) -> ChainReport:
    """Accept a chain as it is: verify every record, then write a new head for it.

    The recovery step after ``audit.head_missing`` (or ``head_invalid``): the records must verify
    (MACs, sequence, links); whether records were deleted at the end can no longer be told from
    the file, so compare the new head with an external anchor if you keep one.

    Returns:
        The ``ChainReport`` of the records (ok).

    Raises:
        IoError: ``audit.chain_corrupt`` when a record does not verify (nothing is written).
    """
    secret = key_bytes(key)
    target = Path(path)
    prev, count = _genesis(secret), 0
    try:
        with target.open("rb") as handle:
            for index, raw in enumerate(handle):
                reason = "torn_record" if not raw.endswith(b"\n") else None
                if reason is None:
                    reason, prev = _check_record(secret, raw[:-1], index, prev)
                if reason is not None:
                    raise IoError(
                        f"cannot reseal {target}: record {index} does not verify ({reason})",
                        operation="reseal",
                        path=str(target),
                        code=codes.CHAIN_CORRUPT,
                    )
                count += 1
    except OSError as exc:
        raise io_error(exc, "read", target) from exc
    head = ChainHead(count, prev)
    atomic_write(_head_path(target), _head_body(secret, head.count, head.mac), mode=0o600)
    return ChainReport(True, head.count, None, None, head)
