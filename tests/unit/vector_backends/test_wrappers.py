"""ResilientVectorStore (failover, breaker, health) and TracingVectorStore (spans, logs, metrics)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_infra.errors import ExternalError, InfraError, ValidationError, VectorError
from llm_infra.otel import ExporterConfig, OtelConfig, init_otel
from llm_infra.resilience import CircuitState, HealthChecker, HealthState
from llm_infra.testing import FakeClock, VectorStoreContract
from llm_infra.vector import VectorStore, VectorStoreConfig, open_store
from llm_infra.vector._resilient import ResilientVectorStore
from llm_infra.vector._tracing import TracingVectorStore

DIMS = 8


class TestTracingContract(VectorStoreContract):
    """The tracing wrapper is transparent: the whole contract holds through it."""

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        return TracingVectorStore(open_store(path, config))  # type: ignore[return-value]

    def open_existing(self, path: Path) -> VectorStore:
        return TracingVectorStore(open_store(path))  # type: ignore[return-value]


class TestResilientContract(VectorStoreContract):
    """So is the resilient wrapper while the primary is healthy."""

    def make_store(self, config: VectorStoreConfig, path: Path) -> VectorStore:
        fallback = open_store(":memory:", config)
        return ResilientVectorStore(open_store(path, config), fallback)  # type: ignore[return-value]

    def open_existing(self, path: Path) -> VectorStore:
        primary = open_store(path)
        return ResilientVectorStore(primary, open_store(":memory:", primary.config))  # type: ignore[return-value]


class Flaky:
    """A store proxy whose calls raise ``error`` while ``failing``."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.failing = False
        self.error: Exception = ExternalError(
            "down", service="x", code="vector.postgres_unavailable", retryable=True
        )
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.store, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.failing:
                raise self.error
            return target(*args, **kwargs)

        return call


def _pair(clock: FakeClock, **kwargs: Any) -> tuple[ResilientVectorStore, Flaky, Any]:
    cfg = VectorStoreConfig(collection="r", dimensions=DIMS)
    primary = Flaky(open_store(":memory:", cfg))
    fallback = open_store(":memory:", cfg)
    store = ResilientVectorStore(primary, fallback, clock=clock, **kwargs)
    return store, primary, fallback


def _v(i: int) -> np.ndarray:
    return np.random.default_rng(i).standard_normal(DIMS).astype(np.float32)


def test_retryable_failure_reads_from_fallback_and_degrades() -> None:
    clock = FakeClock()
    store, primary, fallback = _pair(clock)
    store.insert("p", _v(1))
    fallback.insert("f", _v(1))
    assert store.search(_v(1), k=1)[0].id == "p"
    assert store.health().is_healthy
    assert store.capabilities().can_write
    primary.failing = True
    assert store.search(_v(1), k=1)[0].id == "f"
    assert store.get("f") is not None
    assert store.count() == 1
    assert store.fallback_reads == 3
    assert store.is_degraded()
    assert store.health().state is HealthState.UNHEALTHY
    assert not store.capabilities().can_write
    assert store.breaker.state is CircuitState.OPEN
    calls = primary.calls
    assert store.search_batch(np.stack([_v(1)]), k=1)[0][0].id == "f"  # breaker open: primary not called
    assert primary.calls == calls
    with pytest.raises(InfraError) as info:
        store.insert("x", _v(2))  # writes never fail over
    assert info.value.code == "circuit.open"
    primary.failing = False
    clock.advance(31)
    assert store.search(_v(1), k=1)[0].id == "p"  # half-open probe succeeds
    assert store.search(_v(1), k=1)[0].id == "p"
    assert store.breaker.state is CircuitState.CLOSED
    assert store.health().is_healthy


def test_non_retryable_errors_propagate() -> None:
    clock = FakeClock()
    store, primary, _ = _pair(clock)
    with pytest.raises(VectorError) as info:
        store.search(np.ones(DIMS + 1, np.float32))
    assert info.value.code == "vector.dimension_mismatch"
    primary.error = ValidationError("bad", code="vector.invalid_filter")
    primary.failing = True
    with pytest.raises(ValidationError) as vinfo:
        store.search(_v(1))
    assert vinfo.value.code == "vector.invalid_filter"
    assert store.fallback_reads == 0
    assert store.health().is_healthy
    assert store.breaker.state is CircuitState.CLOSED


def test_foreign_exceptions_fail_over_and_custom_health() -> None:
    clock = FakeClock()
    health = HealthChecker("primary", degraded_after=1, unhealthy_after=5, clock=clock)
    store, primary, _ = _pair(clock, health=health)
    primary.error = RuntimeError("socket closed")
    primary.failing = True
    assert store.search(_v(1)) == []
    assert store.health().state is HealthState.DEGRADED
    assert store.health_checker is health


def test_mirror_writes_reach_both() -> None:
    clock = FakeClock()
    store, primary, fallback = _pair(clock, mirror_writes=True)
    store.insert("a", _v(1), {"x": 1})
    store.upsert("b", _v(2))
    store.insert_batch([("c", _v(3))])
    store.upsert_batch(ids=["d"], vectors=np.stack([_v(4)]))
    store.update_metadata("a", {"x": 2})
    assert store.delete("b")
    assert fallback.count() == primary.count() == 3
    assert fallback.get("a").metadata == {"x": 2}
    store.insert("z", _v(5))
    fallback.delete("z")
    store.delete("z")  # the mirror's failure-free delete of a missing id is fine
    assert store.config.collection == "r"
    assert "ResilientVectorStore" in repr(store)
    store.close()


def test_health_reports_open_breaker_even_when_checker_recovered() -> None:
    clock = FakeClock()
    store, primary, _ = _pair(clock)
    store.breaker.call(lambda: None)
    primary.failing = True
    for _ in range(3):
        store.count()
    store.health_checker.reset()
    status = store.health()
    assert status.is_degraded
    assert store.capabilities().can_search


def test_tracing_spans_logs_and_metrics_carry_no_values(caplog: pytest.LogCaptureFixture) -> None:
    cfg = VectorStoreConfig(collection="t", dimensions=DIMS)
    with init_otel(
        OtelConfig(service_name="vt", exporter=ExporterConfig.memory(), prometheus=False)
    ) as guard:
        store = TracingVectorStore(open_store(":memory:", cfg))
        with caplog.at_level(logging.DEBUG, logger="llm_infra.vector.trace"):
            store.insert("doc-1", _v(1), {"secret_value": "hunter2"})
            store.search(_v(1), k=3, filter={"secret_value": "hunter2"})
            store.search_batch(np.stack([_v(1), _v(2)]), k=2)
            with pytest.raises(VectorError) as info:
                store.insert("doc-2", np.ones(3, np.float32))
            assert info.value.code == "vector.dimension_mismatch"
        names = [s.name for s in guard.finished_spans()]
        assert "vector.insert" in names
        assert "vector.search" in names
        assert "vector.search_batch" in names
        search_span = next(
            s
            for s in guard.finished_spans()
            if s.name == "vector.search" and "vector.backend" in dict(s.attributes or {})
        )
        attrs = dict(search_span.attributes or {})
        assert attrs["vector.k"] == 3
        assert attrs["vector.has_filter"] is True
        assert attrs["vector.vector_length"] == DIMS
        assert attrs["vector.backend"] == "LocalVectorStore"
        dump = repr([dict(s.attributes or {}) for s in guard.finished_spans()]) + caplog.text
        assert "hunter2" not in dump
        assert str(float(_v(1)[0]))[:6] not in dump
        assert "vector.insert id=doc-1 vector_length=8 has_metadata=True outcome=ok" in caplog.text
        assert "outcome=vector.dimension_mismatch" in caplog.text
        store.close()
