"""llm_infra.server (not yet built)."""

__all__: list[str] = []
