"""llm_infra.http (not yet built)."""

__all__: list[str] = []
