"""llm_infra.ratelimit (not yet built)."""

__all__: list[str] = []
