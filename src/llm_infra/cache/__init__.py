"""llm_infra.cache (not yet built)."""

__all__: list[str] = []
