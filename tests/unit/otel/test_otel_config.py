"""OtelConfig, ExporterConfig and BatchSettings: validation, from_config and the OTEL_* variables."""

from __future__ import annotations

import sys

import pytest

from llm_infra.errors import ConfigError
from llm_infra.otel import BatchSettings, ExporterConfig, OtelConfig
from llm_infra.otel._config import cfg_get, grpc_exporter_available, parse_pairs
from llm_infra.secrets import MASK, Secret


def test_defaults_follow_the_spec() -> None:
    """The default exporter is OTLP over HTTP on 4318, sampling everything, development env."""
    config = OtelConfig(service_name="svc")
    assert config.exporter.kind == "otlp"
    assert config.exporter.endpoint == "http://localhost:4318"
    assert config.exporter.signal_endpoint("traces") == "http://localhost:4318/v1/traces"
    assert config.sampling_ratio == 1.0
    assert config.parent_based
    assert config.environment == "development"
    assert config.metric_export_interval == 60.0


def test_resource_carries_the_service_identity() -> None:
    """service.* and deployment.environment win over same-named extra attributes."""
    config = OtelConfig(
        service_name="svc",
        service_version="1.2",
        namespace="ops",
        environment="prod",
        resource_attributes={"service.name": "other", "team": "infra", "shard": 3},
    )
    attrs = config.resource()
    assert attrs["service.name"] == "svc"
    assert attrs["service.version"] == "1.2"
    assert attrs["service.namespace"] == "ops"
    assert attrs["deployment.environment"] == "prod"
    assert attrs["team"] == "infra"
    assert attrs["shard"] == 3


@pytest.mark.parametrize("name", ["", "   "])
def test_service_name_is_required(name: str) -> None:
    """An empty service name is refused with the key named."""
    with pytest.raises(ConfigError) as info:
        OtelConfig(service_name=name)
    assert info.value.code == "config.invalid"
    assert info.value.key == "otel.service.name"


@pytest.mark.parametrize("ratio", [-0.1, 1.5, True, float("nan")])
def test_sampling_ratio_must_be_a_fraction(ratio: float) -> None:
    """Ratios outside [0, 1] are refused."""
    with pytest.raises(ConfigError) as raised:
        OtelConfig(service_name="svc", sampling_ratio=ratio)
    assert raised.value.code == "config.invalid"


def test_invalid_fields_are_refused() -> None:
    """Bad intervals, resource values and exporter objects are ConfigErrors."""
    with pytest.raises(ConfigError) as raised:
        OtelConfig(service_name="svc", metric_export_interval=0)
    assert raised.value.code == "config.invalid"
    with pytest.raises(ConfigError) as raised:
        OtelConfig(service_name="svc", resource_attributes={"k": object()})  # type: ignore[dict-item]
    assert raised.value.code == "config.invalid"
    with pytest.raises(ConfigError) as raised:
        OtelConfig(service_name="svc", exporter="otlp")  # type: ignore[arg-type]
    assert raised.value.code == "config.invalid"


def test_resource_attributes_are_copied() -> None:
    """Mutating the caller's dict afterwards changes nothing."""
    attrs = {"a": "1"}
    config = OtelConfig(service_name="svc", resource_attributes=attrs)
    attrs["a"] = "2"
    assert config.resource_attributes["a"] == "1"


def test_otlp_factory_normalises_the_endpoint() -> None:
    """A trailing /v1/traces is stripped; gRPC defaults to 4317."""
    http = ExporterConfig.otlp("http://collector:4318/v1/traces")
    assert http.endpoint == "http://collector:4318"
    assert http.signal_endpoint("metrics") == "http://collector:4318/v1/metrics"
    grpc = ExporterConfig.otlp(protocol="grpc")
    assert grpc.endpoint == "http://localhost:4317"
    assert grpc.signal_endpoint("traces") == "http://localhost:4317"
    custom = ExporterConfig.otlp(traces_endpoint="http://x:1/custom")
    assert custom.signal_endpoint("traces") == "http://x:1/custom"


def test_exporter_headers_are_secrets_and_masked() -> None:
    """Header values become Secrets and never appear in repr."""
    exporter = ExporterConfig.otlp(headers={"X-Api-Key": "hunter2", "x-tenant": Secret("t1")})
    assert "hunter2" not in repr(exporter)
    assert MASK in repr(exporter)
    assert exporter.revealed_headers() == {"x-api-key": "hunter2", "x-tenant": "t1"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"endpoint": "localhost:4318"},
        {"endpoint": "ftp://x"},
        {"protocol": "http/json"},
        {"compression": "brotli"},
        {"timeout": 0},
        {"headers": {"": "v"}},
    ],
)
def test_bad_otlp_settings_are_refused(kwargs: dict[str, object]) -> None:
    """Malformed endpoints, protocols, compressions, timeouts and headers raise ConfigError."""
    with pytest.raises(ConfigError) as raised:
        ExporterConfig.otlp(**kwargs)  # type: ignore[arg-type]
    assert raised.value.code == "config.invalid"


def test_unknown_exporter_kind_is_refused() -> None:
    """Only the four kinds exist."""
    with pytest.raises(ConfigError) as raised:
        ExporterConfig(kind="jaeger")  # type: ignore[arg-type]
    assert raised.value.code == "config.invalid"


def test_other_exporter_reprs() -> None:
    """Console, memory and none have short reprs."""
    assert repr(ExporterConfig.console(pretty=False)) == "ExporterConfig(kind='console', pretty=False)"
    assert repr(ExporterConfig.memory()) == "ExporterConfig(kind='memory')"
    assert repr(ExporterConfig.none()) == "ExporterConfig(kind='none')"


def test_grpc_without_its_exporter_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the gRPC exporter cannot be imported, asking for it says what to install."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc", None)
    assert not grpc_exporter_available()
    with pytest.raises(ConfigError) as info:
        ExporterConfig.otlp(protocol="grpc")
    assert "pip install opentelemetry-exporter-otlp-proto-grpc" in str(info.value)
    assert info.value.code == "config.missing_extra"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_queue_size": 0},
        {"max_export_batch_size": True},
        {"max_export_attempts": 0},
        {"max_queue_size": 10, "max_export_batch_size": 20},
        {"schedule_delay": -1.0},
        {"retry_backoff": float("inf")},
    ],
)
def test_batch_settings_validate(kwargs: dict[str, object]) -> None:
    """Queue, batch, attempts and delays must be positive and consistent."""
    with pytest.raises(ConfigError) as raised:
        BatchSettings(**kwargs)  # type: ignore[arg-type]
    assert raised.value.code == "config.invalid"


def test_from_config_reads_the_otel_keys() -> None:
    """Every documented otel.* key is read from a nested mapping."""
    cfg = {
        "otel": {
            "service": {"name": "svc", "version": "2.0", "namespace": "ns"},
            "environment": "staging",
            "exporter": {
                "type": "otlp",
                "otlp": {
                    "endpoint": "http://collector:4318",
                    "protocol": "http/protobuf",
                    "headers": {"api-key": "k"},
                    "timeout_secs": 3,
                    "compression": "gzip",
                },
            },
            "resource": {"attributes": {"team": "infra", "nested": [1, 2]}},
            "sampling_ratio": 0.25,
            "parent_based": "false",
            "metrics": {"export_interval_secs": 15, "prometheus": False},
            "logs": {"capture": "yes"},
            "batch": {"max_queue_size": 100, "schedule_delay": 0.5, "max_export_attempts": 2},
        }
    }
    config = OtelConfig.from_config(cfg, environ={})
    assert config.service_name == "svc"
    assert config.service_version == "2.0"
    assert config.namespace == "ns"
    assert config.environment == "staging"
    assert config.exporter.endpoint == "http://collector:4318"
    assert config.exporter.compression == "gzip"
    assert config.exporter.timeout == 3.0
    assert config.exporter.revealed_headers() == {"api-key": "k"}
    assert config.resource_attributes == {"team": "infra", "nested": "[1, 2]"}
    assert config.sampling_ratio == 0.25
    assert not config.parent_based
    assert config.metric_export_interval == 15.0
    assert not config.prometheus
    assert config.capture_logs
    assert config.batch.max_queue_size == 100
    assert config.batch.max_export_batch_size == 100
    assert config.batch.schedule_delay == 0.5
    assert config.batch.max_export_attempts == 2


class _FlatConfig:
    """A stand-in with the ``Config.get(name, default)`` shape of llm_infra.config."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def get(self, name: str, default: object = None) -> object:
        return self.values.get(name, default)


def test_from_config_reads_a_config_object() -> None:
    """Objects with get(name, default) work, including Secret values."""
    cfg = _FlatConfig(
        {
            "otel.service.name": Secret("svc"),
            "otel.exporter.type": "stdout",
            "otel.exporter.stdout.pretty": False,
        }
    )
    config = OtelConfig.from_config(cfg, environ={})
    assert config.service_name == "svc"
    assert config.exporter.kind == "console"
    assert not config.exporter.pretty


def test_secret_headers_stay_secret_through_from_config() -> None:
    """Secret header tables and Secret header values survive from_config masked."""
    cfg = _FlatConfig({"otel.service.name": "svc", "otel.exporter.otlp.headers": Secret("api-key=abc")})
    config = OtelConfig.from_config(cfg, environ={})
    assert config.exporter.revealed_headers() == {"api-key": "abc"}
    cfg = _FlatConfig({"otel.service.name": "svc", "otel.exporter.otlp.headers": {"k": Secret("v")}})
    assert OtelConfig.from_config(cfg, environ={}).exporter.revealed_headers() == {"k": "v"}


def test_otel_environment_variables_win_over_the_config() -> None:
    """OTEL_* variables override otel.* keys; explicit overrides win over both."""
    cfg = {"otel": {"service": {"name": "from-file"}, "exporter": {"otlp": {"endpoint": "http://a:4318"}}}}
    environ = {
        "OTEL_SERVICE_NAME": "from-env",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%3Dcret,x-team=infra",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces",
        "OTEL_RESOURCE_ATTRIBUTES": "team=infra,region=eu%2Dwest",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.5",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        "OTEL_BSP_MAX_QUEUE_SIZE": "64",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_BSP_SCHEDULE_DELAY": "250",
    }
    config = OtelConfig.from_config(cfg, environ=environ, environment="prod")
    assert config.service_name == "from-env"
    assert config.environment == "prod"
    assert config.exporter.endpoint == "http://b:4318"
    assert config.exporter.signal_endpoint("traces") == "http://c:4318/v1/traces"
    assert config.exporter.revealed_headers() == {"api-key": "s=cret", "x-team": "infra"}
    assert config.exporter.timeout == 2.5
    assert config.exporter.compression == "gzip"
    assert config.resource_attributes == {"team": "infra", "region": "eu-west"}
    assert config.sampling_ratio == 0.5
    assert config.parent_based
    assert config.metric_export_interval == 5.0
    assert config.batch.max_queue_size == 64
    assert config.batch.max_export_batch_size == 16
    assert config.batch.schedule_delay == 0.25


def test_service_name_may_come_from_resource_attributes() -> None:
    """OTEL_RESOURCE_ATTRIBUTES=service.name=x names the service when nothing else does."""
    config = OtelConfig.from_config({}, environ={"OTEL_RESOURCE_ATTRIBUTES": "service.name=x"})
    assert config.service_name == "x"


@pytest.mark.parametrize(
    ("sampler", "ratio", "parent"),
    [
        ("always_on", 1.0, False),
        ("always_off", 0.0, False),
        ("traceidratio", 1.0, False),
        ("parentbased_always_on", 1.0, True),
        ("parentbased_always_off", 0.0, True),
    ],
)
def test_standard_samplers(sampler: str, ratio: float, parent: bool) -> None:
    """Each OTEL_TRACES_SAMPLER value maps onto a ratio and parent-based flag."""
    config = OtelConfig.from_config({}, environ={"OTEL_SERVICE_NAME": "s", "OTEL_TRACES_SAMPLER": sampler})
    assert (config.sampling_ratio, config.parent_based) == (ratio, parent)


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "otel.exporter.otlp.protocol"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "lots"}, "OTEL_BSP_MAX_QUEUE_SIZE"),
        ({"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED"),
    ],
)
def test_bad_environment_values_name_the_variable(environ: dict[str, str], key: str) -> None:
    """A malformed OTEL_* value is a ConfigError naming the variable."""
    environ = {"OTEL_SERVICE_NAME": "s", **environ}
    with pytest.raises(ConfigError) as info:
        OtelConfig.from_config({}, environ=environ)
    assert info.value.code == "otel.invalid_setting"
    assert info.value.key == key


def test_exporter_types_from_config() -> None:
    """memory, none, console (env) and jaeger (as OTLP) are all selectable."""
    base = {"otel": {"service": {"name": "s"}}}
    assert OtelConfig.from_config(base, environ={"OTEL_TRACES_EXPORTER": "none"}).exporter.kind == "none"
    assert (
        OtelConfig.from_config(base, environ={"OTEL_TRACES_EXPORTER": "console"}).exporter.kind == "console"
    )
    memory = {"otel": {"service": {"name": "s"}, "exporter": {"type": "memory"}}}
    assert OtelConfig.from_config(memory, environ={}).exporter.kind == "memory"
    jaeger = {
        "otel": {
            "service": {"name": "s"},
            "exporter": {"type": "jaeger", "jaeger": {"endpoint": "http://j:4318"}},
        }
    }
    exporter = OtelConfig.from_config(jaeger, environ={}).exporter
    assert (exporter.kind, exporter.endpoint) == ("otlp", "http://j:4318")
    with pytest.raises(ConfigError) as info:
        OtelConfig.from_config(
            {"otel": {"service": {"name": "s"}, "exporter": {"type": "jaeger"}}}, environ={}
        )
    assert info.value.code == "config.invalid"
    assert info.value.key == "otel.exporter.jaeger.endpoint"


def test_grpc_protocol_from_the_environment() -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc selects gRPC on port 4317."""
    config = OtelConfig.from_config(
        {}, environ={"OTEL_SERVICE_NAME": "s", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert config.exporter.protocol == "grpc"
    assert config.exporter.endpoint == "http://localhost:4317"


def test_sdk_disabled_and_enabled_key() -> None:
    """OTEL_SDK_DISABLED=true and otel.enabled=false both turn the SDK off."""
    assert not OtelConfig.from_config(
        {}, environ={"OTEL_SERVICE_NAME": "s", "OTEL_SDK_DISABLED": "true"}
    ).enabled
    cfg = {"otel": {"service": {"name": "s"}, "enabled": False}}
    assert not OtelConfig.from_config(cfg, environ={}).enabled


def test_missing_service_name_in_from_config() -> None:
    """No name anywhere is a ConfigError naming otel.service.name."""
    with pytest.raises(ConfigError) as info:
        OtelConfig.from_config({}, environ={})
    assert info.value.code == "config.invalid"
    assert info.value.key == "otel.service.name"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("otel.sampling_ratio", "x"),
        ("otel.parent_based", 3),
        ("otel.resource.attributes", 42),
        ("otel.batch.max_queue_size", "big"),
        ("otel.batch.retry_backoff", "soon"),
    ],
)
def test_bad_config_values_name_the_key(key: str, value: object) -> None:
    """Wrongly typed otel.* values are ConfigErrors naming their key."""
    cfg = _FlatConfig({"otel.service.name": "s", key: value})
    with pytest.raises(ConfigError) as info:
        OtelConfig.from_config(cfg, environ={})
    assert info.value.code == "otel.invalid_setting"
    assert info.value.key == key


def test_cfg_get_handles_odd_shapes() -> None:
    """None configs, raising getters and missing nested keys give the default."""

    class Raising:
        def get(self, name: str, default: object = None) -> object:
            raise KeyError(name)

    assert cfg_get(None, "a.b", 1) == 1
    assert cfg_get(Raising(), "a.b", 2) == 2
    assert cfg_get({"a": {"c": 1}}, "a.b", 3) == 3
    assert cfg_get({"a": 5}, "a.b", 4) == 4
    assert cfg_get({"a.b": 6}, "a.b") == 6


def test_parse_pairs_skips_blank_items() -> None:
    """Empty items are ignored and values are percent-decoded."""
    assert parse_pairs("a=1,, b = x%20y ,", "K") == {"a": "1", "b": "x y"}
