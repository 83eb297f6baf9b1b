"""Times and durations on the wire: RFC 3339 (Go's ``time.RFC3339Nano`` output), Go durations
with CrowdSec's day suffix (``1d``, ``2d3h``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from crowdwatch.expr.helpers.durations import format_go_duration, parse_go_duration
from crowdwatch.lapi.errors import BadRequest

_DAYS = re.compile(r"^([+-]?)(\d+)d(.*)$")
_FRACTION = re.compile(r"\.(\d+)")


def now() -> datetime:
    return datetime.now(UTC)


def parse_duration_ns(text: str) -> int:
    """Go duration, also accepting a leading ``<N>d`` (days) like CrowdSec; ``ValueError`` if invalid."""
    t = text.strip()
    m = _DAYS.match(t)
    if m:
        sign, days, rest = m.groups()
        ns = int(days) * 86_400 * 10**9 + (int(parse_go_duration(rest)) if rest else 0)
        return -ns if sign == "-" else ns
    return int(parse_go_duration(t))


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """:func:`parse_duration_ns` as a timedelta, raising :class:`BadRequest`."""
    try:
        ns = parse_duration_ns(text)
    except (ValueError, OverflowError):
        raise BadRequest(f"invalid {what} {text!r}") from None
    return timedelta(microseconds=ns // 1000)


def format_duration(delta: timedelta) -> str:
    """Go ``Duration.String()`` of a timedelta (microsecond resolution)."""
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return format_go_duration(us * 1000)


def parse_time(text: str, what: str = "time") -> datetime:
    """RFC 3339 with any fraction (nanoseconds are truncated to microseconds) → aware UTC."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    t = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], t, count=1)
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise BadRequest(f"invalid {what} {text!r}: expected an RFC 3339 date") from None
    if dt.tzinfo is None:
        raise BadRequest(f"invalid {what} {text!r}: missing time zone")
    return dt.astimezone(UTC)


def format_time(dt: datetime) -> str:
    """Go ``time.RFC3339`` text (second resolution, ``Z``), as CrowdSec prints ``until``/``created_at``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_db(dt: datetime) -> datetime:
    """Naive UTC, as stored in the database."""
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def from_db(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
