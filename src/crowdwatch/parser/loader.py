"""Loading parser files into ordered, compiled nodes (ENGINE.md §4.1, §4.9)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crowdwatch import yamlutil
from crowdwatch.itemschema import load_data
from crowdwatch.parser.errors import ParserLoadError
from crowdwatch.parser.model import NodeSpec
from crowdwatch.parser.node import Node, NodeCompiler

if TYPE_CHECKING:
    from crowdwatch.grok import PatternLibrary
    from crowdwatch.parser.statics import EnricherCaller

log = logging.getLogger("crowdwatch.parser")

FORMAT_MIN_MAJOR = 1  # supported node formats: >= 1.0, <= 3.0
FORMAT_MAX_MAJOR = 3
_VERSION = re.compile(r"^v?([0-9]+(?:\.[0-9]+)*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True, slots=True)
class ParserFile:
    """A parser file of ``stage``; ``text`` (when given) is parsed instead of reading ``path``."""

    stage: str
    path: Path
    text: str | None = None


@dataclass(slots=True)
class LoadContext:
    """What loading needs: the shared grok library, the data directory and the enrichers."""

    patterns: PatternLibrary
    data_dir: Path | None
    enrichers: EnricherCaller


def load_nodes(files: Sequence[ParserFile], ctx: LoadContext, next_of: dict[str, str]) -> list[Node]:
    """Compile the top-level nodes of ``files`` in pipeline order (stage, file name, document)."""
    compiler = NodeCompiler(ctx.patterns, ctx.enrichers, next_of)
    ordered = sorted(files, key=lambda f: (f.stage.encode(), f.path.name.encode()))
    nodes: list[Node] = []
    for pfile in ordered:
        file = str(pfile.path)
        try:
            docs = (
                yamlutil.load_all(pfile.text, file)
                if pfile.text is not None
                else yamlutil.load_file(pfile.path)
            )
        except yamlutil.YamlError as exc:
            raise ParserLoadError.from_yaml(exc) from None
        for doc in docs:
            if doc is None:
                continue
            spec = NodeSpec.from_yaml(doc, file)
            if not (spec.name or spec.description or spec.author):
                log.info("%s:%d: node has no name, author or description, skipped", file, spec.line)
                continue
            if not format_supported(spec.format or "1.0"):
                log.error(
                    "%s:%d: node format %r is not supported, skipped", file, spec.line, str(spec.format)
                )
                continue
            nodes.append(compiler.compile(spec, pfile.stage))
            for data in spec.data:
                load_data(data, ctx.data_dir, file, log, invalid=ParserLoadError)
    return nodes


def format_supported(text: str) -> bool:
    """True if the version ``text`` satisfies ``>= 1.0, <= 3.0``."""
    m = _VERSION.match(text.strip())
    if m is None:
        return False
    parts = tuple(int(p) for p in m.group(1).split("."))
    width = max(len(parts), 2)
    version = parts + (0,) * (width - len(parts))
    zeros = (0,) * (width - 1)
    return (FORMAT_MIN_MAJOR, *zeros) <= version <= (FORMAT_MAX_MAJOR, *zeros)
