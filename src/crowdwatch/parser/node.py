"""Runtime parser nodes: compilation from :class:`NodeSpec` and per-event processing (§4.3, §4.5, §4.7)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crowdwatch.event import Event
from crowdwatch.expr import compile_expr
from crowdwatch.expr.errors import ExprSyntaxError
from crowdwatch.expr.helpers import stash as stash_cache
from crowdwatch.grok import GrokError
from crowdwatch.parser.errors import ParserLoadError
from crowdwatch.parser.model import NodeSpec, StashSpec, parse_duration
from crowdwatch.parser.statics import EnricherCaller, StaticsRunner, compile_statics, go_float, statics_runner
from crowdwatch.parser.whitelist import Whitelist

if TYPE_CHECKING:
    from crowdwatch.grok import PatternLibrary

log = logging.getLogger("crowdwatch.parser")

ExprFn = Callable[[Event], Any]
StashEntry = tuple[str, ExprFn, ExprFn]

# where a grok reads its input
GROK_RAW = 0  # apply_on: Line.Raw
GROK_PARSED = 1  # apply_on: <Parsed key>
GROK_EXPR = 2  # expression

ONSUCCESS_VALUES = ("", "continue", "next_stage")


class Node:
    """One compiled node. :meth:`process` runs it on an event and returns its success."""

    __slots__ = (
        "children",
        "filter",
        "grok_expr",
        "grok_key",
        "grok_match",
        "grok_source",
        "grok_statics",
        "hits",
        "name",
        "next_of",
        "next_stage",
        "ok",
        "stage",
        "stash",
        "statics",
        "whitelist",
    )

    def __init__(self, name: str, stage: str, next_of: dict[str, str]) -> None:
        self.name = name
        self.stage = stage
        self.next_of = next_of  # stage -> following stage, shared by a pipeline's nodes
        self.filter: ExprFn | None = None
        self.next_stage = False
        self.whitelist: Whitelist | None = None
        self.grok_match: Callable[[str], dict[str, str] | None] | None = None
        self.grok_source = GROK_RAW
        self.grok_key = ""
        self.grok_expr: ExprFn | None = None
        self.grok_statics: StaticsRunner | None = None
        self.stash: tuple[StashEntry, ...] = ()
        self.children: tuple[Node, ...] = ()
        self.statics: StaticsRunner | None = None
        self.hits = 0  # filter passed
        self.ok = 0  # succeeded

    def process(self, evt: Event) -> bool:
        """Run this node on ``evt`` (ENGINE.md §4.3). May raise ``DropEvent``."""
        flt = self.filter
        if flt is not None:
            try:
                if flt(evt) is not True:
                    return False
            except Exception as exc:
                log.debug("node %s: filter failed: %s", self.name, exc)
                return False
        self.hits += 1
        wl = self.whitelist
        whitelisted = wl.check(evt) if wl is not None else False

        match = self.grok_match
        grok_ok = False
        state = True
        if match is not None:
            # A missing apply_on key or a failing expression fails the node but, as in
            # CrowdSec, the pattern still runs on "" (its captures are kept if it matches).
            source = self.grok_source
            if source == GROK_RAW:
                text = evt.Line.Raw
            elif source == GROK_PARSED:
                text = evt.Parsed.get(self.grok_key, "")
                state = self.grok_key in evt.Parsed
            else:
                text, state = self._expression_input(evt)
            captures = match(text)
            if captures:
                grok_ok = True
                evt.Parsed.update(captures)
                grok_statics = self.grok_statics
                if grok_statics is not None:
                    grok_statics(evt)
            else:
                state = False

        if self.stash and (match is None or grok_ok):
            _run_stash(self.stash, evt)

        for child in self.children:
            if child.process(evt):
                state = True
                if self.next_stage:
                    break
            elif not grok_ok:
                state = False

        if not state:
            return False
        statics = self.statics
        if statics is not None and (wl is None or whitelisted):
            statics(evt)
        if self.next_stage:
            following = self.next_of.get(evt.Stage)
            if following is not None:
                evt.Stage = following
        self.ok += 1
        return True

    def _expression_input(self, evt: Event) -> tuple[str, bool]:
        """The grok input from ``expression``, and False if the expression failed."""
        assert self.grok_expr is not None
        try:
            out = self.grok_expr(evt)
        except Exception as exc:
            log.debug("node %s: grok expression failed: %s", self.name, exc)
            return "", False
        t = type(out)
        if t is str:
            return out, True
        if t is int:
            return str(out), True
        if t is float:
            return go_float(out), True
        log.debug("node %s: grok expression returned a %s, using an empty string", self.name, t.__name__)
        return "", True

    def walk(self) -> list[Node]:
        """This node and all its descendants, depth first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _run_stash(entries: tuple[StashEntry, ...], evt: Event) -> None:
    for name, key_fn, value_fn in entries:
        try:
            value = value_fn(evt)
            key = key_fn(evt) if type(value) is str else None
        except Exception as exc:
            log.debug("stash %s: expression failed: %s", name, exc)
            continue
        if type(key) is not str:
            log.debug("stash %s: key and value must be strings", name)
            continue
        stash_cache.set(name, key, value)


@dataclass(slots=True)
class NodeCompiler:
    """Compiles node specs of one pipeline (shared pattern library, enrichers, stage map)."""

    patterns: PatternLibrary
    enrichers: EnricherCaller
    next_of: dict[str, str]

    def compile(self, spec: NodeSpec, stage: str, default_name: str = "") -> Node:
        file = spec.file
        if spec.onsuccess not in ONSUCCESS_VALUES:
            raise ParserLoadError.at(
                f"onsuccess must be 'continue' or 'next_stage', not {str(spec.onsuccess)!r}",
                file,
                spec.onsuccess_pos,
            )
        has_whitelist = spec.whitelist is not None and spec.whitelist.has_entries()
        if spec.grok is None and not spec.nodes and not spec.statics and not has_whitelist:
            raise ParserLoadError("Node is empty", file, spec.line)
        node = Node(str(spec.name) or default_name, stage, self.next_of)
        node.next_stage = spec.onsuccess == "next_stage"
        if spec.filter:
            node.filter = self.expr(spec.filter, file, spec.line)
        for name, body in spec.pattern_syntax:
            try:
                added = self.patterns.add(str(name), body)
            except GrokError as exc:
                raise ParserLoadError.at(f"pattern_syntax {name}: {exc}", file, name) from None
            if not added:
                log.warning(
                    "%s:%d: grok pattern %s already defined, keeping the first one", file, name.line, name
                )
        if spec.grok is not None:
            self._compile_grok(node, spec, file)
        node.stash = tuple(self._compile_stash(s, file) for s in spec.stash)
        child_name = f"child-{node.name}"
        node.children = tuple(self.compile(child, stage, child_name) for child in spec.nodes)
        node.statics = statics_runner(compile_statics(spec.statics, file, self.enrichers, self.expr))
        if has_whitelist:
            assert spec.whitelist is not None
            node.whitelist = Whitelist.compile(spec.whitelist, file, self.expr)
        return node

    def expr(self, source: str, file: str, line: int) -> ExprFn:
        """Compile an expression of ``evt``; syntax errors become :class:`ParserLoadError`."""
        line = getattr(source, "line", 0) or line
        try:
            return compile_expr(str(source), {"evt": "Event"}).fn
        except ExprSyntaxError as exc:
            raise ParserLoadError(f"invalid expression {str(source)!r}: {exc}", file, line) from None

    def _compile_grok(self, node: Node, spec: NodeSpec, file: str) -> None:
        grok = spec.grok
        assert grok is not None
        if not grok.name and not grok.pattern:
            raise ParserLoadError("grok needs a 'name' or a 'pattern'", file, grok.line)
        if not grok.apply_on and not grok.expression:
            raise ParserLoadError("grok needs 'apply_on' or 'expression'", file, grok.line)
        try:
            compiled = (
                self.patterns.compile_name(str(grok.name))
                if grok.name
                else self.patterns.compile(grok.pattern)
            )
        except GrokError as exc:
            raise ParserLoadError(
                f"grok: {exc}", file, getattr(grok.name or grok.pattern, "line", grok.line)
            ) from None
        node.grok_match = compiled.match
        if grok.apply_on == "Line.Raw":
            node.grok_source = GROK_RAW
        elif grok.apply_on:
            node.grok_source = GROK_PARSED
            node.grok_key = str(grok.apply_on)
        else:
            node.grok_source = GROK_EXPR
            node.grok_expr = self.expr(grok.expression, file, grok.line)
        node.grok_statics = statics_runner(compile_statics(grok.statics, file, self.enrichers, self.expr))

    def _compile_stash(self, spec: StashSpec, file: str) -> StashEntry:
        for what in ("name", "key", "value", "ttl"):
            if not getattr(spec, what):
                raise ParserLoadError(f"stash entry needs a '{what}'", file, spec.line)
        try:
            ttl = parse_duration(spec.ttl)
        except ValueError as exc:
            raise ParserLoadError.at(f"stash ttl: {exc}", file, spec.ttl) from None
        name = str(spec.name)
        key_fn = self.expr(spec.key, file, spec.line)
        value_fn = self.expr(spec.value, file, spec.line)
        try:
            stash_cache.define(name, spec.size or 100, ttl, str(spec.strategy) or "LRU")
        except ValueError as exc:
            raise ParserLoadError.at(f"stash {name}: {exc}", file, spec.strategy) from None
        return (name, key_fn, value_fn)
