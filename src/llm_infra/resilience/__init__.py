"""llm_infra.resilience (not yet built)."""

__all__: list[str] = []
