"""Private helpers shared by every layer: clock, ULID primitive, lazy imports, typing aliases.

Nothing here is public API; it may change without notice.
"""
