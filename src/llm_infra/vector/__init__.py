"""llm_infra.vector (not yet built)."""

__all__: list[str] = []
