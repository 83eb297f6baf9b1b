"""Registry of helper functions callable from expressions (EXPR.md §9).

Helper modules under ``crowdwatch.expr.helpers`` register functions with :func:`helper`;
the compiler resolves a call ``Name(args…)`` against :data:`HELPERS` at compile time
(unknown name or wrong arity = compile error) and binds the Python callable into the
generated code's namespace. Nothing else is callable from an expression.

Value conventions shared by the compiler, the runtime and every helper (Go → Python):
string → ``str``; int → ``int``; float → ``float``; bool → ``bool``; nil → ``None``;
list/slice → ``list``; map → ``dict``; ``time.Duration`` → :class:`crowdwatch.expr.values.Duration`
(an ``int`` of nanoseconds); ``time.Time`` → aware ``datetime``. A helper signals a Go
runtime error by raising :class:`crowdwatch.expr.errors.ExprRuntimeError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Helper:
    name: str
    func: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: variadic
    returns: str = "any"  # static kind: str int float bool list map duration time any


HELPERS: dict[str, Helper] = {}
"""CrowdSec helpers (capitalised names, EXPR.md §9)."""

BUILTINS: dict[str, Helper] = {}
"""expr-lang builtins that are plain functions (lower-case names, EXPR.md §7: ``lower``,
``int``, ``duration``, ``trimSuffix``…). Predicate builtins (``any``, ``all``, ``filter``,
``map``, ``count``…) and ``len`` are compiled inline by the compiler, not registered here."""


def helper(
    name: str, min_args: int, max_args: int | None = -1, returns: str = "any", *, builtin: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``func`` as the expression helper ``name`` (in ``BUILTINS`` if ``builtin``).

    ``max_args`` defaults to ``min_args`` (fixed arity); pass ``None`` for variadic.
    """

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        hi = min_args if max_args == -1 else max_args
        (BUILTINS if builtin else HELPERS)[name] = Helper(name, func, min_args, hi, returns)
        return func

    return deco
