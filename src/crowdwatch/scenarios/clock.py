"""Bucket timestamps with nanosecond resolution and Go's text forms (ENGINE.md §6.6, §7.1).

A :class:`Stamp` is an instant as integer nanoseconds since the Unix epoch plus the UTC
offset (seconds east) it was written with, so that ``start_at``/``stop_at`` keep the
offset of the log's timestamp like Go's ``time.Time`` does. Python ``datetime`` only has
microseconds; stamps are converted to it only when an expression reads a bucket time.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import NamedTuple

from crowdwatch.event import ZERO_TIME

NS = 1_000_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)
ZERO_TEXT = "0001-01-01T00:00:00Z"


class Stamp(NamedTuple):
    """An instant: ``ns`` since the epoch (UTC) and the offset ``off`` (seconds east) to render it in."""

    ns: int
    off: int = 0


@functools.lru_cache(maxsize=16384)
def parse_rfc3339(text: str) -> Stamp | None:
    """Go ``time.Time.UnmarshalText`` (RFC 3339, any fraction digits, nanoseconds kept); None if invalid."""
    m = _RFC3339.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, sec = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if hour > 23 or minute > 59 or sec > 59:
        return None
    try:
        days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    frac = m.group(7)
    nanos = int(frac[:9].ljust(9, "0")) if frac else 0
    off = 0
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        off = (oh * 3600 + om * 60) * (-1 if m.group(9) == "-" else 1)
    return Stamp(((days * 86400 + hour * 3600 + minute * 60 + sec) - off) * NS + nanos, off)


def datetime_ns(t: datetime) -> int:
    """Nanoseconds since the epoch of an aware (or UTC-naive) datetime."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return ((t - _EPOCH) // _MICROSECOND) * 1000


def stamp_from_datetime(t: datetime) -> Stamp:
    """An aware (or UTC-naive) datetime as a stamp, keeping its offset."""
    off = t.utcoffset()
    return Stamp(datetime_ns(t), int(off.total_seconds()) if off is not None else 0)


def to_datetime(s: Stamp | None) -> datetime:
    """The stamp as an aware datetime (microseconds, truncated); ``None`` is Go's zero time."""
    if s is None:
        return ZERO_TIME
    tz = UTC if s.off == 0 else timezone(timedelta(seconds=s.off))
    return (_EPOCH + timedelta(microseconds=s.ns // 1000)).astimezone(tz)


def _wall(s: Stamp) -> tuple[date, int, int, int, int]:
    """Local date, hour, minute, second and nanoseconds of ``s`` in its own offset."""
    secs, nanos = divmod(s.ns + s.off * NS, NS)
    days, rest = divmod(secs, 86400)
    hour, rest = divmod(rest, 3600)
    minute, sec = divmod(rest, 60)
    return date.fromordinal(days + _EPOCH_ORDINAL), hour, minute, sec, nanos


def _fraction(nanos: int) -> str:
    return ("." + f"{nanos:09d}".rstrip("0")) if nanos else ""


def format_rfc3339(s: Stamp | None) -> str:
    """Go ``MarshalText``/RFC3339Nano: fraction only when non-zero, ``Z`` for a zero offset."""
    if s is None:
        return ZERO_TEXT
    day, hour, minute, sec, nanos = _wall(s)
    if s.off == 0:
        zone = "Z"
    else:
        sign = "-" if s.off < 0 else "+"
        oh, om = divmod(abs(s.off) // 60, 60)
        zone = f"{sign}{oh:02d}:{om:02d}"
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{sec:02d}{_fraction(nanos)}{zone}"


def format_go_default(s: Stamp | None) -> str:
    """Go ``Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST`` (process zone: UTC).

    A zero offset is the UTC location (``+0000 UTC``); another offset is an unnamed fixed
    zone, which Go prints as the numeric offset twice (``+0100 +0100``).
    """
    if s is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    day, hour, minute, sec, nanos = _wall(s)
    sign = "-" if s.off < 0 else "+"
    oh, om = divmod(abs(s.off) // 60, 60)
    numeric = f"{sign}{oh:02d}{om:02d}"
    name = "UTC" if s.off == 0 else numeric
    return f"{day.isoformat()} {hour:02d}:{minute:02d}:{sec:02d}{_fraction(nanos)} {numeric} {name}"


def go_seconds(ns: int) -> float:
    """Go ``Duration.Seconds()``: whole seconds plus the nanosecond remainder / 1e9."""
    sec, nsec = divmod(abs(ns), NS)
    value = float(sec) + float(nsec) / 1e9
    return -value if ns < 0 else value
