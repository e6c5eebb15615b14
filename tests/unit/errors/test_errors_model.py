"""Tests of llm_infra.errors: construction, context capture, retryability, rendering, conversion."""

from __future__ import annotations

import errno
import json as stdjson
import pickle
import re
import sys
from datetime import UTC

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from llm_infra import json
from llm_infra.errors import (
    AlreadyExistsError,
    AuthError,
    BatchError,
    BatchFailure,
    BatchResult,
    CircuitOpenError,
    ConfigError,
    CryptoError,
    ErrorContext,
    ErrorKind,
    ExternalError,
    HttpError,
    InfraError,
    IoError,
    MessageQueueError,
    NotFoundError,
    OperationTimeout,
    RateLimitedError,
    SerializationError,
    SourceLocation,
    TraceIds,
    ValidationError,
    VectorError,
    error_context,
    register_converter,
    to_infra_error,
)
from llm_infra.secrets import MASK, Secret

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

# --------------------------------------------------------------------------- construction


def test_constructors_take_message_first_and_fields_as_keywords() -> None:
    """Each subclass stores its spec fields as attributes."""
    http = HttpError("upstream failed", status=502, url="https://x", method="GET", body="oops")
    assert (http.status, http.url, http.method, http.body) == (502, "https://x", "GET", "oops")
    ext = ExternalError("down", service="llm", operation="complete", retry_after=3)
    assert (ext.service, ext.operation, ext.retry_after) == ("llm", "complete", 3.0)
    val = ValidationError("bad", field="dims", expected="1-65536", actual="0")
    assert (val.field, val.expected, val.actual) == ("dims", "1-65536", "0")
    vec = VectorError("mismatch", operation="insert", dimensions=3, expected=384, actual=3)
    assert (vec.operation, vec.dimensions, vec.expected, vec.actual) == ("insert", 3, 384, 3)
    cfg = ConfigError("missing", key="vector.dimensions", source="env")
    assert (cfg.key, cfg.source) == ("vector.dimensions", "env")
    auth = AuthError("expired", kind="token_expired", identity="bob")
    assert (auth.auth_kind, auth.identity, auth.code, auth.kind) == (
        "token_expired",
        "bob",
        "auth.token_expired",
        ErrorKind.AUTH,
    )
    io = IoError("denied", operation="read", path="/etc/x", errno=13)
    assert (io.operation, io.path, io.errno) == ("read", "/etc/x", 13)
    ser = SerializationError("bad", format="json", line=2, column=5, path="/a")
    assert (ser.format, ser.line, ser.column, ser.path) == ("json", 2, 5, "/a")
    mq = MessageQueueError("lost", queue="jobs", operation="publish", connection=True)
    assert (mq.queue, mq.operation, mq.connection) == ("jobs", "publish", True)
    timeout = OperationTimeout("slow", operation="search", duration=1.5)
    assert (timeout.operation, timeout.duration) == ("search", 1.5)
    limited = RateLimitedError(key="k", limit=10, retry_after=2)
    assert (limited.key, limited.limit, limited.message) == ("k", 10, "rate limit exceeded")
    assert CircuitOpenError("open", name="db").name == "db"
    nf = NotFoundError("gone", resource_type="collection", resource_id="c1")
    assert (nf.resource_type, nf.resource_id) == ("collection", "c1")
    ae = AlreadyExistsError("dup", resource_type="key", resource_id="k1")
    assert (ae.resource_type, ae.resource_id) == ("key", "k1")
    assert CryptoError("x", operation="decrypt").operation == "decrypt"


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (ConfigError("x"), ErrorKind.CONFIG, "config.invalid"),
        (HttpError("x", status=500), ErrorKind.HTTP, "http.status"),
        (HttpError("x"), ErrorKind.HTTP, "http.transport"),
        (VectorError("x", code="vector.dimension_mismatch"), ErrorKind.VECTOR, "vector.dimension_mismatch"),
        (AuthError("x"), ErrorKind.AUTH, "auth.invalid_credentials"),
        (CryptoError("x"), ErrorKind.CRYPTO, "crypto.error"),
        (IoError("x"), ErrorKind.IO, "io.error"),
        (SerializationError("x"), ErrorKind.SERIALIZATION, "serialization.invalid"),
        (ValidationError("x"), ErrorKind.VALIDATION, "validation.invalid"),
        (ExternalError("x"), ErrorKind.EXTERNAL, "external.error"),
        (MessageQueueError("x"), ErrorKind.MESSAGE_QUEUE, "mq.error"),
        (OperationTimeout("x"), ErrorKind.TIMEOUT, "timeout.exceeded"),
        (RateLimitedError(), ErrorKind.RATE_LIMITED, "rate_limited"),
        (CircuitOpenError("x"), ErrorKind.CIRCUIT_OPEN, "circuit.open"),
        (NotFoundError("x"), ErrorKind.NOT_FOUND, "not_found"),
        (AlreadyExistsError("x"), ErrorKind.ALREADY_EXISTS, "already_exists"),
        (BatchError(1), ErrorKind.BATCH, "batch.all_failed"),
        (InfraError("x"), ErrorKind.INTERNAL, "internal.error"),
    ],
)
def test_kinds_and_default_codes(error: InfraError, kind: ErrorKind, code: str) -> None:
    """Every error has a kind and a stable dotted default code."""
    assert error.kind is kind
    assert error.code == code
    assert isinstance(error, InfraError)


def test_builtin_bases_and_no_shadowing() -> None:
    """Errors also derive from the matching builtins; none is named like a builtin."""
    assert isinstance(ConfigError("x"), ValueError)
    assert isinstance(ValidationError("x"), ValueError)
    assert isinstance(SerializationError("x"), ValueError)
    assert isinstance(NotFoundError("x"), LookupError)
    assert isinstance(OperationTimeout("x"), TimeoutError)
    import builtins

    import llm_infra.errors as errors_module

    assert not set(errors_module.__all__) & set(dir(builtins))


def test_message_str_repr_and_custom_code() -> None:
    """str is the message; repr shows code, set fields and retry_after."""
    err = HttpError("boom", status=503, url="https://x", code="http.upstream", retry_after=2)
    assert str(err) == "boom"
    assert err.message == "boom"
    assert err.code == "http.upstream"
    assert (
        repr(err) == "HttpError('boom', code='http.upstream', status=503, url='https://x', retry_after=2.0)"
    )


# --------------------------------------------------------------------------- context


def make_in_helper() -> InfraError:
    return ValidationError("from helper")


def test_context_is_captured_at_construction() -> None:
    """error_id (ULID), aware UTC timestamp and the creating frame are filled in."""
    line = sys._getframe().f_lineno + 1
    err = ValidationError("x", context={"a": 1}, remediation=["fix it"])
    ctx = err.context
    assert isinstance(ctx, ErrorContext)
    assert ULID.match(ctx.error_id)
    assert err.error_id == ctx.error_id
    assert ctx.timestamp.tzinfo is UTC
    assert ctx.location == SourceLocation(__file__, line, "test_context_is_captured_at_construction")
    assert ctx.attributes == {"a": 1}
    assert err.attributes is ctx.attributes
    assert ctx.remediation == ["fix it"]
    assert ctx.trace_ids is None
    assert InfraError("a").context.error_id != InfraError("b").context.error_id


def test_location_points_to_user_code_not_library_internals() -> None:
    """An error raised deep inside llm-infra reports the caller's line, not the library's."""
    with pytest.raises(SerializationError) as info:
        json.loads("{oops")
    assert info.value.code == "json.invalid"
    location = info.value.context.location
    assert location is not None
    assert location.file == __file__
    assert location.function == "test_location_points_to_user_code_not_library_internals"
    assert make_in_helper().context.location.function == "make_in_helper"  # type: ignore[union-attr]


def test_location_when_called_from_library_frames_only() -> None:
    """Errors made by subclass constructors still skip the subclass frames."""
    err = CircuitOpenError("open")
    assert err.context.location is not None
    assert err.context.location.file == __file__


def test_trace_ids_from_recording_span() -> None:
    """When an OpenTelemetry span is recording, its trace and span ids are captured."""
    provider = TracerProvider()  # local provider: the global one is left alone
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("op") as span:
        err = ExternalError("down")
    ctx = span.get_span_context()
    assert err.context.trace_ids == TraceIds(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
    assert err.to_dict()["context"]["trace_id"] == format(ctx.trace_id, "032x")  # type: ignore[index]


def test_no_trace_ids_for_non_recording_span() -> None:
    """A valid but non-recording span (e.g. sampled out) gives no trace ids."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    span = NonRecordingSpan(SpanContext(trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(0)))
    with trace.use_span(span):
        err = InfraError("x")
    assert err.context.trace_ids is None


# --------------------------------------------------------------------------- retryability


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (HttpError("x", status=500), True),
        (HttpError("x", status=503), True),
        (HttpError("x", status=429), True),
        (HttpError("x", status=408), True),
        (HttpError("x"), True),
        (HttpError("x", status=404), False),
        (HttpError("x", status=400), False),
        (HttpError("x", status=401), False),
        (ExternalError("x", retry_after=1), True),
        (ExternalError("x"), False),
        (RateLimitedError(), True),
        (OperationTimeout("x"), True),
        (MessageQueueError("x", connection=True), True),
        (MessageQueueError("x", operation="connect"), True),
        (MessageQueueError("x", operation="reconnect"), True),
        (MessageQueueError("x", operation="publish"), False),
        (CircuitOpenError("x", retry_after=5), False),
        (ValidationError("x"), False),
        (AuthError("x"), False),
        (AuthError("x", kind="rate_limited"), False),
        (CryptoError("x"), False),
        (ConfigError("x"), False),
        (IoError("x"), False),
        (NotFoundError("x"), False),
        (InfraError("x"), False),
        (InfraError("x", retryable=True), True),
        (HttpError("x", status=503, retryable=False), False),
    ],
)
def test_retryability_table(error: InfraError, retryable: bool) -> None:
    """The retry rules of the issue hold for every kind."""
    assert error.retryable is retryable


def test_batch_error_retryable_only_when_all_failures_are() -> None:
    """A BatchError is retryable when it has failures and all of them are retryable."""
    batch = BatchError(2)
    assert not batch.retryable
    batch.record_failure("a", HttpError("x", status=503))
    assert batch.retryable
    batch.record_failure("b", ValidationError("x"))
    assert not batch.retryable


# --------------------------------------------------------------------------- rendering


def test_to_problem_is_rfc9457() -> None:
    """to_problem has type, title, status, detail, code, error_id, retryable, retry_after."""
    err = RateLimitedError("slow down", retry_after=2.5, context={"secret": "no"})
    problem = err.to_problem()
    assert problem == {
        "type": "urn:llm-infra:problem:rate_limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "slow down",
        "code": "rate_limited",
        "error_id": err.context.error_id,
        "retryable": True,
        "retry_after": 2.5,
    }
    assert "retry_after" not in ValidationError("x").to_problem()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationError("x"), 422),
        (AuthError("x"), 401),
        (AuthError("x", kind="insufficient_permissions"), 403),
        (NotFoundError("x"), 404),
        (AlreadyExistsError("x"), 409),
        (RateLimitedError(), 429),
        (InfraError("x"), 500),
        (HttpError("x", status=500), 502),
        (CircuitOpenError("x"), 503),
        (OperationTimeout("x"), 504),
        (VectorError("x", code="vector.dimension_mismatch"), 400),
        (VectorError("x"), 500),
        (SerializationError("x"), 400),
    ],
)
def test_problem_status(error: InfraError, status: int) -> None:
    """Each error maps to the HTTP status a server answers with."""
    assert error.to_problem()["status"] == status


def test_to_dict_is_complete_and_json_safe() -> None:
    """to_dict carries type, kind, code, fields and context, and survives json encoding."""
    err = VectorError("bad dims", operation="insert", expected=384, actual=3, context={"when": Secret("pw")})
    data = err.to_dict()
    assert data["type"] == "VectorError"
    assert data["kind"] == "vector"
    assert data["fields"] == {"operation": "insert", "dimensions": None, "expected": 384, "actual": 3}
    context = data["context"]
    assert isinstance(context, dict)
    assert context["error_id"] == err.context.error_id
    assert context["location"]["function"] == "test_to_dict_is_complete_and_json_safe"
    assert context["attributes"] == {"when": f"Secret({MASK!r})"}
    encoded = json.dumps(data)
    assert b"pw" not in encoded
    assert stdjson.loads(encoded)["code"] == "vector.error"


# --------------------------------------------------------------------------- error_context


def test_error_context_adds_attributes_inner_wins() -> None:
    """Attributes are added on the way up; inner (more specific) values are kept."""
    with pytest.raises(ExternalError) as info, error_context(op="publish", topic="outer"):
        with error_context(topic="inner"):
            raise ExternalError("down")
    assert info.value.code == "external.error"
    assert info.value.attributes == {"topic": "inner", "op": "publish"}


def test_error_context_leaves_foreign_exceptions_alone() -> None:
    """Non-InfraError exceptions pass through unchanged; no exception means nothing happens."""
    with pytest.raises(KeyError), error_context(op="x"):
        raise KeyError("k")
    with error_context(op="x"):
        pass


@pytest.mark.anyio
async def test_error_context_async() -> None:
    """error_context also works as an async context manager."""
    with pytest.raises(InfraError) as info:
        async with error_context(op="async"):
            raise InfraError("x")
    assert info.value.code == "internal.error"
    assert info.value.attributes["op"] == "async"


# --------------------------------------------------------------------------- conversion


def test_to_infra_error_returns_infra_errors_unchanged() -> None:
    """An InfraError converts to itself."""
    err = HttpError("x")
    assert to_infra_error(err) is err


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        (TimeoutError("t"), OperationTimeout, "timeout.exceeded"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/nope"), IoError, "io.not_found"),
        (PermissionError(errno.EACCES, "Denied", "/root"), IoError, "io.permission_denied"),
        (OSError(errno.EIO, "I/O"), IoError, "io.error"),
        (KeyError("k"), NotFoundError, "not_found"),
        (ValueError("v"), ValidationError, "validation.invalid"),
        (TypeError("t"), ValidationError, "validation.invalid"),
        (RuntimeError("r"), InfraError, "internal.unexpected"),
    ],
)
def test_builtin_conversions(exc: BaseException, cls: type[InfraError], code: str) -> None:
    """Builtin exceptions convert to the matching InfraError, keeping the original as __cause__."""
    err = to_infra_error(exc)
    assert type(err) is cls
    assert err.code == code
    assert err.__cause__ is exc


def test_oserror_keeps_errno_and_path() -> None:
    """OSError -> IoError keeps errno and the path."""
    err = to_infra_error(FileNotFoundError(errno.ENOENT, "No such file", "/data/x"))
    assert isinstance(err, IoError)
    assert (err.errno, err.path) == (errno.ENOENT, "/data/x")
    assert "/data/x" in err.message


def test_json_decode_error_keeps_position() -> None:
    """json.JSONDecodeError -> SerializationError with line and column."""
    try:
        stdjson.loads('{\n  "a": x}')
    except stdjson.JSONDecodeError as exc:
        err = to_infra_error(exc)
    assert isinstance(err, SerializationError)
    assert (err.line, err.column, err.format) == (2, 8, "json")


def test_httpx_conversions() -> None:
    """httpx status, transport and timeout errors become HttpError/OperationTimeout."""
    request = httpx.Request("GET", "https://api.example/v1")
    response = httpx.Response(503, request=request)
    status_err = to_infra_error(httpx.HTTPStatusError("503", request=request, response=response))
    assert isinstance(status_err, HttpError)
    assert (status_err.status, status_err.url, status_err.method) == (503, "https://api.example/v1", "GET")
    assert status_err.retryable
    transport = to_infra_error(httpx.ConnectError("refused", request=request))
    assert isinstance(transport, HttpError)
    assert transport.status is None
    assert transport.retryable
    timeout = to_infra_error(httpx.ReadTimeout("slow", request=request))
    assert isinstance(timeout, OperationTimeout)
    no_request = to_infra_error(httpx.ConnectError("refused"))
    assert isinstance(no_request, HttpError)
    assert no_request.url is None


def test_cryptography_conversions() -> None:
    """InvalidTag and InvalidSignature become an opaque CryptoError."""
    from cryptography.exceptions import InvalidSignature, InvalidTag

    for exc in (InvalidTag(), InvalidSignature()):
        err = to_infra_error(exc)
        assert isinstance(err, CryptoError)
        assert err.code == "crypto.verification_failed"


def test_register_converter_most_specific_wins() -> None:
    """A registered converter handles its type and subclasses; the most specific class wins."""

    class VendorError(Exception):
        pass

    class VendorRateLimit(VendorError):
        pass

    register_converter(VendorError, lambda e: ExternalError(f"vendor: {e}", service="vendor"))
    register_converter(VendorRateLimit, lambda e: RateLimitedError("vendor limit", retry_after=1))
    assert isinstance(to_infra_error(VendorError("x")), ExternalError)
    assert isinstance(to_infra_error(VendorRateLimit("x")), RateLimitedError)

    class Sub(VendorError):
        pass

    converted = to_infra_error(Sub("y"))
    assert isinstance(converted, ExternalError)
    assert converted.message == "vendor: y"


def test_converter_cause_not_overwritten() -> None:
    """A converter that sets its own __cause__ keeps it."""

    class Wrapped(Exception):
        pass

    inner = ValueError("inner")

    def convert(e: Wrapped) -> InfraError:
        out = InfraError("wrapped")
        out.__cause__ = inner
        return out

    register_converter(Wrapped, convert)
    assert to_infra_error(Wrapped()).__cause__ is inner


# --------------------------------------------------------------------------- pickling


@pytest.mark.parametrize(
    "error",
    [
        HttpError("x", status=502, url="u", context={"k": 1}, remediation=["r"]),
        AuthError("no", kind="token_expired", identity="bob"),
        ValidationError("v", field="f", expected="e", actual="a", code="validation.custom"),
        ExternalError("d", service="s", retry_after=3),
        InfraError("forced", retryable=True),
        CircuitOpenError("open", name="db", retry_after=2),
    ],
)
def test_pickle_round_trip(error: InfraError) -> None:
    """Errors pickle (for process pools) with message, code, fields and context intact."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.message == error.message
    assert copy.code == error.code
    assert copy.fields() == error.fields()
    assert copy.retryable == error.retryable
    assert copy.retry_after == error.retry_after
    assert copy.context.error_id == error.context.error_id
    assert copy.context.attributes == error.context.attributes
    assert copy.context.location == error.context.location


def test_pickle_batch_error_keeps_outcomes() -> None:
    """A pickled BatchError keeps its recorded successes and failures."""
    batch = BatchError(3)
    batch.record_success("a")
    batch.record_failure("b", HttpError("x", status=500))
    copy = pickle.loads(pickle.dumps(batch))
    assert copy.total == 3
    assert copy.succeeded == 1
    assert copy.succeeded_ids == ["a"]
    assert [f.item_id for f in copy.failures] == ["b"]
    assert copy.retryable_items() == ["b"]


# --------------------------------------------------------------------------- batch


def test_batch_finalize_partial_success() -> None:
    """Mixed outcomes finalize into a BatchResult with partial success."""
    batch = BatchError(3)
    batch.record_success("a")
    batch.record_failure("b", HttpError("x", status=503))
    batch.record_failure("c", ValidationError("bad"))
    result = batch.finalize()
    assert isinstance(result, BatchResult)
    assert (result.total, result.succeeded, result.failed) == (3, 1, 2)
    assert result.is_partial_success
    assert not result.ok
    assert result.retryable_items() == ["b"]
    assert result.succeeded_ids == ("a",)
    assert result.failures[0] == BatchFailure("b", result.failures[0].error)
    assert batch.retryable_items() == ["b"]


def test_batch_finalize_all_failed_raises_itself() -> None:
    """When every item of a non-empty batch failed, finalize raises the BatchError."""
    batch = BatchError(2)
    batch.record_failure("a", HttpError("x"))
    batch.record_failure("b", HttpError("y"))
    with pytest.raises(BatchError) as info:
        batch.finalize()
    assert info.value.code == "batch.all_failed"
    assert info.value is batch
    assert info.value.message == "all 2 items of the batch failed"


def test_batch_finalize_empty_and_all_ok() -> None:
    """Empty batches and full successes return results without failures."""
    assert BatchError(0).finalize().total == 0
    batch = BatchError(2)
    batch.record_success()
    batch.record_success()
    result = batch.finalize()
    assert result.ok
    assert not result.is_partial_success
    assert result.succeeded_ids == ()


@given(st.lists(st.booleans(), max_size=30))
@settings(max_examples=100)
def test_batch_finalize_property(outcomes: list[bool]) -> None:
    """finalize raises exactly when a non-empty batch has no success; counts always add up."""
    batch = BatchError(len(outcomes))
    for i, ok in enumerate(outcomes):
        if ok:
            batch.record_success(str(i))
        else:
            batch.record_failure(str(i), OperationTimeout("t"))
    if outcomes and not any(outcomes):
        with pytest.raises(BatchError) as raised:
            batch.finalize()
        assert raised.value.code == "batch.all_failed"
        return
    result = batch.finalize()
    assert result.succeeded + result.failed == result.total == len(outcomes)
    assert result.is_partial_success == (any(outcomes) and not all(outcomes))
    assert result.retryable_items() == [str(i) for i, ok in enumerate(outcomes) if not ok]
