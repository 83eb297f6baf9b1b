"""Data files declared in ``data:`` sections and the helpers reading them (ENGINE.md §4.9).

Files are keyed by ``dest_file`` and loaded once for the whole process. Lines starting
with ``#`` and empty lines are skipped; lines are not trimmed (only the line terminator
is removed). A missing file is logged and behaves as an empty file.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdwatch.expr.helpers.bots import Bot, match_known_bot, parse_bot_line
from crowdwatch.expr.helpers.durations import parse_go_duration
from crowdwatch.expr.helpers.govalues import want_str
from crowdwatch.expr.helpers.ttlcache import TTLCache
from crowdwatch.expr.regexes import compile_re2
from crowdwatch.expr.registry import helper

log = logging.getLogger("crowdwatch.data")

TYPES = ("string", "regexp", "regex", "map", "bots")
DEFAULT_CACHE_SIZE = 50
IMPLICIT_CACHE_SIZE = 2048  # RegexpInFile results kept when the item configures no cache


class DataFileError(ValueError):
    """A ``data:`` entry that cannot be honoured (unknown type, bad cache settings)."""


@dataclass(slots=True)
class RegexpFile:
    patterns: list[Any]
    combined: Any | None  # one alternation of every pattern, when it compiles
    cache: TTLCache | None = None

    def search(self, s: str) -> bool:
        if self.cache is not None:
            hit = self.cache.get(s)
            if hit is not None:
                return bool(hit)
        if self.combined is not None:
            found = self.combined.search(s) is not None
        else:
            found = any(p.search(s) for p in self.patterns)
        if self.cache is not None:
            self.cache.set(s, found)
        return found


@dataclass(slots=True)
class MapFile:
    rows: list[dict[str, str]] = field(default_factory=list)
    equals: dict[str, str] = field(default_factory=dict)
    contains: list[tuple[str, str]] = field(default_factory=list)
    regexes: list[tuple[Any, str]] = field(default_factory=list)

    def lookup(self, s: str) -> str:
        tag = self.equals.get(s)
        if tag is not None:
            return tag
        best_pos = -1
        best_tag = ""
        for pattern, row_tag in self.contains:
            pos = s.find(pattern)
            if pos >= 0 and (best_pos < 0 or pos < best_pos):
                best_pos, best_tag = pos, row_tag
                if pos == 0:
                    break
        if best_pos >= 0:
            return best_tag
        for regex, row_tag in self.regexes:
            if regex.search(s):
                return row_tag
        return ""


_strings: dict[str, list[str]] = {}
_regexps: dict[str, RegexpFile] = {}
_maps: dict[str, MapFile] = {}
_bots: dict[str, list[Bot]] = {}
_reported: set[str] = set()


def _read_lines(path: Path) -> list[tuple[int, str]] | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        log.warning("data file %s not found: helpers will see it as empty", path)
        return None
    except OSError as exc:
        log.warning("cannot read data file %s: %s", path, exc)
        return None
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if line and not line.startswith("#"):
            out.append((n, line))
    return out


def _regexp_file(path: Path, lines: list[tuple[int, str]], cache: TTLCache | None) -> RegexpFile:
    from crowdwatch.grok.translate import RegexError

    patterns = []
    sources = []
    for n, line in lines:
        try:
            patterns.append(compile_re2(line))
            sources.append(line)
        except RegexError as exc:
            log.error("%s:%d: skipping invalid regular expression: %s", path, n, exc)
    return RegexpFile(patterns, _alternation(sources) if len(sources) > 1 else None, cache)


def _alternation(sources: list[str]) -> Any | None:
    """One regex searching for any of ``sources`` (same answer as trying each in turn).

    The lines are RE2 syntax, so the C++ RE2 library compiles the alternation natively and
    matches it in linear time; ``compile_re2`` is the fallback. ``None`` if neither accepts it.
    """
    import re2

    from crowdwatch.grok.translate import RegexError

    text = "|".join(f"(?:{s})" for s in sources)
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    try:
        return re2.compile(text, options)
    except re2.error:
        pass
    try:
        return compile_re2(text)
    except RegexError:
        return None


def _map_file(path: Path, lines: list[tuple[int, str]]) -> MapFile:
    result = MapFile()
    for n, line in lines:
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            pattern, tag, kind = (str(row.get(k, "")) for k in ("pattern", "tag", "type"))
            if kind == "equals":
                result.equals.setdefault(pattern, tag)
            elif kind == "contains":
                result.contains.append((pattern, tag))
            elif kind == "regex":
                result.regexes.append((compile_re2(pattern), tag))
            else:
                raise ValueError(f"unknown type {kind!r} (expected equals, contains or regex)")
        except ValueError as exc:  # RegexError is a ValueError
            log.error("%s:%d: skipping map entry: %s", path, n, exc)
            continue
        result.rows.append({k: v if isinstance(v, str) else json.dumps(v) for k, v in row.items()})
    return result


def _bot_file(path: Path, lines: list[tuple[int, str]]) -> list[Bot]:
    bots = []
    for n, line in lines:
        try:
            bots.append(parse_bot_line(line))
        except ValueError as exc:  # RegexError is a ValueError
            log.error("%s:%d: skipping bot definition: %s", path, n, exc)
    return bots


def _result_cache(dest_file: str, cache: bool | None, strategy: str, size: int, ttl: str) -> TTLCache | None:
    if cache is False:
        return None
    if not (cache or strategy or size or ttl):
        # No cache asked for: results are a pure function of the text, so a small LRU of
        # recent answers changes nothing but the cost (user agents and paths repeat a lot).
        return TTLCache(IMPLICIT_CACHE_SIZE, 0.0, time.monotonic)
    if strategy and strategy.upper() not in ("LRU", "LFU", "ARC"):
        raise DataFileError(f"data file {dest_file}: unknown cache strategy {strategy!r}")
    seconds = 0.0
    if ttl:
        try:
            seconds = parse_go_duration(ttl) / 1e9
        except ValueError as exc:
            raise DataFileError(f"data file {dest_file}: invalid cache ttl: {exc}") from None
    # LFU and ARC are served by the LRU cache (the policy only matters once it is full).
    return TTLCache(size or DEFAULT_CACHE_SIZE, seconds, time.monotonic)


def load(
    data_dir: str | Path,
    dest_file: str,
    type_: str,
    *,
    cache: bool | None = None,
    strategy: str = "",
    size: int = 0,
    ttl: str = "",
) -> None:
    """Load ``<data_dir>/<dest_file>`` as ``type_`` unless it is already loaded.

    ``cache``/``strategy``/``size``/``ttl`` configure a result cache for ``RegexpInFile``.
    Raises :class:`DataFileError` for an unknown type or bad cache settings; a missing or
    unreadable file only logs a warning.
    """
    if type_ not in TYPES:
        raise DataFileError(f"data file {dest_file}: unknown type {type_!r} (expected {', '.join(TYPES)})")
    kind = "regexp" if type_ == "regex" else type_
    stores: dict[str, dict[str, Any]] = {"string": _strings, "regexp": _regexps, "map": _maps, "bots": _bots}
    store = stores[kind]
    if dest_file in store:
        return
    result_cache = _result_cache(dest_file, cache, strategy, size, ttl) if kind == "regexp" else None
    path = Path(data_dir) / dest_file
    lines = _read_lines(path) or []
    if kind == "string":
        store[dest_file] = [line for _, line in lines]
    elif kind == "regexp":
        store[dest_file] = _regexp_file(path, lines, result_cache)
    elif kind == "map":
        store[dest_file] = _map_file(path, lines)
    else:
        store[dest_file] = _bot_file(path, lines)


def reset() -> None:
    """Forget every loaded file."""
    for store in (_strings, _regexps, _maps, _bots):
        store.clear()
    _reported.clear()


def _not_loaded(kind: str, name: str) -> None:
    if f"{kind}:{name}" not in _reported:
        _reported.add(f"{kind}:{name}")
        log.error("%s data file %r is not loaded", kind, name)


@helper("File", 1, returns="list")
def File(name: object) -> list[str]:
    """Lines of the ``string`` data file ``name`` (``[]`` if it is not loaded)."""
    key = want_str("File", name)
    lines = _strings.get(key)
    if lines is None:
        _not_loaded("string", key)
        return []
    return lines


@helper("RegexpInFile", 2, returns="bool")
def RegexpInFile(s: object, name: object) -> bool:
    """True if any regex of the ``regexp`` data file ``name`` matches ``s`` (unanchored)."""
    text = want_str("RegexpInFile", s)
    key = want_str("RegexpInFile", name)
    rf = _regexps.get(key)
    if rf is None:
        _not_loaded("regexp", key)
        return False
    return rf.search(text)


@helper("FileMap", 1, returns="list")
def FileMap(name: object) -> list[dict[str, str]]:
    key = want_str("FileMap", name)
    mf = _maps.get(key)
    if mf is None:
        _not_loaded("map", key)
        return []
    return mf.rows


@helper("LookupFile", 2, returns="str")
def LookupFile(s: object, name: object) -> str:
    """Tag of the ``map`` row matching ``s``: equals, then earliest contains, then regex."""
    text = want_str("LookupFile", s)
    key = want_str("LookupFile", name)
    mf = _maps.get(key)
    if mf is None:
        _not_loaded("map", key)
        return ""
    return mf.lookup(text)


@helper("MatchKnownBot", 3, None, returns="bool")
def MatchKnownBot(ip: object, ua: object, path: object, *files: object) -> bool:
    """True if the request matches a bot of the given ``bots`` files (see ``helpers.bots``)."""
    bots: list[Bot] = []
    for f in files:
        key = want_str("MatchKnownBot", f)
        loaded = _bots.get(key)
        if loaded is None:
            _not_loaded("bots", key)
        else:
            bots.extend(loaded)
    if not bots:
        return False
    return match_known_bot(
        bots, want_str("MatchKnownBot", ip), want_str("MatchKnownBot", ua), want_str("MatchKnownBot", path)
    )
