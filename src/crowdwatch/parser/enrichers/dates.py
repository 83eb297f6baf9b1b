"""The ``ParseDate`` algorithm (ENGINE.md §4.11.5) and RFC 3339 rendering.

Order: the event's ``StrTimeFormat`` layout, then :data:`DEFAULT_LAYOUTS` in order, then
a Unix epoch, else "now". The default layouts are tried through one combined regex per
first character of the text, whose alternatives are the layouts that can start with that
character, in list order: the first alternative that matches is the first layout Go's
scanner accepts, and one regex call replaces up to sixteen. Only when that layout then
fails a range check (month 13, Feb 30, ...) are the following layouts tried one by one,
so the result is always the one of trying every layout in order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from crowdwatch.parser.enrichers.golayout import (
    Fields,
    GoLayout,
    compile_layout,
    is_zero_instant,
    resolve_year,
)

DEFAULT_LAYOUTS: tuple[str, ...] = (
    "2006-01-02T15:04:05Z07:00",
    "02/Jan/2006:15:04:05 -0700",
    "Mon Jan 2 15:04:05 2006",
    "02-Jan-2006 15:04:05 europe/paris",
    "01/02/2006 15:04:05",
    "2006-01-02 15:04:05.999999999 -0700 MST",
    "Jan  2 15:04:05",
    "Mon Jan 02 15:04:05.000000 2006",
    "2006-01-02T15:04:05Z07:00",
    "2006/01/02",
    "2006/01/02 15:04",
    "2006-01-02",
    "2006-01-02 15:04",
    "2006/01/02 15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05",
)

_EPOCH_RE = re.compile(r"[-+]?[0-9]+\Z")
_INT64_MAX = 2**63 - 1


class _Alternation:
    """Some layouts (in list order) combined into one regex: its first matching
    alternative is the first of these layouts Go's scanner accepts."""

    def __init__(self, layouts: list[tuple[int, GoLayout]]) -> None:
        alternatives: list[str] = []
        # Index of each alternative's trailing empty group -> (list index, group base).
        self.by_sentinel: dict[int, tuple[int, int]] = {}
        group = 0
        for index, layout in layouts:
            base = group
            group += layout.groups + 1
            self.by_sentinel[group] = (index, base)
            alternatives.append("(?:" + layout.pattern + r"\Z())")
        self.regex = re.compile("|".join(alternatives)) if alternatives else None


class _LayoutList:
    """Layouts tried in order, with one combined regex per possible first character."""

    def __init__(self, layouts: tuple[str, ...]) -> None:
        self.layouts: tuple[GoLayout, ...] = tuple(GoLayout(s) for s in layouts)
        self._by_first: dict[str, _Alternation] = {}

    def _alternation(self, first: str) -> _Alternation:
        alt = self._by_first.get(first)
        if alt is None:
            candidates = [
                (i, lay) for i, lay in enumerate(self.layouts) if lay.first is None or first in lay.first
            ]
            alt = _Alternation(candidates)
            if len(self._by_first) < 1024:
                self._by_first[first] = alt
        return alt

    def parse(self, text: str) -> Fields | None:
        """The result of the first layout that accepts non-empty `text` (year 0 kept)."""
        alt = self._by_first.get(text[0]) or self._alternation(text[0])
        m = alt.regex.match(text) if alt.regex is not None else None
        if m is None:
            return None
        index, base = alt.by_sentinel[m.lastindex or 0]
        fields = _accept(self.layouts[index].fields(m, base))
        if fields is not None:
            return fields
        for layout in self.layouts[index + 1 :]:
            fields = _accept(layout.parse(text))
            if fields is not None:
                return fields
        return None


def _accept(fields: Fields | None) -> Fields | None:
    """CrowdSec's acceptance of a Go parse: not Go's zero time, and renderable by Go's
    strict RFC 3339 marshalling (offset hours below 24)."""
    if fields is None or (fields[0] <= 1 and is_zero_instant(fields)):
        return None
    if not -86400 < fields[7] < 86400:
        return None
    return fields


_DEFAULTS = _LayoutList(DEFAULT_LAYOUTS)


def parse_fields(text: str, fmt: str) -> Fields | None:
    """Steps 1-3 of ParseDate; None means "fall back to now". A year-less result keeps
    year 0: give it the current year with :func:`resolve_year`."""
    if not text:
        return None
    if fmt:
        fields = _accept(compile_layout(fmt).parse(text))
        if fields is not None:
            return fields
    fields = _DEFAULTS.parse(text)
    if fields is not None:
        return fields
    return _parse_epoch(text)


def _parse_epoch(text: str) -> Fields | None:
    head = text.split(".", 1)[0]
    if _EPOCH_RE.match(head) is None:
        return None
    seconds = int(head)
    if seconds <= 0 or seconds > _INT64_MAX:
        return None
    try:
        local = datetime.fromtimestamp(seconds, UTC).astimezone()
    except (OverflowError, OSError, ValueError):
        return None
    return datetime_fields(local)


def datetime_fields(dt: datetime) -> Fields:
    """The `Fields` of an aware (or UTC-naive) datetime."""
    off = dt.utcoffset()
    return (
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond * 1000,
        int(off.total_seconds()) if off is not None else 0,
    )


_ZONES: dict[int, timezone] = {0: UTC}


def fields_datetime(fields: Fields) -> datetime:
    """An aware datetime for `fields` (nanoseconds truncated to microseconds)."""
    year, month, day, hour, minute, second, nanos, off = fields
    tz = _ZONES.get(off)
    if tz is None:
        tz = _ZONES.setdefault(off, timezone(timedelta(seconds=off)))
    return datetime(year, month, day, hour, minute, second, nanos // 1000, tzinfo=tz)


_TWO_DIGITS = tuple(f"{i:02d}" for i in range(100))


def format_fields(fields: Fields) -> str:
    """RFC 3339 with the minimal fraction (Go's RFC3339Nano), ``Z`` for a zero offset."""
    year, month, day, hour, minute, second, nanos, off = fields
    d2 = _TWO_DIGITS
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    if off == 0:
        zone = "Z"
    else:
        minutes = int(off / 60)  # Go truncates toward zero and drops offset seconds
        sign = "-" if minutes < 0 else "+"
        minutes = abs(minutes)
        zone = f"{sign}{d2[minutes // 60]}:{d2[minutes % 60]}"
    y = year if year >= 1000 else f"{year:04d}"
    return f"{y}-{d2[month]}-{d2[day]}T{d2[hour]}:{d2[minute]}:{d2[second]}{frac}{zone}"


def format_rfc3339(dt: datetime, nanosecond: int | None = None) -> str:
    """Render `dt` like Go's RFC3339Nano; `nanosecond` overrides the fraction of `dt`."""
    fields = datetime_fields(dt)
    if nanosecond is not None:
        fields = (*fields[:6], nanosecond, fields[7])
    return format_fields(fields)


def parse_go_layout(text: str, layout: str, *, now: datetime | None = None) -> datetime | None:
    """Go's ``time.Parse(layout, text)`` as CrowdSec uses it: None on failure (or when the
    result is Go's zero time); a year-less result takes the UTC year of `now` (default:
    the current time), Feb 29 becoming Mar 1 in a non-leap year."""
    fields = _accept(compile_layout(layout).parse(text))
    if fields is None:
        return None
    return fields_datetime(resolve_year(fields, _utc_year(now)) if fields[0] == 0 else fields)


def parse_date(text: str, fmt: str, now: datetime) -> datetime:
    """The ParseDate result for `text` (with optional layout `fmt`): the parsed time, else
    `now`. `now` also provides the year of year-less timestamps."""
    fields = parse_fields(text, fmt)
    if fields is None:
        return now
    return fields_datetime(resolve_year(fields, _utc_year(now)) if fields[0] == 0 else fields)


def _utc_year(now: datetime | None) -> int:
    if now is None:
        return datetime.now(UTC).year
    return now.astimezone(UTC).year if now.tzinfo is not None else now.year
