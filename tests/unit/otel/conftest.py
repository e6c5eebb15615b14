"""Every otel test starts and ends with no SDK installed and fresh OpenTelemetry API globals."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_otel(fresh_otel: None) -> None:
    """Use the shared ``fresh_otel`` fixture (tests/conftest.py) around each otel test."""
