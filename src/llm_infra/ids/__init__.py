"""llm_infra.ids (not yet built)."""

__all__: list[str] = []
