"""llm_infra.cli (not yet built)."""

__all__: list[str] = []
