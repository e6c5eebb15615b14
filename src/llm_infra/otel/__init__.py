"""llm_infra.otel (not yet built)."""

__all__: list[str] = []
