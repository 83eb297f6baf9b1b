"""Typed parser-node configuration decoded strictly from YAML (ENGINE.md §4.1–§4.2).

Decoding mirrors a strict Go YAML decoder: unknown keys and wrongly-typed values are load
errors naming ``file:line:col``; string fields keep the scalar's source text; null means
"unset". Semantic checks that need compilation (expressions, grok, IPs) live in
:mod:`crowdwatch.parser.node`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crowdwatch.itemschema import DataSpec, StrictDecoder
from crowdwatch.parser.errors import ParserLoadError
from crowdwatch.yamlutil import Mapping, Scalar, is_null, type_name

NODE_KEYS = frozenset(
    {
        "name",
        "description",
        "author",
        "references",
        "format",
        "debug",
        "profiling",
        "filter",
        "onsuccess",
        "pattern_syntax",
        "grok",
        "nodes",
        "statics",
        "stash",
        "whitelist",
        "data",
        "stage",
    }
)
GROK_KEYS = frozenset({"name", "pattern", "apply_on", "expression", "statics"})
STATIC_KEYS = frozenset({"method", "parsed", "meta", "enriched", "target", "value", "expression"})
STASH_KEYS = frozenset({"name", "key", "value", "ttl", "size", "strategy"})
WHITELIST_KEYS = frozenset({"reason", "ip", "cidr", "expression"})

_decode = StrictDecoder(ParserLoadError)


@dataclass(slots=True)
class StaticSpec:
    """One ``statics`` entry: a target (method/parsed/meta/enriched/target) and a source."""

    method: str = ""
    parsed: str = ""
    meta: str = ""
    enriched: str = ""
    target: str = ""
    value: str = ""
    expression: str = ""
    line: int = 0

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> StaticSpec:
        m = _decode.mapping(raw, "static", file, STATIC_KEYS)
        return cls(**{k: _decode.text(m, k, file) for k in STATIC_KEYS}, line=m.line)


@dataclass(slots=True)
class GrokSpec:
    name: str = ""
    pattern: str = ""
    apply_on: str = ""
    expression: str = ""
    statics: list[StaticSpec] = field(default_factory=list)
    line: int = 0

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> GrokSpec:
        m = _decode.mapping(raw, "grok", file, GROK_KEYS)
        return cls(
            name=_decode.text(m, "name", file),
            pattern=_decode.text(m, "pattern", file),
            apply_on=_decode.text(m, "apply_on", file),
            expression=_decode.text(m, "expression", file),
            statics=[StaticSpec.from_yaml(s, file) for s in _decode.items(m, "statics", file)],
            line=m.line,
        )

    def is_empty(self) -> bool:
        return not (self.name or self.pattern or self.apply_on or self.expression or self.statics)


@dataclass(slots=True)
class StashSpec:
    name: str
    key: str
    value: str
    ttl: str
    size: int
    strategy: str
    line: int

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> StashSpec:
        m = _decode.mapping(raw, "stash entry", file, STASH_KEYS)
        size = m.get("size")
        return cls(
            name=_decode.text(m, "name", file),
            key=_decode.text(m, "key", file),
            value=_decode.text(m, "value", file),
            ttl=_decode.text(m, "ttl", file),
            size=0 if is_null(size) else _decode.integer(size, "stash size", file),
            strategy=_decode.text(m, "strategy", file),
            line=m.line,
        )


@dataclass(slots=True)
class WhitelistSpec:
    reason: str = ""
    ip: list[Scalar] = field(default_factory=list)
    cidr: list[Scalar] = field(default_factory=list)
    expression: list[Scalar] = field(default_factory=list)
    line: int = 0

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> WhitelistSpec:
        m = _decode.mapping(raw, "whitelist", file, WHITELIST_KEYS)
        return cls(
            reason=_decode.text(m, "reason", file),
            ip=_decode.str_list(m, "ip", file, allow_null=True),
            cidr=_decode.str_list(m, "cidr", file, allow_null=True),
            expression=_decode.str_list(m, "expression", file, allow_null=True),
            line=m.line,
        )

    def has_entries(self) -> bool:
        return bool(self.ip or self.cidr or self.expression)


@dataclass(slots=True)
class NodeSpec:
    """One parser node (a YAML document or an entry of ``nodes``)."""

    file: str
    line: int
    name: str = ""
    description: str = ""
    author: str = ""
    references: list[Scalar] = field(default_factory=list)
    format: str = ""
    debug: bool = False
    profiling: bool = False
    filter: str = ""
    onsuccess: str = ""
    onsuccess_pos: Any = None
    stage: str = ""
    pattern_syntax: list[tuple[Scalar, str]] = field(default_factory=list)
    grok: GrokSpec | None = None
    nodes: list[NodeSpec] = field(default_factory=list)
    statics: list[StaticSpec] = field(default_factory=list)
    stash: list[StashSpec] = field(default_factory=list)
    whitelist: WhitelistSpec | None = None
    data: list[DataSpec] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> NodeSpec:
        m = _decode.mapping(raw, "node", file, NODE_KEYS)
        grok = None if is_null(m.get("grok")) else GrokSpec.from_yaml(m["grok"], file)
        wl = None if is_null(m.get("whitelist")) else WhitelistSpec.from_yaml(m["whitelist"], file)
        return cls(
            file=file,
            line=m.line,
            name=_decode.text(m, "name", file),
            description=_decode.text(m, "description", file),
            author=_decode.text(m, "author", file),
            references=_decode.str_list(m, "references", file, allow_null=True),
            format=_decode.text(m, "format", file),
            debug=_decode.opt_bool(m, "debug", file),
            profiling=_decode.opt_bool(m, "profiling", file),
            filter=_decode.text(m, "filter", file),
            onsuccess=_decode.text(m, "onsuccess", file),
            onsuccess_pos=m.get("onsuccess"),
            stage=_decode.text(m, "stage", file),
            pattern_syntax=_pattern_syntax(m, file),
            grok=None if grok is None or grok.is_empty() else grok,
            nodes=[cls.from_yaml(n, file) for n in _decode.items(m, "nodes", file)],
            statics=[StaticSpec.from_yaml(s, file) for s in _decode.items(m, "statics", file)],
            stash=[StashSpec.from_yaml(s, file) for s in _decode.items(m, "stash", file)],
            whitelist=wl,
            data=[DataSpec.from_yaml(d, file, _decode) for d in _decode.items(m, "data", file)],
        )


# --- Go durations ----------------------------------------------------------------------

_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """Parse a Go ``time.ParseDuration`` string (``"1h30m"``, ``"10s"``, ``"0"``) into seconds."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-") if s[:1] in "+-" else s
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return sign * total


# --- decoding helpers ------------------------------------------------------------------


def _pattern_syntax(m: Mapping, file: str) -> list[tuple[Scalar, str]]:
    value = m.get("pattern_syntax")
    if is_null(value):
        return []
    if not isinstance(value, Mapping):
        raise ParserLoadError.at(f"pattern_syntax: expected a mapping, got a {type_name(value)}", file, value)
    out: list[tuple[Scalar, str]] = []
    for name, body in value.items():
        if not isinstance(body, Scalar):
            raise ParserLoadError.at(
                f"pattern_syntax {name}: expected a string, got a {type_name(body)}", file, body
            )
        out.append((name, str(body)))
    return out
