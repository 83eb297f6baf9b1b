"""Alert context: the ``meta`` of an alert (ENGINE.md §7.3).

Context keys come from hub ``contexts`` items (``context: {key: [expr, …]}``; other top-level
keys are item metadata and ignored) merged, in load order, with the console file
(``<config>/console/context.yaml``: ``{key: [expr, …]}``). Expressions of a key that is seen
again are appended (an expression text already listed for the key is not repeated). Values
must be lists of strings and every expression must compile, else :class:`ContextLoadError`
names ``file:line``.

At overflow every expression is evaluated for every queued event (``evt``, with empty
``match``/``req``); strings and ints, alone or in lists, are collected per key (first-seen
order, de-duplicated, empty strings dropped). A key with values becomes ``(key, JSON array
text)``, shortened to ``max_length`` bytes. Runtime errors and other result types are skipped.

Deviation: Go iterates the keys of a map (random order); here ``meta`` is sorted by key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from crowdwatch import yamlutil
from crowdwatch.event import Event
from crowdwatch.expr import compile_expr
from crowdwatch.expr.errors import ExprSyntaxError
from crowdwatch.expr.helpers.jsonfuncs import go_json_dumps
from crowdwatch.itemschema import ItemLoadError, StrictDecoder

log = logging.getLogger("crowdwatch.scenarios")

MAX_VALUE_LENGTH = 4000
"""Default and maximum of ``console_context_value_length`` (bytes of a key's JSON text)."""
CONTEXT_ENV = {"evt": "Event", "match": "any", "req": "any"}

ContextFn = Callable[[Event, Any, Any], Any]


class ContextLoadError(ItemLoadError):
    """An alert context file cannot be loaded. ``str()`` is ``file:line[:col]: message``."""


_decode = StrictDecoder(ContextLoadError)


class AlertContext:
    """Compiled context expressions per key; :meth:`meta` builds an alert's ``meta``."""

    __slots__ = ("_sources", "keys", "max_length")

    def __init__(self, max_length: int = 0) -> None:
        if max_length > MAX_VALUE_LENGTH:
            log.warning(
                "console_context_value_length %d is above the maximum, %d used", max_length, MAX_VALUE_LENGTH
            )
        self.max_length = MAX_VALUE_LENGTH if max_length <= 0 or max_length > MAX_VALUE_LENGTH else max_length
        self.keys: dict[str, list[ContextFn]] = {}
        self._sources: dict[str, set[str]] = {}

    @classmethod
    def load(
        cls, items: Iterable[Path] = (), console: Path | None = None, max_length: int = 0
    ) -> AlertContext:
        """Hub ``contexts`` item files, then the console file (skipped when it does not exist)."""
        ctx = cls(max_length)
        for path in items:
            for doc in _documents(path):
                top = _mapping(doc, "context item", str(path))
                if not yamlutil.is_null(top.get("context")):
                    ctx.add(top["context"], str(path))
        if console is not None and console.exists():
            for doc in _documents(console):
                ctx.add(doc, str(console))
        return ctx

    def add(self, raw: Any, file: str) -> None:
        """Merge a ``{key: [expr, …]}`` mapping read from ``file``."""
        keys = _mapping(raw, "context", file)
        for key in keys:
            exprs = self.keys.setdefault(str(key), [])
            seen = self._sources.setdefault(str(key), set())
            for text in _decode.str_list(keys, key, file, allow_null=False):
                if str(text) in seen:
                    continue
                try:
                    exprs.append(compile_expr(str(text), CONTEXT_ENV).fn)
                except ExprSyntaxError as exc:
                    raise ContextLoadError.at(
                        f"context {key}: invalid expression: {exc}", file, text
                    ) from None
                seen.add(str(text))

    def meta(self, queued: Sequence[Event]) -> list[tuple[str, str]]:
        """``(key, JSON array text)`` for every key with values over ``queued``, sorted by key."""
        out: list[tuple[str, str]] = []
        for key in sorted(self.keys):
            values: dict[str, None] = {}
            for fn in self.keys[key]:
                for evt in queued:
                    try:
                        result = fn(evt, {}, {})
                    except Exception as exc:
                        log.debug("context %s: expression failed: %s", key, exc)
                        continue
                    collect(result, values)
            if values:
                out.append((key, truncate(list(values), self.max_length)))
        return out


def collect(result: Any, values: dict[str, None]) -> None:
    """Add a string, an int or a list of them to ``values`` (empty strings dropped)."""
    items = result if isinstance(result, list) else (result,)
    for item in items:
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            item = str(item)
        if isinstance(item, str) and item:
            values[item] = None


def truncate(values: list[str], max_length: int) -> str:
    """JSON text of ``values`` within ``max_length`` bytes: trailing values are dropped, then the
    last one is halved (bytes) with ``...`` appended until it fits (or cannot shrink further)."""
    text = go_json_dumps(values)
    while len(text.encode()) > max_length:
        if len(values) > 1:
            values = values[:-1]
        else:
            raw = values[0].encode()
            half = raw[: len(raw) // 2] + b"..."
            if len(half) >= len(raw):
                break
            values = [half.decode(errors="replace")]
        text = go_json_dumps(values)
    return text


def _mapping(raw: Any, what: str, file: str) -> yamlutil.Mapping:
    if not isinstance(raw, yamlutil.Mapping):
        raise ContextLoadError.at(f"{what}: expected a mapping, got a {yamlutil.type_name(raw)}", file, raw)
    return raw


def _documents(path: Path) -> list[Any]:
    try:
        docs = yamlutil.load_file(path)
    except yamlutil.YamlError as exc:
        raise ContextLoadError.from_yaml(exc) from None
    return [d for d in docs if not yamlutil.is_null(d)]
