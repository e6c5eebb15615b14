"""llm_infra.audit (not yet built)."""

__all__: list[str] = []
