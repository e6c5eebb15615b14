"""OtelConfig()/init_otel() honour the standard OTEL_* variables; one default per setting."""

from __future__ import annotations

import pytest

from llm_infra.config import ConfigLoader, load_config
from llm_infra.errors import ConfigError
from llm_infra.otel import ExporterConfig, OtelConfig, init_otel


def test_otel_service_name_alone_is_enough_for_init_otel() -> None:
    """``init_otel(environ={"OTEL_SERVICE_NAME": ...})`` builds a full config from the environment."""
    guard = init_otel(environ={"OTEL_SERVICE_NAME": "checkout", "OTEL_TRACES_EXPORTER": "none"})
    try:
        assert guard.config.service_name == "checkout"
        assert guard.config.exporter.kind == "none"
    finally:
        guard.shutdown()


def test_init_otel_without_a_service_name_names_the_variable() -> None:
    """No config and no OTEL_SERVICE_NAME is a ConfigError that says what to set."""
    with pytest.raises(ConfigError) as info:
        init_otel(environ={})
    assert info.value.code == "config.invalid"
    assert info.value.key == "otel.service.name"
    assert "OTEL_SERVICE_NAME" in str(info.value.to_dict())


def test_otel_config_reads_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OtelConfig()`` takes unset fields from OTEL_* variables, as the OpenTelemetry SDK does."""
    for name, value in {
        "OTEL_SERVICE_NAME": "svc",
        "OTEL_RESOURCE_ATTRIBUTES": "team=infra,region=eu%2Dwest",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:4318/v1/metrics",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://l:4318/v1/logs",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
        "OTEL_BSP_MAX_QUEUE_SIZE": "64",
    }.items():
        monkeypatch.setenv(name, value)
    config = OtelConfig()
    assert config.service_name == "svc"
    assert config.resource_attributes == {"team": "infra", "region": "eu-west"}
    exporter = config.exporter
    assert exporter.endpoint == "http://collector:4318"
    assert exporter.signal_endpoint("traces") == "http://t:4318/v1/traces"
    assert exporter.signal_endpoint("metrics") == "http://m:4318/v1/metrics"
    assert exporter.signal_endpoint("logs") == "http://l:4318/v1/logs"
    assert exporter.timeout == 2.5
    assert (config.sampling_ratio, config.parent_based) == (0.25, False)
    assert config.batch.max_queue_size == 64
    assert OtelConfig(service_name="explicit").service_name == "explicit"


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none"}, "none"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-resource"}, "otlp"),
    ],
)
def test_from_env_with_an_injected_environment(environ: dict[str, str], kind: str) -> None:
    """from_env reads only the mapping it is given."""
    environ = (
        {"OTEL_SERVICE_NAME": "svc", **environ} if "OTEL_RESOURCE_ATTRIBUTES" not in environ else environ
    )
    config = OtelConfig.from_env(environ)
    assert config.exporter.kind == kind
    assert config.service_name in ("svc", "from-resource")


def test_one_default_per_setting_whatever_the_construction_path() -> None:
    """The OTLP timeout (and the other exporter defaults) agree across every way to build a config."""
    by_loader = OtelConfig.from_config(
        ConfigLoader().with_env(environ={}).load(), environ={}, service_name="s"
    )
    by_load_config = OtelConfig.from_config(load_config(environ={}), environ={}, service_name="s")
    by_mapping = OtelConfig.from_config({}, environ={}, service_name="s")
    direct = ExporterConfig.otlp()
    default = ExporterConfig()
    for exporter in (by_loader.exporter, by_load_config.exporter, by_mapping.exporter, direct, default):
        assert exporter.timeout == 10.0
        assert exporter.compression == "none"
        assert exporter.protocol == "http/protobuf"
        assert exporter.endpoint == "http://localhost:4318"
    assert by_loader.environment == by_mapping.environment == "development"


@pytest.mark.parametrize(("kind", "expected"), [("memory", "memory"), ("console", "console")])
def test_documented_exporter_kinds_pass_the_keys(kind: str, expected: str) -> None:
    """Every exporter type the docs list is accepted by the otel.exporter.type key."""
    cfg = (
        ConfigLoader().with_overrides({"otel": {"service": {"name": "s"}, "exporter": {"type": kind}}}).load()
    )
    assert OtelConfig.from_config(cfg, environ={}).exporter.kind == expected


def test_deflate_compression_passes_the_key() -> None:
    """The documented 'deflate' compression is accepted by the key and by ExporterConfig."""
    cfg = (
        ConfigLoader()
        .with_overrides(
            {"otel": {"service": {"name": "s"}, "exporter": {"otlp": {"compression": "deflate"}}}}
        )
        .load()
    )
    assert OtelConfig.from_config(cfg, environ={}).exporter.compression == "deflate"


def test_an_injected_environment_never_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_config/from_env with ``environ=`` ignore os.environ entirely (no default-factory leak)."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "leak=yes")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000")
    config = OtelConfig.from_env({"OTEL_SERVICE_NAME": "svc"})
    assert (config.sampling_ratio, config.enabled) == (1.0, True)
    assert config.resource_attributes == {}
    assert config.metric_export_interval == 60.0
