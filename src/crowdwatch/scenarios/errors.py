"""Scenario load errors."""

from __future__ import annotations

from typing import Any

from crowdwatch.yamlutil import YamlError, pos_of


class ScenarioLoadError(YamlError):
    """A scenario file cannot be loaded. ``str()`` is ``file:line[:col]: message``; ``.file`` names the file."""

    def __init__(self, message: str, file: str = "", line: int = 0, col: int = 0) -> None:
        super().__init__(message, file, line, col)
        if file and line and not col:
            self.args = (f"{file}:{line}: {message}",)

    @classmethod
    def at(cls, message: str, file: str, value: Any = None) -> ScenarioLoadError:
        """An error located at ``value`` (a yamlutil scalar/mapping/sequence) in ``file``."""
        line, col = pos_of(value)
        return cls(message, file, line, col)

    @classmethod
    def from_yaml(cls, exc: YamlError) -> ScenarioLoadError:
        return cls(exc.message, exc.file, exc.line, exc.col)
