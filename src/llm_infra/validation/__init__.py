"""llm_infra.validation (not yet built)."""

__all__: list[str] = []
