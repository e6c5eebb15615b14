"""Compatibility shims for code moving onto ``llm_infra.vector`` (see ``compat.ruvector``)."""
