"""The configuration error type."""

from __future__ import annotations

from crowdwatch.yamlutil import YamlError


class ConfigError(YamlError):
    """Invalid or unreadable configuration; ``str()`` starts with ``file:line:col`` when known."""
