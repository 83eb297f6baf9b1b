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

from crowdwatch.parser.errors import ParserLoadError
from crowdwatch.yamlutil import Mapping, Scalar, YamlError, as_bool, as_int, as_str, is_null, type_name

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
DATA_KEYS = frozenset({"source_url", "dest_file", "type", "cache", "strategy", "size", "ttl"})


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
        m = _mapping(raw, "static", file, STATIC_KEYS)
        return cls(**{k: _str(m, k, file) for k in STATIC_KEYS}, line=m.line)


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
        m = _mapping(raw, "grok", file, GROK_KEYS)
        return cls(
            name=_str(m, "name", file),
            pattern=_str(m, "pattern", file),
            apply_on=_str(m, "apply_on", file),
            expression=_str(m, "expression", file),
            statics=[StaticSpec.from_yaml(s, file) for s in _list(m, "statics", file)],
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
        m = _mapping(raw, "stash entry", file, STASH_KEYS)
        size = m.get("size")
        return cls(
            name=_str(m, "name", file),
            key=_str(m, "key", file),
            value=_str(m, "value", file),
            ttl=_str(m, "ttl", file),
            size=0 if is_null(size) else _int(size, "stash size", file),
            strategy=_str(m, "strategy", file),
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
        m = _mapping(raw, "whitelist", file, WHITELIST_KEYS)
        return cls(
            reason=_str(m, "reason", file),
            ip=_str_list(m, "ip", file),
            cidr=_str_list(m, "cidr", file),
            expression=_str_list(m, "expression", file),
            line=m.line,
        )

    def has_entries(self) -> bool:
        return bool(self.ip or self.cidr or self.expression)


@dataclass(slots=True)
class DataSpec:
    """A ``data`` entry (§4.9): ``cache``/``strategy``/``size``/``ttl`` set up a regexp result cache."""

    source_url: str
    dest_file: str
    type: str
    cache: bool | None
    strategy: str
    size: int
    ttl: str  # Go duration text, "" when absent
    line: int

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> DataSpec:
        m = _mapping(raw, "data entry", file, DATA_KEYS)
        cache, size = m.get("cache"), m.get("size")
        return cls(
            source_url=_str(m, "source_url", file),
            dest_file=_str(m, "dest_file", file),
            type=_str(m, "type", file),
            cache=None if is_null(cache) else _bool(cache, "data cache", file),
            strategy=_str(m, "strategy", file),
            size=0 if is_null(size) else _int(size, "data size", file),
            ttl=_str(m, "ttl", file),
            line=m.line,
        )


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
        m = _mapping(raw, "node", file, NODE_KEYS)
        grok = None if is_null(m.get("grok")) else GrokSpec.from_yaml(m["grok"], file)
        wl = None if is_null(m.get("whitelist")) else WhitelistSpec.from_yaml(m["whitelist"], file)
        return cls(
            file=file,
            line=m.line,
            name=_str(m, "name", file),
            description=_str(m, "description", file),
            author=_str(m, "author", file),
            references=_str_list(m, "references", file),
            format=_str(m, "format", file),
            debug=_opt_bool(m, "debug", file),
            profiling=_opt_bool(m, "profiling", file),
            filter=_str(m, "filter", file),
            onsuccess=_str(m, "onsuccess", file),
            onsuccess_pos=m.get("onsuccess"),
            stage=_str(m, "stage", file),
            pattern_syntax=_pattern_syntax(m, file),
            grok=None if grok is None or grok.is_empty() else grok,
            nodes=[cls.from_yaml(n, file) for n in _list(m, "nodes", file)],
            statics=[StaticSpec.from_yaml(s, file) for s in _list(m, "statics", file)],
            stash=[StashSpec.from_yaml(s, file) for s in _list(m, "stash", file)],
            whitelist=wl,
            data=[DataSpec.from_yaml(d, file) for d in _list(m, "data", file)],
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


# --- strict decoding helpers -----------------------------------------------------------


def _mapping(raw: Any, what: str, file: str, allowed: frozenset[str]) -> Mapping:
    if not isinstance(raw, Mapping):
        raise ParserLoadError.at(f"{what}: expected a mapping, got a {type_name(raw)}", file, raw)
    for key in raw:
        if key not in allowed:
            line, col = raw.pos(key)
            raise ParserLoadError(f"{what}: unknown key {str(key)!r}", file, line, col)
    return raw


def _str(m: Mapping, key: str, file: str) -> str:
    """A Go string field: the scalar source text (kept as a :class:`Scalar` for its position)."""
    value = m.get(key)
    if isinstance(value, Scalar) and not is_null(value):
        return value
    try:
        return as_str(value, key, file)
    except YamlError as exc:
        raise ParserLoadError.from_yaml(exc) from None


def _opt_bool(m: Mapping, key: str, file: str) -> bool:
    value = m.get(key)
    return False if is_null(value) else _bool(value, key, file)


def _bool(value: Any, what: str, file: str) -> bool:
    try:
        return as_bool(value, what, file)
    except YamlError as exc:
        raise ParserLoadError.from_yaml(exc) from None


def _int(value: Any, what: str, file: str) -> int:
    try:
        return as_int(value, what, file)
    except YamlError as exc:
        raise ParserLoadError.from_yaml(exc) from None


def _list(m: Mapping, key: str, file: str) -> list[Any]:
    value = m.get(key)
    if is_null(value):
        return []
    if not isinstance(value, list):
        raise ParserLoadError.at(f"{key}: expected a list, got a {type_name(value)}", file, value)
    return value


def _str_list(m: Mapping, key: str, file: str) -> list[Scalar]:
    out: list[Scalar] = []
    for item in _list(m, key, file):
        if not isinstance(item, Scalar):
            raise ParserLoadError.at(f"{key}: expected a string, got a {type_name(item)}", file, item)
        out.append(item)
    return out


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
