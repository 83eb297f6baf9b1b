"""The expression language of hub content (EXPR.md), compiled to Python functions.

``compile_expr(source, variables)`` parses and type-checks an expression once and returns
a :class:`Program`; ``Program.fn(*values)`` is the compiled function (hot path, may raise
any exception), ``Program.run(*values)`` wraps every failure into
:class:`ExprRuntimeError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from crowdwatch.event import MODEL_CLASSES

from .compiler import VARIABLE_KINDS, generate
from .errors import ExprCompileError, ExprError, ExprRuntimeError, ExprSyntaxError
from .parser import parse

__all__ = [
    "EVT",
    "ExprCompileError",
    "ExprError",
    "ExprRuntimeError",
    "ExprSyntaxError",
    "Program",
    "compile_expr",
]

EVT: Mapping[str, str] = MappingProxyType({"evt": "Event"})
"""The environment of most hub expressions: one variable ``evt`` of kind ``Event``."""


class Program:
    """A compiled expression."""

    __slots__ = ("fn", "kind", "python", "source", "variables")

    def __init__(
        self,
        source: str,
        variables: tuple[tuple[str, str], ...],
        fn: Callable[..., Any],
        kind: str,
        python: str,
    ) -> None:
        self.source = source
        self.variables = variables
        self.fn = fn
        self.kind = kind  # static result kind ("bool", "str", ..., "any")
        self.python = python  # generated source, for debugging

    def run(self, *values: Any) -> Any:
        """Evaluate; any failure is raised as :class:`ExprRuntimeError`."""
        try:
            return self.fn(*values)
        except ExprRuntimeError:
            raise
        except Exception as exc:
            raise ExprRuntimeError(f"{type(exc).__name__}: {exc}") from exc

    def __repr__(self) -> str:
        return f"Program({self.source!r})"


_CACHE: dict[tuple[str, tuple[tuple[str, str], ...]], Program] = {}
_registry_loaded = False


def _load_registry() -> None:
    """Import the helper modules so that they register into ``registry``."""
    global _registry_loaded
    if _registry_loaded:
        return
    importlib.import_module("crowdwatch.expr.helpers")
    try:
        importlib.import_module("crowdwatch.expr.builtins")
    except ModuleNotFoundError as exc:
        if exc.name != "crowdwatch.expr.builtins":
            raise
    _registry_loaded = True


def compile_expr(source: str, variables: Mapping[str, str] = EVT) -> Program:
    """Compile ``source`` with the given variables (name -> static kind, in call order).

    Kinds: a model class name of ``crowdwatch.event.MODEL_CLASSES`` (``"Event"``…) or
    ``"any"`` (also ``str int float bool list map strmap anymap time``). Raises
    :class:`ExprSyntaxError` (or its subclass :class:`ExprCompileError`) with line:col.
    """
    key = (source, tuple(variables.items()))
    prog = _CACHE.get(key)
    if prog is not None:
        return prog
    for name, kind in key[1]:
        if kind not in MODEL_CLASSES and kind not in VARIABLE_KINDS:
            raise ValueError(f"unknown kind {kind!r} for expression variable {name!r}")
        if not name.isidentifier():
            raise ValueError(f"invalid expression variable name {name!r}")
    _load_registry()
    tree = parse(source)
    try:
        python, namespace, kind = generate(source, tree, dict(key[1]))
        code = compile(python, "<expr>", "exec")
    except (RecursionError, MemoryError, SyntaxError):
        raise ExprCompileError("expression too complex", source, 1, 1) from None
    exec(code, namespace)
    prog = Program(source, key[1], namespace["_expr"], kind, python)
    _CACHE[key] = prog
    return prog


def clear_cache() -> None:
    """Forget compiled programs (e.g. after helpers were re-registered in tests)."""
    _CACHE.clear()
