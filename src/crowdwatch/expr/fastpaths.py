"""Fast paths for predicates that test one loop-invariant string against a string list.

Hub scenarios spend most of their filter time in predicates such as
``any(File('sqli_probe_patterns.txt'), {Upper(evt.Parsed.http_args) contains Upper(#)})``:
every element of a data file is tested against one value ``X`` computed from the event.
:func:`match_shape` recognises (at compile time) the bodies

* ``X contains E``, ``X startsWith E``, ``X endsWith E``, ``X == E``, ``E == X``

where ``E`` is ``#``, ``Upper(#)``, ``Lower(#)``, ``upper(#)`` or ``lower(#)`` and ``X`` is
a *pure* expression that does not depend on the element (literals, names, member access
and ``Upper``/``Lower`` calls; no ``#``, no method calls, no ``let``), under
``any``/``all``/``none``. A :class:`StringSetSite` then answers the whole predicate call
in C: a prefix-trie regex for ``contains``, ``str.startswith(tuple)`` /
``str.endswith(tuple)``, a frozenset for ``==``, built once per collection (mapped through
the real helper, so Go case mapping is unchanged) and reused while the collection is the
same object with the same content.

Semantics are exactly those of the generic loop (EXPR.md §5–§6), which is what runs
whenever the fast path does not apply: collections other than a plain list/tuple of
``str`` (nil → runtime error, maps, non-string elements), ``X`` neither a string nor nil.
``X`` is evaluated once, and only for a non-empty collection: in the generic loop it is
evaluated in the first iteration before anything that could fail (``E`` cannot fail on a
string), so the same error surfaces; being pure, evaluating it once or per element gives
the same value. With all elements strings, a nil ``X`` makes every test false.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import ast, registry
from .runtime import Budget, Pred, all_items, any_items, none_items, p_all, p_any, p_none

CASE_FUNCTIONS = frozenset({"Upper", "Lower", "upper", "lower"})
"""Calls allowed around ``#`` and inside ``X``: pure, and total on strings."""
PURE_STR_FUNCTIONS = CASE_FUNCTIONS | {"JsonExtract", "JsonExtractUnescape", "PathUnescape", "QueryUnescape"}
"""Deterministic helpers without side effects whose result is a string: calls with literal
arguments are folded at compile time, calls on ``#`` are memoised per element."""

OPERATORS = frozenset({"contains", "startsWith", "endsWith", "=="})
QUANTIFIERS = frozenset({"any", "all", "none"})

MAX_ENTRIES = 16
"""Collections remembered per call site (the table is emptied when full)."""
MAX_BUILDS = 64
"""Derived structures a call site may build before it gives up (collections that keep changing)."""
MAX_TRIE_CHARS = 200_000
"""Beyond this many characters the ``contains`` test scans the elements instead of using a regex."""


@dataclass(frozen=True, slots=True)
class Shape:
    """A recognised predicate body: ``X <op> mapper(#)`` (or ``mapper(#) == X``)."""

    op: str
    x: ast.Node
    mapper: str | None


def _element(node: ast.Node) -> tuple[bool, str | None]:
    """(is the element side, mapper name) for ``#`` / ``Upper(#)``…"""
    if isinstance(node, ast.Pointer) and node.name == "":
        return True, None
    if (
        isinstance(node, ast.Call)
        and node.name in CASE_FUNCTIONS
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Pointer)
        and node.args[0].name == ""
    ):
        return True, node.name
    return False, None


def is_invariant(node: ast.Node) -> bool:
    """True if ``node`` is pure and cannot depend on the predicate's element."""
    if isinstance(node, ast.Nil | ast.Bool | ast.Int | ast.Float | ast.Str | ast.Ident):
        return True
    if isinstance(node, ast.Member):
        return is_invariant(node.obj) and is_invariant(node.key)
    if isinstance(node, ast.Chain):
        return is_invariant(node.node)
    if isinstance(node, ast.Call):
        return node.name in CASE_FUNCTIONS and all(is_invariant(a) for a in node.args)
    return False


def match_shape(quantifier: str, body: ast.Node) -> Shape | None:
    """The fast-path shape of a predicate body, or None."""
    if quantifier not in QUANTIFIERS or not isinstance(body, ast.Binary) or body.op not in OPERATORS:
        return None
    is_elem, mapper = _element(body.right)
    if is_elem and is_invariant(body.left):
        return Shape(body.op, body.left, mapper)
    if body.op == "==":
        is_elem, mapper = _element(body.left)
        if is_elem and is_invariant(body.right):
            return Shape(body.op, body.right, mapper)
    return None


def helper_function(name: str) -> Callable[..., Any]:
    """The callable a call ``name(…)`` compiles to (builtins shadow helpers, as in the compiler)."""
    found = registry.BUILTINS.get(name) or registry.HELPERS.get(name)
    if found is None:
        raise KeyError(name)
    return found.func


def memo_position(node: ast.Call) -> int | None:
    """Index of the ``#`` argument of a memoisable call ``F(…, #, …)`` whose other arguments are literals."""
    if node.name not in PURE_STR_FUNCTIONS:
        return None
    pos = None
    for i, arg in enumerate(node.args):
        if isinstance(arg, ast.Pointer) and arg.name == "" and pos is None:
            pos = i
        elif not isinstance(arg, ast.Str):
            return None
    return pos


class ElementMemo:
    """``F(…, #, …)`` inside a predicate, remembered per string element (bounded).

    Elements of data-file lists are the same strings at every evaluation, so the helper
    runs once per element instead of once per element per event. Errors are not cached
    (they are raised again); non-string elements are passed straight to the helper.
    """

    __slots__ = ("_args", "_cache", "_func", "_pos")

    MAX_ENTRIES = 4096

    def __init__(self, func: Callable[..., Any], pos: int, args: tuple[Any, ...]) -> None:
        self._func = func
        self._pos = pos
        self._args = args  # with a placeholder at pos
        self._cache: dict[str, Any] = {}

    def _call(self, e: Any) -> Any:
        args = list(self._args)
        args[self._pos] = e
        return self._func(*args)

    def __call__(self, e: Any) -> Any:
        if type(e) is not str:
            return self._call(e)
        cache = self._cache
        r = cache.get(e, _MISSING)
        if r is _MISSING:
            r = self._call(e)
            if len(cache) >= self.MAX_ENTRIES:
                cache.clear()
            cache[e] = r
        return r


_MISSING = object()


# --- derived structures ------------------------------------------------------------------

Test = Callable[[str], bool]


def trie_regex(words: list[str]) -> re.Pattern[str]:
    """One regex matching any of ``words`` (non-empty), built as a prefix trie of literals.

    At each position of the subject the regex follows one branch per character, so a
    search costs O(len(subject) × depth) instead of O(len(subject) × len(words)).
    """
    root: dict[str, Any] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True
    return re.compile(_trie_source(root))


def _trie_source(node: dict[str, Any]) -> str:
    alts = []
    for ch in sorted(k for k in node if k):
        literal = [ch]
        child = node[ch]
        while len(child) == 1 and "" not in child:  # a chain without branches: one literal
            (nxt, child), *_ = child.items()
            literal.append(nxt)
        alts.append(re.escape("".join(literal)) + _trie_source(child))
    if not alts:
        return ""
    body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    if "" in node:
        return "(?:" + body + ")?"
    return body


def _contains_any(words: list[str]) -> Test:
    if "" in words:
        return lambda x: True
    if sum(map(len, words)) <= MAX_TRIE_CHARS:
        try:
            search = trie_regex(words).search
        except (re.error, RecursionError, OverflowError):
            pass
        else:
            return lambda x: search(x) is not None
    items = tuple(words)
    return lambda x: any(map(x.__contains__, items))


def build_test(op: str, quantifier: str, words: list[str]) -> Test:
    """The whole predicate for a non-empty list of (mapped) string elements, given a string ``X``."""
    uniq = list(dict.fromkeys(words))
    items = tuple(uniq)
    if quantifier == "all":
        if op == "contains":
            return lambda x: all(map(x.__contains__, items))
        if op == "startsWith":
            return lambda x: all(map(x.startswith, items))
        if op == "endsWith":
            return lambda x: all(map(x.endswith, items))
        only = items[0] if len(items) == 1 else None
        return (lambda x: x == only) if only is not None else (lambda x: False)
    test: Test
    if op == "contains":
        test = _contains_any(uniq)
    elif op == "startsWith":
        test = lambda x: x.startswith(items)  # noqa: E731
    elif op == "endsWith":
        test = lambda x: x.endswith(items)  # noqa: E731
    else:
        members = frozenset(items)
        test = members.__contains__
    if quantifier == "none":
        return lambda x: not test(x)
    return test


# --- call sites ----------------------------------------------------------------------------


class _Entry:
    __slots__ = ("ref", "snapshot", "test")

    def __init__(self, ref: list[Any] | tuple[Any, ...]) -> None:
        self.ref = ref  # keeps the collection alive, so its id() is not reused
        self.snapshot: list[str] | tuple[str, ...] | None = None  # content the test was built from
        self.test: Test | None = None


_NOT_STRINGS: Test = lambda x: False  # noqa: E731 - marks collections with a non-string element

_GENERIC = {"any": p_any, "all": p_all, "none": p_none}
_LOOPS = {"any": any_items, "all": all_items, "none": none_items}


class StringSetSite:
    """One compiled ``any``/``all``/``none`` call of a recognised :class:`Shape`.

    Called as ``site(collection, x_thunk, predicate, budget)``: ``predicate`` is the
    ordinary compiled body, used whenever the fast path does not apply. A derived test is
    built the second time the same collection object is seen (fresh lists built per
    evaluation never pay for a build) and revalidated against a snapshot of its content.
    """

    __slots__ = (
        "_builds",
        "_empty",
        "_entries",
        "_generic",
        "_loop",
        "_mapper",
        "_on_nil",
        "op",
        "quantifier",
    )

    def __init__(self, quantifier: str, op: str, mapper: str | None) -> None:
        self.quantifier = quantifier
        self.op = op
        self._mapper = helper_function(mapper) if mapper is not None else None
        self._generic = _GENERIC[quantifier]
        self._loop = _LOOPS[quantifier]
        self._empty = quantifier != "any"  # all([]) and none([]) are true
        self._on_nil = quantifier == "none"  # a nil X never matches a string element
        self._entries: dict[int, _Entry] = {}
        self._builds = 0

    def __call__(self, coll: Any, xfn: Callable[[], Any], fn: Pred, budget: Budget) -> bool:
        t = type(coll)
        if t is list or t is tuple:
            if not coll:
                return self._empty
            test = self._lookup(coll)
            if test is not None:
                budget.spend(len(coll))
                x = xfn()
                if type(x) is str:
                    return test(x)
                if x is None:
                    return self._on_nil
                return self._loop(coll, fn)
        return self._generic(coll, fn, budget)

    def _lookup(self, coll: list[Any] | tuple[Any, ...]) -> Test | None:
        entries = self._entries
        entry = entries.get(id(coll))
        if entry is None or entry.ref is not coll:
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[id(coll)] = _Entry(coll)
            return None
        test = entry.test
        if test is _NOT_STRINGS:
            return None
        if test is not None:
            snapshot = entry.snapshot
            if snapshot is coll or snapshot == coll:
                return test
            entry.test = entry.snapshot = None  # changed in place: seen once again
            return None
        if self._builds >= MAX_BUILDS:
            return None
        self._builds += 1
        entry.test, entry.snapshot = self._build(coll)
        return None if entry.test is _NOT_STRINGS else entry.test

    def _build(self, coll: list[Any] | tuple[Any, ...]) -> tuple[Test, list[str] | tuple[str, ...] | None]:
        if not all(type(e) is str for e in coll):
            return _NOT_STRINGS, None
        snapshot = coll if type(coll) is tuple else list(coll)
        mapper = self._mapper
        words = list(coll) if mapper is None else [mapper(e) for e in coll]
        return build_test(self.op, self.quantifier, words), snapshot
