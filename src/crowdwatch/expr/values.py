"""Runtime value types with Go semantics that have no direct Python equivalent."""

from __future__ import annotations

from datetime import datetime


class Duration(int):
    """A Go ``time.Duration``: an integer number of nanoseconds."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Duration({int(self)})"


def go_type(x: object) -> str:
    """Go type name of a value, as Go's ``fmt`` and expr-lang error messages print it."""
    if x is None:
        return "<nil>"
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, Duration):
        return "time.Duration"
    if isinstance(x, int):
        return "int"
    if isinstance(x, float):
        return "float64"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list | tuple):
        return "[]interface {}"
    if isinstance(x, dict):
        return "map[string]interface {}"
    if isinstance(x, datetime):
        return "time.Time"
    return type(x).__name__
