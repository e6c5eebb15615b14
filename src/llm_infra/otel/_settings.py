"""Reading ``OtelConfig`` settings: the ``otel.*`` keys of a config, then the ``OTEL_*`` variables.

Every setting is converted by its typed ``otel.*`` key (from ``llm_infra.config`` or
``llm_infra.otel._keys``), whose default is the only one; an ``OTEL_*`` value is converted by the
same key (after its unit, milliseconds, is scaled). Only settings that a source actually sets are
collected, so the dataclasses' defaults (which are the keys' defaults) apply to the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_infra.config import (
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_TYPE,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SAMPLING_RATIO,
    Key,
)
from llm_infra.errors import ConfigError
from llm_infra.otel import _codes as codes
from llm_infra.otel._config import (
    _DEFAULT_COMPRESSION,
    _DEFAULT_PRETTY,
    _DEFAULT_PROTOCOL,
    _DEFAULT_TIMEOUT,
    ENV_BSP_MAX_EXPORT_BATCH_SIZE,
    ENV_BSP_MAX_QUEUE_SIZE,
    ENV_BSP_SCHEDULE_DELAY,
    ENV_METRIC_EXPORT_INTERVAL,
    ENV_OTLP_COMPRESSION,
    ENV_OTLP_ENDPOINT,
    ENV_OTLP_HEADERS,
    ENV_OTLP_LOGS_ENDPOINT,
    ENV_OTLP_METRICS_ENDPOINT,
    ENV_OTLP_PROTOCOL,
    ENV_OTLP_TIMEOUT,
    ENV_OTLP_TRACES_ENDPOINT,
    ENV_RESOURCE_ATTRIBUTES,
    ENV_SDK_DISABLED,
    ENV_SERVICE_NAME,
    ENV_TRACES_EXPORTER,
    ENV_TRACES_SAMPLER,
    ENV_TRACES_SAMPLER_ARG,
    BatchSettings,
    ExporterConfig,
    OtelConfig,
    cfg_get,
    parse_pairs,
)
from llm_infra.otel._keys import (
    OTEL_BATCH_MAX_EXPORT_BATCH_SIZE,
    OTEL_BATCH_MAX_QUEUE_SIZE,
    OTEL_ENABLED,
    SETTING_KEYS,
    default_of,
)
from llm_infra.secrets import Secret


def _setting(key: Key[Any], value: object, source: str | None = None, scale: float = 1.0) -> Any:
    """``value`` converted by ``key``'s type (an ``OTEL_*`` value scaled, e.g. ms to s)."""
    try:
        converted = key.convert(value)
    except (ValueError, TypeError):
        name = source or key.name
        raise ConfigError(
            f"{name}: expected {key.type_name}, got {value!r}",
            key=name,
            source="env" if source else None,
            code=codes.INVALID_SETTING,
        ) from None
    return converted * scale if scale != 1.0 else converted


def _env_number(env: Mapping[str, str], var: str, key: Key[Any], scale: float) -> Any:
    """An ``OTEL_*`` number in its unit (ms) converted to the key's unit, or None when unset."""
    raw = env.get(var, "").strip()
    if not raw:
        return None
    try:
        number = float(raw) * scale
    except ValueError:
        raise ConfigError(
            f"{var}: expected a number, got {raw!r}", key=var, source="env", code=codes.INVALID_SETTING
        ) from None
    if isinstance(key.default, int) and not isinstance(key.default, bool):
        if number != int(number):
            raise ConfigError(
                f"{var}: expected an integer, got {raw!r}", key=var, source="env", code=codes.INVALID_SETTING
            )
        number = int(number)
    return _setting(key, number, var)


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Secret):
        value = value.reveal()
    if isinstance(value, str):
        return parse_pairs(value, key)
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    raise ConfigError(
        f"{key} must be a table or a 'k=v,...' string, got {type(value).__name__}",
        key=key,
        code=codes.INVALID_SETTING,
    )


_SAMPLERS: dict[str, tuple[float | None, bool]] = {
    "always_on": (1.0, False),
    "always_off": (0.0, False),
    "traceidratio": (None, False),
    "parentbased_always_on": (1.0, True),
    "parentbased_always_off": (0.0, True),
    "parentbased_traceidratio": (None, True),
}

_ENV_NUMBERS: tuple[tuple[str, str, float], ...] = (
    (ENV_METRIC_EXPORT_INTERVAL, "metric_export_interval", 1e-3),
    (ENV_BSP_MAX_QUEUE_SIZE, "batch.max_queue_size", 1.0),
    (ENV_BSP_MAX_EXPORT_BATCH_SIZE, "batch.max_export_batch_size", 1.0),
    (ENV_BSP_SCHEDULE_DELAY, "batch.schedule_delay", 1e-3),
    (ENV_OTLP_TIMEOUT, "exporter.timeout", 1e-3),
)
"""The numeric ``OTEL_*`` variables: the setting each sets (converted by its key) and its unit's scale."""

_ENV_BACKED = ("sampling_ratio", "parent_based", "metric_export_interval", "enabled")
"""The ``OtelConfig`` fields whose dataclass default reads ``os.environ``."""

_EXPORTER_KINDS = {"stdout": "console", "console": "console", "logging": "console"}


def _read(cfg: Any, key: Key[Any]) -> Any:
    """The value of ``key`` in ``cfg`` converted by the key's type, or None when unset."""
    raw = cfg_get(cfg, key.name, None, reveal=not key.secret)
    return None if raw is None else _setting(key, raw)


def _settings_from_config(cfg: Any) -> dict[str, Any]:
    """The settings ``cfg`` sets (only those), each converted by its ``otel.*`` key."""
    out: dict[str, Any] = {}
    for name, key in SETTING_KEYS.items():
        value = _read(cfg, key)
        if value is not None:
            out[name] = value
    resource = cfg_get(cfg, OTEL_RESOURCE_ATTRIBUTES.name)
    if resource is not None:
        out["resource_attributes"] = _mapping(resource, OTEL_RESOURCE_ATTRIBUTES.name)
    headers = cfg_get(cfg, OTEL_EXPORTER_OTLP_HEADERS.name, reveal=False)
    if headers is not None:
        out["exporter.headers"] = _mapping(headers, OTEL_EXPORTER_OTLP_HEADERS.name)
    return out


def _settings_from_env(env: Mapping[str, str], resource: dict[str, Any]) -> dict[str, Any]:
    """The settings the standard ``OTEL_*`` variables set (only those)."""
    out: dict[str, Any] = {}
    if env.get(ENV_SERVICE_NAME):
        out["service_name"] = env[ENV_SERVICE_NAME]
    if env.get(ENV_RESOURCE_ATTRIBUTES):
        from_env = parse_pairs(env[ENV_RESOURCE_ATTRIBUTES], ENV_RESOURCE_ATTRIBUTES)
        if "service.name" in from_env:
            out["resource_service_name"] = from_env["service.name"]
        out["resource_attributes"] = {**resource, **from_env}
    sampler = env.get(ENV_TRACES_SAMPLER, "").strip().lower()
    if sampler:
        if sampler not in _SAMPLERS:
            raise ConfigError(
                f"unsupported {ENV_TRACES_SAMPLER}={sampler!r}; expected one of {', '.join(_SAMPLERS)}",
                key=ENV_TRACES_SAMPLER,
                source="env",
                code=codes.INVALID_SETTING,
            )
        fixed, parent = _SAMPLERS[sampler]
        out["parent_based"] = parent
        if fixed is None:
            arg = env.get(ENV_TRACES_SAMPLER_ARG, "1.0")
            out["sampling_ratio"] = _setting(OTEL_SAMPLING_RATIO, arg, ENV_TRACES_SAMPLER_ARG)
        else:
            out["sampling_ratio"] = fixed
    if env.get(ENV_SDK_DISABLED) and _setting(OTEL_ENABLED, env[ENV_SDK_DISABLED], ENV_SDK_DISABLED):
        out["enabled"] = False
    for var, name, scale in _ENV_NUMBERS:
        value = _env_number(env, var, SETTING_KEYS[name], scale)
        if value is not None:
            out[name] = value
    kind = env.get(ENV_TRACES_EXPORTER, "").split(",")[0].strip().lower()
    if kind:
        out["exporter.kind"] = _setting(OTEL_EXPORTER_TYPE, kind, ENV_TRACES_EXPORTER)
    protocol = env.get(ENV_OTLP_PROTOCOL, "").strip().lower()
    if protocol:
        out["exporter.protocol"] = protocol
    for var, name in (
        (ENV_OTLP_ENDPOINT, "endpoint"),
        (ENV_OTLP_TRACES_ENDPOINT, "traces_endpoint"),
        (ENV_OTLP_METRICS_ENDPOINT, "metrics_endpoint"),
        (ENV_OTLP_LOGS_ENDPOINT, "logs_endpoint"),
    ):
        if env.get(var):
            out[f"exporter.{name}"] = env[var]
    if env.get(ENV_OTLP_HEADERS):
        out["exporter.env_headers"] = parse_pairs(env[ENV_OTLP_HEADERS], ENV_OTLP_HEADERS)
    compression = env.get(ENV_OTLP_COMPRESSION, "").strip().lower()
    if compression:
        out["exporter.compression"] = _setting(
            OTEL_EXPORTER_OTLP_COMPRESSION, compression, ENV_OTLP_COMPRESSION
        )
    return out


def _build_exporter(settings: Mapping[str, Any]) -> ExporterConfig:
    kind = settings.get("exporter.kind", default_of(OTEL_EXPORTER_TYPE))
    kind = _EXPORTER_KINDS.get(kind, kind)
    if kind == "console":
        return ExporterConfig.console(settings.get("exporter.pretty", _DEFAULT_PRETTY))
    if kind == "memory":
        return ExporterConfig.memory()
    if kind == "none":
        return ExporterConfig.none()
    endpoint = settings.get("exporter.endpoint")
    if kind == "jaeger":
        endpoint = settings.get("exporter.jaeger_endpoint")
        if not endpoint:
            raise ConfigError(
                "otel.exporter.jaeger.endpoint is required when otel.exporter.type is 'jaeger'",
                key="otel.exporter.jaeger.endpoint",
                remediation=[
                    "Jaeger ingests OTLP: point it at Jaeger's OTLP HTTP port, e.g. http://jaeger:4318."
                ],
            )
    protocol = str(settings.get("exporter.protocol", _DEFAULT_PROTOCOL))
    if protocol in ("http", "http-protobuf"):
        protocol = "http/protobuf"
    if protocol not in ("http/protobuf", "grpc"):
        raise ConfigError(
            f"unsupported OTLP protocol {protocol!r}; expected 'http/protobuf' or 'grpc'"
            " (http/json is not shipped)",
            key="otel.exporter.otlp.protocol",
            code=codes.INVALID_SETTING,
        )
    headers: dict[str, str | Secret[str]] = {}
    for name, value in settings.get("exporter.headers", {}).items():
        headers[name] = value if isinstance(value, Secret) else str(value)
    headers.update(settings.get("exporter.env_headers", {}))
    return ExporterConfig.otlp(
        None if endpoint is None else str(endpoint),
        protocol=protocol,  # type: ignore[arg-type]  # validated just above
        headers=headers,
        timeout=settings.get("exporter.timeout", _DEFAULT_TIMEOUT),
        compression=settings.get("exporter.compression", _DEFAULT_COMPRESSION),
        traces_endpoint=settings.get("exporter.traces_endpoint"),
        metrics_endpoint=settings.get("exporter.metrics_endpoint"),
        logs_endpoint=settings.get("exporter.logs_endpoint"),
    )


def _build_batch(settings: Mapping[str, Any]) -> BatchSettings:
    values = {name.removeprefix("batch."): v for name, v in settings.items() if name.startswith("batch.")}
    if "max_export_batch_size" not in values:
        # A small queue implies smaller batches; an explicit pair is validated as given.
        queue = values.get("max_queue_size", default_of(OTEL_BATCH_MAX_QUEUE_SIZE))
        values["max_export_batch_size"] = min(queue, default_of(OTEL_BATCH_MAX_EXPORT_BATCH_SIZE))
    return BatchSettings(**values)


def fields_from(cfg: Any, env: Mapping[str, str]) -> dict[str, Any]:
    """``OtelConfig`` fields from a config (may be None) and the environment (which wins)."""
    settings = _settings_from_config(cfg) if cfg is not None else {}
    settings.update(_settings_from_env(env, settings.get("resource_attributes", {})))
    fields = {k: v for k, v in settings.items() if "." not in k and k != "resource_service_name"}
    if not fields.get("service_name") and settings.get("resource_service_name"):
        fields["service_name"] = settings["resource_service_name"]
    if "resource_attributes" in fields:
        fields["resource_attributes"] = {
            k: v if isinstance(v, str | bool | int | float) else str(v)
            for k, v in fields["resource_attributes"].items()
        }
    fields["batch"] = _build_batch(settings)
    fields["exporter"] = _build_exporter(settings)
    # Every field whose dataclass default reads os.environ is set here, so that a config built
    # from an injected environment never falls back to the process's own.
    fields.setdefault("service_name", "")
    fields.setdefault("resource_attributes", {})
    for name in _ENV_BACKED:
        fields.setdefault(name, default_of(SETTING_KEYS[name]))
    return fields


def build(cls: type[OtelConfig], cfg: Any, env: Mapping[str, str], overrides: dict[str, Any]) -> OtelConfig:
    """``OtelConfig`` from a config, the environment (which wins) and explicit overrides."""
    fields = fields_from(cfg, env)
    fields.update(overrides)
    if not fields.get("service_name"):
        fields["service_name"] = ""  # OtelConfig raises the ConfigError naming otel.service.name
    return cls(**fields)
