"""llm_infra.mq (not yet built)."""

__all__: list[str] = []
