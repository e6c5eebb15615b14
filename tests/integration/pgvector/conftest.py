"""The session-wide pgvector server (skips on a laptop without the wheel, fails under CI=true)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from tests.integration.pgvector.pgserver import PgServerUnavailable, start_pgvector

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pgvector_dsn() -> Iterator[str]:
    """URI of a Postgres with the vector extension (started once per session)."""
    try:
        uri, stop = start_pgvector()
    except PgServerUnavailable as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true: pgvector tests must run)")
        pytest.skip(str(exc))
    try:
        yield uri
    finally:
        stop()


@pytest.fixture
def collection_name() -> str:
    """A unique collection name per test."""
    return f"t{uuid.uuid4().hex[:12]}"
