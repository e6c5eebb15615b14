"""llm_infra.fs (not yet built)."""

__all__: list[str] = []
