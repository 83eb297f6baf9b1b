"""Skipping scenarios whose filter is certainly false, without evaluating it.

Most hub filters start with a test such as ``evt.Meta.log_type == 'ssh_failed-auth'`` or
``evt.Meta.service in ['http', 'tcp']``. When the **leftmost operand of the top-level
``&&`` chain** is such a test (a ``Meta``/``Parsed``/``Enriched``/``Line.Labels`` lookup
compared with string literals), a false test makes the whole filter false and nothing else
of it is evaluated (short circuit), so no side effect, error or count is skipped: routing on
that test is exactly equivalent to evaluating the filter. Such scenarios are indexed by
(map, key) → literal; the others are always offered the event. Candidates keep load order.

Routing reads the event once, before the first scenario; a scenario whose expressions may
write ``Meta``/``Parsed`` (``SetMeta``/``SetParsed``, e.g. ``http-cve-probing``) makes
``ScenarioSet.pour`` route the rest of the scenarios again on the changed event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from crowdwatch.event import Event
from crowdwatch.expr import ast
from crowdwatch.expr.parser import parse

if TYPE_CHECKING:
    from crowdwatch.scenarios.factory import Scenario

_AND = ("and", "&&")
_MAPS = {
    ("Meta",): lambda key: lambda evt: evt.Meta.get(key, ""),
    ("Parsed",): lambda key: lambda evt: evt.Parsed.get(key, ""),
    ("Enriched",): lambda key: lambda evt: evt.Enriched.get(key, ""),
    ("Line", "Labels"): lambda key: lambda evt: evt.Line.Labels.get(key, ""),
}
_CACHE_LIMIT = 4096

Lookup = tuple[tuple[str, ...], str]  # (map path, key)


def precheck(filter_text: str) -> tuple[Lookup, frozenset[str]] | None:
    """``((map path, key), literals)`` when the filter's leftmost conjunct tests a string-map
    entry against string literals; None otherwise."""
    try:
        node = parse(filter_text)
    except Exception:
        return None
    while isinstance(node, ast.Binary) and node.op in _AND:
        node = node.left
    if not isinstance(node, ast.Binary):
        return None
    if node.op == "==":
        for lhs, rhs in ((node.left, node.right), (node.right, node.left)):
            lookup = _map_entry(lhs)
            if lookup is not None and isinstance(rhs, ast.Str):
                return lookup, frozenset({rhs.value})
        return None
    if node.op == "in" and isinstance(node.right, ast.Array):
        lookup = _map_entry(node.left)
        items = node.right.items
        if lookup is not None and items and all(isinstance(i, ast.Str) for i in items):
            return lookup, frozenset(i.value for i in items if isinstance(i, ast.Str))
    return None


def _map_entry(node: ast.Node) -> Lookup | None:
    """``evt.<map>.<key>`` / ``evt.<map>['key']`` for the string maps of :data:`_MAPS`."""
    if not isinstance(node, ast.Member) or node.optional or not isinstance(node.key, ast.Str):
        return None
    path: list[str] = []
    obj = node.obj
    while isinstance(obj, ast.Member) and not obj.optional and isinstance(obj.key, ast.Str):
        path.append(obj.key.value)
        obj = obj.obj
    if not isinstance(obj, ast.Ident) or obj.name != "evt":
        return None
    key = tuple(reversed(path))
    return (key, node.key.value) if key in _MAPS else None


class Router:
    """Candidate scenarios for an event, in load order."""

    __slots__ = ("_always", "_by_slot", "_cache", "_getters", "_scenarios", "_tables")

    def __init__(self, scenarios: Sequence[Scenario]) -> None:
        self._scenarios = list(scenarios)
        lookups: dict[Lookup, dict[str, set[int]]] = {}
        always: list[int] = []
        for i, scn in enumerate(self._scenarios):
            check = precheck(scn.filter_text)
            if check is None:
                always.append(i)
                continue
            table = lookups.setdefault(check[0], {})
            for literal in check[1]:
                table.setdefault(literal, set()).add(i)
        self._always = frozenset(always)
        self._getters: list[Callable[[Event], object]] = [_MAPS[path](key) for path, key in lookups]
        # per lookup: literal -> slot number (the slots of an event form the cache key) and,
        # per slot, the scenarios whose leftmost test that literal passes
        self._tables = [{lit: n for n, lit in enumerate(table)} for table in lookups.values()]
        self._by_slot = [[frozenset(idx) for idx in table.values()] for table in lookups.values()]
        self._cache: dict[tuple[int, ...], list[Scenario]] = {}

    def route(self, evt: Event) -> list[Scenario]:
        slots: list[int] = []
        for getter, table in zip(self._getters, self._tables):
            try:
                slots.append(table.get(getter(evt), -1))  # type: ignore[call-overload]
            except TypeError:  # an unhashable value put into a map by an expression
                slots.append(-1)
        key = tuple(slots)
        found = self._cache.get(key)
        if found is None:
            chosen = set(self._always)
            for slot, by_slot in zip(slots, self._by_slot):
                if slot >= 0:
                    chosen |= by_slot[slot]
            found = [self._scenarios[i] for i in sorted(chosen)]
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return found
