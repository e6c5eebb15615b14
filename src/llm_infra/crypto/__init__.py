"""llm_infra.crypto (not yet built)."""

__all__: list[str] = []
