"""Error codes of ``llm_infra.otel``."""

from __future__ import annotations

from typing import Final

ALREADY_INITIALIZED: Final = "otel.already_initialized"
GLOBAL_CONFLICT: Final = "otel.global_conflict"
NOT_MEMORY: Final = "otel.not_memory"
PROMETHEUS_DISABLED: Final = "otel.prometheus_disabled"
METRIC_CONFLICT: Final = "otel.metric_conflict"
INVALID_TOKENS: Final = "otel.invalid_tokens"
INVALID_SETTING: Final = "otel.invalid_setting"

DESCRIPTIONS: Final[dict[str, str]] = {
    ALREADY_INITIALIZED: "init_otel was called again with a different config while a guard is active.",
    GLOBAL_CONFLICT: "Another library already installed a global OpenTelemetry provider.",
    NOT_MEMORY: "In-memory telemetry was read from a guard whose exporter is not 'memory'.",
    PROMETHEUS_DISABLED: "Metrics exposition was asked without an active guard with Prometheus on.",
    METRIC_CONFLICT: "An instrument name is already registered with another kind or unit.",
    INVALID_TOKENS: "Token counts given to the LLM metrics are negative or not integers.",
    INVALID_SETTING: "An OpenTelemetry setting (config key or OTEL_* variable) is invalid.",
}
