"""span(), record_error, llm_span, metric helpers, propagation and the provider switch."""

from __future__ import annotations

import enum
import threading

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from llm_infra.errors import ConfigError, HttpError, OperationTimeout
from llm_infra.otel import (
    ExporterConfig,
    OtelConfig,
    clean_attributes,
    counter,
    current_trace_ids,
    extract,
    get_meter,
    get_tracer,
    histogram,
    init_otel,
    inject,
    llm_span,
    record_error,
    record_llm_metrics,
    span,
    up_down_counter,
)
from llm_infra.secrets import MASK, Secret
from llm_infra.testing._otel import capture_spans


class Color(enum.Enum):
    RED = "red"
    LIST = [1]


def test_span_nests_and_records_attributes() -> None:
    """Inner spans are children of outer ones; kwargs and the attributes dict become attributes."""
    with capture_spans() as spans:
        with span("outer", attributes={"db.system": "redis"}, k=10) as outer:
            assert outer.is_recording()
            with span("inner", kind=SpanKind.CLIENT):
                pass
    inner, outer_span = spans
    assert inner.parent is not None
    assert inner.parent.span_id == outer_span.context.span_id
    assert inner.kind is SpanKind.CLIENT
    assert dict(outer_span.attributes or {}) == {"db.system": "redis", "k": 10}


def test_secrets_never_reach_span_attributes() -> None:
    """Secret values and secret-looking names are masked; innocent names are kept."""
    with (
        capture_spans() as spans,
        span(
            "s",
            attributes={
                "db.password": "pw",
                "llm.tokens.input": 5,
                "http.request.header.authorization": "Bearer x",
            },
            api_key="sk-1",
            value=Secret("hidden"),
        ),
    ):
        pass
    attrs = dict(spans[0].attributes or {})
    assert attrs["db.password"] == MASK
    assert attrs["api_key"] == MASK
    assert attrs["value"] == MASK
    assert attrs["http.request.header.authorization"] == MASK
    assert attrs["llm.tokens.input"] == 5
    assert "hidden" not in repr(attrs)
    assert "sk-1" not in repr(attrs)


def test_clean_attributes_converts_values() -> None:
    """None is dropped; enums give their value; sequences become homogeneous tuples."""
    out = clean_attributes(
        {
            "none": None,
            "enum": Color.RED,
            "enum_obj": Color.LIST,
            "ints": [1, 2],
            "floats": (1, 2.5),
            "strs": ["a", Secret("b")],
            "bools": [True, False],
            "mixed": [1, "a"],
            "obj": object,
        }
    )
    assert "none" not in out
    assert out["enum"] == "red"
    assert out["enum_obj"] == "[1]"
    assert out["ints"] == (1, 2)
    assert out["floats"] == (1.0, 2.5)
    assert out["strs"] == ("a", MASK)
    assert out["bools"] == (True, False)
    assert out["mixed"] == ("1", "a")
    assert out["obj"] == "<class 'object'>"
    assert clean_attributes(None) == {}


def test_infra_errors_are_recorded_with_their_fields() -> None:
    """An InfraError leaving a span sets error.type/code/id/retryable, the event and ERROR status."""
    with capture_spans() as spans, pytest.raises(HttpError) as info, span("call"):
        raise HttpError("upstream failed", status=503)
    recorded = spans[0]
    attrs = dict(recorded.attributes or {})
    assert attrs["error.type"] == "http"
    assert attrs["error.code"] == "http.status"
    assert attrs["error.id"] == info.value.error_id
    assert attrs["error.retryable"] is True
    assert recorded.status.status_code is StatusCode.ERROR
    assert recorded.events[0].name == "exception"
    assert info.value.context.trace_ids is not None


def test_foreign_errors_use_the_qualified_class_name() -> None:
    """A builtin exception records its name; others their module path."""
    with capture_spans() as spans:
        with pytest.raises(KeyError), span("a"):
            raise KeyError("k")
        boom = type("Boom", (Exception,), {"__module__": "pkg.mod"})
        with pytest.raises(boom), span("b"):
            raise boom()
    assert dict(spans[0].attributes or {})["error.type"] == "KeyError"
    assert dict(spans[1].attributes or {})["error.type"] == "pkg.mod.Boom"


def test_record_error_ignores_non_recording_spans() -> None:
    """Recording on a no-op span is harmless."""
    record_error(trace.INVALID_SPAN, ValueError("x"))


def test_span_decorates_sync_functions() -> None:
    """Each call of a decorated function gets its own span, exceptions included."""
    traced = span("work", unit="test")

    @traced
    def work(x: int) -> int:
        if x < 0:
            raise OperationTimeout("slow")
        return x * 2

    with capture_spans() as spans:
        assert work(2) == 4
        assert work(3) == 6
        with pytest.raises(OperationTimeout) as raised:
            work(-1)
        assert raised.value.code == "timeout.exceeded"
    assert [s.name for s in spans] == ["work", "work", "work"]
    assert len({s.context.span_id for s in spans}) == 3
    assert dict(spans[2].attributes or {})["error.type"] == "timeout"
    assert dict(spans[0].attributes or {})["unit"] == "test"


@pytest.mark.anyio
async def test_span_decorates_and_wraps_async_code() -> None:
    """Async functions and ``async with`` work, with parent links."""

    @span("child")
    async def child() -> str:
        return "ok"

    with capture_spans() as spans:
        async with span("parent"):
            assert await child() == "ok"
    child_span, parent_span = spans
    assert child_span.parent is not None
    assert child_span.parent.span_id == parent_span.context.span_id


def test_exit_without_enter_is_harmless() -> None:
    """Leaving a span that never started does nothing."""
    span("x").__exit__(None, None, None)


def test_explicit_parent_context() -> None:
    """``context=extract(headers)`` makes the span a child of the remote parent."""
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    with capture_spans() as spans, span("handle", context=extract(headers)):
        assert current_trace_ids() is not None
    recorded = spans[0]
    assert format(recorded.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert recorded.parent is not None
    assert recorded.parent.is_remote


def test_current_trace_ids_outside_a_span() -> None:
    """No span, no ids."""
    assert current_trace_ids() is None


def test_inject_and_extract_round_trip() -> None:
    """The current span's context travels through headers, case-insensitively, with baggage."""
    with capture_spans(), span("client"):
        headers = inject({"accept": "x"})
        assert headers["traceparent"].startswith("00-")
        trace_id, span_id = current_trace_ids() or ("", "")
    upper = {k.title(): v for k, v in headers.items()}
    ctx = extract(upper)
    remote = trace.get_current_span(ctx).get_span_context()
    assert format(remote.trace_id, "032x") == trace_id
    assert format(remote.span_id, "016x") == span_id
    pairs = [(k.encode(), v.encode()) for k, v in headers.items()]
    assert trace.get_current_span(extract(pairs)).get_span_context().trace_id == remote.trace_id
    str_pairs = list(headers.items())
    assert trace.get_current_span(extract(str_pairs)).get_span_context().trace_id == remote.trace_id


def test_inject_without_a_span_and_malformed_extract() -> None:
    """No span injects nothing; a malformed traceparent gives an invalid parent."""
    assert "traceparent" not in inject()
    ctx = extract({"traceparent": "garbage"})
    assert not trace.get_current_span(ctx).get_span_context().is_valid


def test_metric_helpers_return_cached_instruments() -> None:
    """The same name returns the same instrument; a kind or unit clash is a ConfigError."""
    assert counter("test.helpers.count") is counter("test.helpers.count")
    histogram("test.helpers.duration", boundaries=[0.1, 1.0]).record(0.5)
    up_down_counter("test.helpers.inflight").add(1)
    with pytest.raises(ConfigError) as raised:
        histogram("test.helpers.count")
    assert raised.value.code == "otel.metric_conflict"
    with pytest.raises(ConfigError) as raised:
        counter("test.helpers.count", unit="By")
    assert raised.value.code == "otel.metric_conflict"


def test_metrics_follow_init_otel() -> None:
    """Instruments created before init_otel record into the guard's provider."""
    hits = counter("test.follow.hits")
    gauge = get_meter("test.follow").create_gauge("test.follow.gauge")
    observed: list[int] = []

    def observe(_options: object) -> list[metrics.Observation]:
        observed.append(1)
        return [metrics.Observation(7)]

    get_meter("test.follow").create_observable_gauge("test.follow.observed", callbacks=[observe])
    get_meter("test.follow").create_observable_counter("test.follow.obs_count", callbacks=[observe])
    get_meter("test.follow").create_observable_up_down_counter("test.follow.obs_updown", callbacks=[observe])
    hits.add(1)  # no SDK yet: dropped silently
    with init_otel(
        OtelConfig(service_name="svc", exporter=ExporterConfig.memory(), prometheus=False)
    ) as guard:
        hits.add(2, {"k": "v"})
        gauge.set(4)
        points = guard.metric_points("test.follow.hits")
        assert [(dict(p.attributes), p.value) for p in points] == [({"k": "v"}, 2)]
        assert guard.metric_points("test.follow.gauge")[0].value == 4
        assert guard.metric_points("test.follow.observed")[0].value == 7
        assert observed
        assert guard.metric_points("nothing.here") == []


def test_cached_tracer_follows_reinit() -> None:
    """A tracer obtained before init_otel records into each successive guard."""
    tracer = get_tracer("test.cached")
    config = OtelConfig(service_name="svc", exporter=ExporterConfig.memory(), prometheus=False)
    with init_otel(config) as first:
        tracer.start_span("one").end()
        with tracer.start_as_current_span("current"):
            pass
    with init_otel(
        OtelConfig(service_name="svc2", exporter=ExporterConfig.memory(), prometheus=False)
    ) as second:
        tracer.start_span("two").end()
    assert [s.name for s in first.finished_spans()] == ["one", "current"]
    assert [s.name for s in second.finished_spans()] == ["two"]
    # After shutdown the tracer is a no-op again.
    assert not tracer.start_span("three").is_recording()


def test_global_api_tracers_reach_the_guard() -> None:
    """Third-party code using opentelemetry.trace.get_tracer is recorded too."""
    with init_otel(
        OtelConfig(service_name="svc", exporter=ExporterConfig.memory(), prometheus=False)
    ) as guard:
        trace.get_tracer("third.party").start_span("theirs").end()
        meter = metrics.get_meter("third.party")
        meter.create_counter("third.count").add(1)
    assert [s.name for s in guard.finished_spans()] == ["theirs"]


def test_switch_providers_cache_and_attribute_variants() -> None:
    """Providers cache plain tracers/meters and build fresh ones when attributes are given."""
    provider = trace.get_tracer_provider()
    assert get_tracer("x") is get_tracer("x")
    from llm_infra.otel._runtime import SWITCH_METER_PROVIDER, SWITCH_TRACER_PROVIDER

    assert SWITCH_TRACER_PROVIDER.get_tracer("x", attributes={"a": 1}) is not get_tracer("x")
    assert SWITCH_METER_PROVIDER.get_meter("x", attributes={"a": 1}) is not get_meter("x")
    assert provider is not None


def test_tracers_fall_back_to_a_user_installed_provider() -> None:
    """Without init_otel, llm-infra's spans go to the SDK provider the user installed."""
    user_provider = TracerProvider()
    trace.set_tracer_provider(user_provider)
    with capture_spans() as spans, span("mine"):
        pass
    assert [s.name for s in spans] == ["mine"]
    with pytest.raises(ConfigError) as info:
        init_otel(OtelConfig(service_name="svc", exporter=ExporterConfig.none(), prometheus=False))
    assert info.value.code == "otel.global_conflict"
    user_provider.shutdown()


def test_capture_spans_refuses_a_foreign_non_sdk_provider() -> None:
    """A global provider that is not the SDK's cannot be listened to."""
    trace.set_tracer_provider(trace.NoOpTracerProvider())
    with pytest.raises(ConfigError) as info, capture_spans():
        pass
    assert info.value.code == "otel.global_conflict"


def test_capture_spans_nests_and_sees_other_threads() -> None:
    """Nested captures both see spans; spans ended in another thread are captured."""
    with capture_spans() as outer:
        with capture_spans() as inner:
            thread = threading.Thread(target=lambda: span("threaded").__enter__().end())
            thread.start()
            thread.join()
            with span("nested"):
                pass
        with span("after"):
            pass
    assert {s.name for s in inner} == {"threaded", "nested"}
    assert {s.name for s in outer} == {"threaded", "nested", "after"}


def test_llm_span_records_tokens_latency_and_metrics() -> None:
    """llm_span sets llm.* and gen_ai.* attributes and feeds the llm.tokens counter."""
    config = OtelConfig(service_name="svc", exporter=ExporterConfig.memory(), prometheus=False)
    with init_otel(config) as guard:
        with llm_span("chat", "gpt-4o", "openai", attributes={"llm.temperature": 0.2}) as call:
            call.record_tokens(input_tokens=10)
            call.record_tokens(input_tokens=2, output_tokens=30)
            call.set_attribute("llm.response.id", "r1")
        with pytest.raises(ValueError), llm_span("embeddings", "mini", "local"):
            raise ValueError("bad input")
        record_llm_metrics(model="m", provider="p", input_tokens=0, output_tokens=0)
        spans = guard.finished_spans()
        tokens = {
            (p.attributes["type"], p.attributes["llm.model"]): p.value
            for p in guard.metric_points("llm.tokens")
        }
        durations = guard.metric_points("llm.operation.duration")
    first = dict(spans[0].attributes or {})
    assert spans[0].name == "llm.operation"
    assert spans[0].kind is SpanKind.CLIENT
    assert first["llm.tokens.input"] == 12
    assert first["gen_ai.usage.output_tokens"] == 30
    assert first["llm.latency_ms"] >= 0
    assert first["llm.temperature"] == 0.2
    assert first["llm.response.id"] == "r1"
    assert spans[1].status.status_code is StatusCode.ERROR
    assert tokens == {("input", "gpt-4o"): 12, ("output", "gpt-4o"): 30}
    assert sum(p.count for p in durations) == 2


@pytest.mark.anyio
async def test_llm_span_async_and_negative_tokens() -> None:
    """llm_span works with ``async with``; negative token counts are refused."""
    with capture_spans() as spans:
        async with llm_span("chat", "m", "p") as call:
            with pytest.raises(ConfigError) as raised:
                call.record_tokens(input_tokens=-1)
            assert raised.value.code == "otel.invalid_tokens"
    assert spans[0].name == "llm.operation"
    llm_span("chat", "m", "p").__exit__(None, None, None)
