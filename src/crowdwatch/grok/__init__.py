"""Grok patterns with RE2 semantics (ENGINE.md §5)."""
