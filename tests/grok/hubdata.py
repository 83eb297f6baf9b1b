"""Grok patterns used by the hub snapshot (test helper)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crowdwatch.grok import PatternLibrary

SHARED = Path(__file__).resolve().parents[3] / "shared"  # ../shared beside the checkout
HUB = SHARED / "hub"
CASES = SHARED / "hubtest" / "cases"


@dataclass(frozen=True)
class GrokUse:
    """One grok node of a hub parser: ``name`` or inline ``pattern`` text."""

    file: Path
    name: str | None
    pattern: str | None
    apply_on: str | None


def parser_files() -> list[Path]:
    return sorted((HUB / "parsers").rglob("*.yaml")) + sorted((HUB / "postoverflows").rglob("*.yaml"))


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for doc in yaml.safe_load_all(handle):
            if isinstance(doc, dict):
                yield doc


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("nodes") or []:
        if isinstance(child, dict):
            yield from _nodes(child)


def pattern_syntax(path: Path) -> Iterator[tuple[str, str]]:
    for doc in _documents(path):
        for node in _nodes(doc):
            for name, body in (node.get("pattern_syntax") or {}).items():
                yield str(name), str(body)


def grok_uses(path: Path) -> Iterator[GrokUse]:
    for doc in _documents(path):
        for node in _nodes(doc):
            grok = node.get("grok")
            if isinstance(grok, dict):
                yield GrokUse(path, grok.get("name"), grok.get("pattern"), grok.get("apply_on"))


def hub_library() -> PatternLibrary:
    """Base + hub pattern files + every parser's ``pattern_syntax`` (first wins)."""
    library = PatternLibrary.with_base()
    library.load_dir(HUB / "patterns")
    for path in parser_files():
        for name, body in pattern_syntax(path):
            library.add(name, body)
    return library
