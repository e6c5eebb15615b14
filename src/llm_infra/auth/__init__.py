"""llm_infra.auth (not yet built)."""

__all__: list[str] = []
