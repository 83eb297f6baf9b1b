"""Runtime value types with Go semantics that have no direct Python equivalent."""

from __future__ import annotations


class Duration(int):
    """A Go ``time.Duration``: an integer number of nanoseconds."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Duration({int(self)})"
