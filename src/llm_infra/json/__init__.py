"""llm_infra.json (not yet built)."""

__all__: list[str] = []
