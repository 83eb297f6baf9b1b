"""Expression errors."""

from __future__ import annotations


class ExprError(Exception):
    """Base class of expression errors."""


class ExprSyntaxError(ExprError):
    """The expression does not compile. ``line``/``col`` are 1-based positions in the source."""

    def __init__(self, message: str, source: str = "", line: int = 0, col: int = 0) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.col = col
        where = f"{line}:{col}: " if line else ""
        super().__init__(f"{where}{message}")


class ExprRuntimeError(ExprError):
    """An error while evaluating (Go expr runtime error)."""


class ExprCompileError(ExprSyntaxError):
    """The expression parses but is rejected by the checker (unknown name/field, type mismatch)."""
