"""``llm-infra id``."""

from __future__ import annotations

import uuid

import pytest

from .conftest import Run


@pytest.mark.parametrize(("kind", "length"), [("uuid7", 36), ("ulid", 26)])
def test_n_distinct_ids(run: Run, kind: str, length: int) -> None:
    """``-n`` ids, one per line, all distinct and well-formed."""
    result = run("id", kind, "-n", "50")
    assert result.exit_code == 0
    ids = result.stdout.split()
    assert len(ids) == 50
    assert len(set(ids)) == 50
    assert all(len(i) == length for i in ids)
    assert ids == sorted(ids)  # time-ordered and monotonic within the process


def test_uuid7_version_bits(run: Run) -> None:
    """UUIDv7 ids parse as version 7."""
    value = run("id", "uuid7").stdout.strip()
    assert uuid.UUID(value).version == 7


def test_snowflake_ids_increase(run: Run) -> None:
    """Snowflake ids are increasing integers carrying the worker id."""
    result = run("id", "snowflake", "-n", "20", "--worker-id", "7")
    assert result.exit_code == 0
    values = [int(x) for x in result.stdout.split()]
    assert values == sorted(values)
    assert len(set(values)) == 20
    assert all((v >> 12) & 0x3FF == 7 for v in values)


def test_snowflake_bad_worker_reports_its_code(run: Run) -> None:
    """An out-of-range worker id is the library's ``ids.invalid_worker`` error, exit 1."""
    result = run("id", "snowflake", "--worker-id", "5000")
    assert result.exit_code == 1
    assert "error[ids.invalid_worker]" in result.stderr
