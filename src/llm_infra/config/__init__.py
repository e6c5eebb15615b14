"""llm_infra.config (not yet built)."""

__all__: list[str] = []
