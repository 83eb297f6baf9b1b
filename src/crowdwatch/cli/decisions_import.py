"""Reading decisions to import (``crowdwatch decisions import``) from CSV, JSON or a plain list.

Each entry becomes a decision dict in the LAPI's wire form; fields missing from an entry take
the command's defaults (``--duration``, ``--type``, ``--scope``, ``--reason``). Invalid entries
are collected with their line number (CSV, plain list) or position (JSON), never fatal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from crowdwatch.lapi.decisions import normalize_scope
from crowdwatch.lapi.iprange import parse_ip, parse_range
from crowdwatch.lapi.timefmt import parse_duration_ns

FORMATS = ("csv", "json", "values")
CSV_COLUMNS = frozenset({"duration", "origin", "reason", "scope", "type", "value"})


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, wrong JSON shape, CSV without a value column)."""


@dataclass(frozen=True)
class Defaults:
    duration: str = "4h"
    type: str = "ban"
    scope: str = "Ip"
    reason: str = "manual"
    origin: str = "cscli"


@dataclass
class ImportBatch:
    """What a file holds: valid decisions (wire form), invalid entries, in-file duplicates."""

    decisions: list[dict[str, str]] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    duplicates: int = 0


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ImportFileError(f"unknown --format {fmt!r} (expected one of: {', '.join(FORMATS)})")
        return fmt
    suffix = path.suffix.lower()
    return {".csv": "csv", ".json": "json"}.get(suffix, "values")


def _duration_ns(text: str, cache: dict[str, int]) -> int:
    """A positive duration in ns (``ValueError`` if not); lists repeat a few durations, so cached."""
    ns = cache.get(text)
    if ns is None:
        try:
            ns = parse_duration_ns(text)
        except (ValueError, OverflowError):
            ns = 0
        cache[text] = ns
    if ns <= 0:
        raise ValueError(f"invalid duration {text!r}")
    return ns


def _entry(raw: dict[str, Any], defaults: Defaults, durations: dict[str, int]) -> dict[str, str]:
    """One decision from a CSV row or JSON object; ``ValueError`` with the reason if invalid."""

    def text(key: str, default: str) -> str:
        v = raw.get(key)
        if v is None or v == "":
            return default
        if not isinstance(v, str):
            raise ValueError(f"{key}: expected a string")
        return v.strip()

    value = text("value", "")
    if not value:
        raise ValueError("missing value")
    scope = normalize_scope(text("scope", defaults.scope))
    if scope == "Ip" and "/" in value:
        scope = "Range"  # a CIDR block in an IP list: imported as a range, not rejected
    if scope == "Ip":
        ip = parse_ip(value)
        if ip is None:
            raise ValueError(f"invalid IP address {value!r}")
        value = ip.text
    elif scope == "Range":
        rng = parse_range(value)
        if rng is None:
            raise ValueError(f"invalid range {value!r}")
        value = rng.text
    duration = text("duration", defaults.duration)
    _duration_ns(duration, durations)
    type_ = text("type", defaults.type)
    reason = text("reason", "") or text("scenario", defaults.reason)
    origin = text("origin", defaults.origin)
    return {
        "duration": duration,
        "origin": origin,
        "scenario": reason,
        "scope": scope,
        "type": type_,
        "value": value,
    }


def _csv_rows(data: str) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(data))
    if reader.fieldnames is None:
        return
    names = [(n or "").strip().lower() for n in reader.fieldnames]
    if "value" not in names:
        raise ImportFileError(
            f"CSV header {','.join(reader.fieldnames)!r} has no 'value' column "
            f"(expected any of: {', '.join(sorted(CSV_COLUMNS))})"
        )
    reader.fieldnames = names
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # blank line
        yield f"line {reader.line_num}", row


def _json_rows(data: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ImportFileError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, list):
        raise ImportFileError("expected a JSON array of decision objects")
    for i, item in enumerate(doc, 1):
        yield f"item {i}", item if isinstance(item, dict) else {"_not_an_object": True}


def _value_rows(data: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for n, line in enumerate(data.splitlines(), 1):
        value = line.strip()
        if value and not value.startswith("#"):
            yield f"line {n}", {"value": value}


def read_decisions(path: Path, fmt: str, defaults: Defaults) -> ImportBatch:
    """Parse ``path`` as ``fmt``; in-file duplicates (same scope, value, type, origin) are kept
    once with the longest duration, as the LAPI would merge them."""
    try:
        data = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: cannot read: {exc}") from None
    rows = {"csv": _csv_rows, "json": _json_rows, "values": _value_rows}[fmt](data)
    out = ImportBatch()
    seen: dict[tuple[str, str, str, str], int] = {}
    longest: dict[int, int] = {}
    durations: dict[str, int] = {}
    for where, raw in rows:
        if "_not_an_object" in raw:
            out.invalid.append((where, "expected an object"))
            continue
        try:
            d = _entry(raw, defaults, durations)
        except ValueError as exc:
            out.invalid.append((where, str(exc)))
            continue
        key = (d["scope"], d["value"], d["type"], d["origin"])
        ns = durations[d["duration"]]
        at = seen.get(key)
        if at is None:
            seen[key] = len(out.decisions)
            longest[len(out.decisions)] = ns
            out.decisions.append(d)
        else:
            out.duplicates += 1
            if ns > longest[at]:
                longest[at] = ns
                out.decisions[at] = d
    return out
