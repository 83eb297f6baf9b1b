"""Shared helpers for parser tests: build a pipeline from inline YAML files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from crowdwatch.event import LOG, TIMEMACHINE, Event, Line
from crowdwatch.grok import PatternLibrary
from crowdwatch.parser import LoadContext, ParserFile, ParserPipeline
from crowdwatch.parser.enrichers import Enrichers


def build(files: Mapping[str, str], data_dir: Path | None = None) -> ParserPipeline:
    """A pipeline from ``{"<stage>/<file>.yaml": text}``."""
    ctx = LoadContext(PatternLibrary.with_base(), data_dir, Enrichers(data_dir))
    parser_files = [
        ParserFile(key.split("/")[0], Path("/cfg/parsers") / key, text) for key, text in files.items()
    ]
    return ParserPipeline.load(parser_files, ctx)


def event(raw: str = "", type_: str = "syslog", **labels: str) -> Event:
    line = Line(raw=raw, src="/var/log/test.log", labels={"type": type_, **labels}, module="file")
    return Event(line, expect_mode=TIMEMACHINE, type_=LOG)
