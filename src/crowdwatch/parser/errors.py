"""Parser errors: load-time (:class:`ParserLoadError`) and the per-event drop signal."""

from __future__ import annotations

from typing import Any

from crowdwatch.yamlutil import YamlError, pos_of


class ParserLoadError(YamlError):
    """A parser/postoverflow file cannot be loaded. ``str()`` is ``file:line[:col]: message``."""

    def __init__(self, message: str, file: str = "", line: int = 0, col: int = 0) -> None:
        super().__init__(message, file, line, col)
        if file and line and not col:
            self.args = (f"{file}:{line}: {message}",)

    @classmethod
    def at(cls, message: str, file: str, value: Any = None) -> ParserLoadError:
        """An error located at ``value`` (a yamlutil scalar/mapping/sequence) in ``file``."""
        line, col = pos_of(value)
        return cls(message, file, line, col)

    @classmethod
    def from_yaml(cls, exc: YamlError) -> ParserLoadError:
        return cls(exc.message, exc.file, exc.line, exc.col)


class DropEvent(Exception):
    """Raised while processing an event when it must be dropped (e.g. a static of a bad type)."""
