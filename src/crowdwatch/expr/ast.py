"""Syntax tree of the expression language (produced by :mod:`.parser`, consumed by :mod:`.compiler`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Node:
    line: int
    col: int


@dataclass(slots=True)
class Nil(Node):
    pass


@dataclass(slots=True)
class Bool(Node):
    value: bool


@dataclass(slots=True)
class Int(Node):
    value: int


@dataclass(slots=True)
class Float(Node):
    value: float


@dataclass(slots=True)
class Str(Node):
    value: str


@dataclass(slots=True)
class Array(Node):
    items: list[Node]


@dataclass(slots=True)
class MapLit(Node):
    pairs: list[tuple[Node, Node]]


@dataclass(slots=True)
class Ident(Node):
    """A variable, ``let`` binding (or, as a call target, a function name)."""

    name: str


@dataclass(slots=True)
class Pointer(Node):
    """``#`` (name ``""``), ``#index``, ``#acc`` inside a predicate."""

    name: str


@dataclass(slots=True)
class Member(Node):
    """``obj.name`` / ``obj?.name`` / ``obj[key]`` / ``obj?.[key]``."""

    obj: Node
    key: Node  # a Str for `.name`
    optional: bool = False
    dotted: bool = False  # written with `.` (vs. `[...]`)


@dataclass(slots=True)
class Slice(Node):
    obj: Node
    lo: Node | None
    hi: Node | None


@dataclass(slots=True)
class Call(Node):
    """``name(args)``: builtin, predicate builtin or helper."""

    name: str
    args: list[Node]


@dataclass(slots=True)
class Predicate(Node):
    """A predicate argument (``{ … }`` or a bare expression) of a predicate builtin."""

    body: Node


@dataclass(slots=True)
class MethodCall(Node):
    """``obj.name(args)`` / ``obj?.name(args)``."""

    obj: Node
    name: str
    args: list[Node]
    optional: bool = False


@dataclass(slots=True)
class Chain(Node):
    """Wraps a postfix chain containing ``?.``: the whole chain is nil when a ``?.`` operand is nil."""

    node: Node


@dataclass(slots=True)
class Unary(Node):
    op: str  # "not", "-", "+"
    operand: Node


@dataclass(slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class Conditional(Node):
    cond: Node
    then: Node
    other: Node


@dataclass(slots=True)
class Let(Node):
    name: str
    value: Node
    body: Node


@dataclass(slots=True)
class Sequence(Node):
    """``a; b; c`` evaluates all, yields the last."""

    items: list[Node] = field(default_factory=list)
