"""Time helpers: ``TimeNow``, ``ParseUnix``, ``MedianInterval``, ``AverageInterval``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.govalues import want_list, want_str
from crowdwatch.expr.registry import helper
from crowdwatch.expr.values import Duration


def rfc3339(t: datetime) -> str:
    """Go ``t.Format(time.RFC3339)`` (seconds precision, ``Z`` for UTC)."""
    text = t.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _ns(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


@helper("TimeNow", 0, returns="str")
def TimeNow() -> str:
    return rfc3339(datetime.now(UTC))


@helper("ParseUnix", 1, returns="str")
def ParseUnix(s: object) -> str:
    """Integer part of a Unix timestamp as RFC 3339 in the local time zone; ``""`` if invalid or ≤ 0."""
    whole = want_str("ParseUnix", s).partition(".")[0]
    if not whole.lstrip("+-").isdigit() or not whole.isascii():
        return ""
    ts = int(whole)
    if ts <= 0:
        return ""
    try:
        return rfc3339(datetime.fromtimestamp(ts, UTC).astimezone())
    except (OverflowError, OSError, ValueError):
        return ""


def _intervals(fn: str, times: object) -> list[int]:
    values = want_list(fn, times)
    for t in values:
        if not isinstance(t, datetime):
            raise ExprRuntimeError(f"{fn}: expected a list of times, got {type(t).__name__}")
    if len(values) < 2:
        raise ExprRuntimeError(f"{fn}: need at least two times")
    ordered = sorted(values)
    return [_ns(b - a) for a, b in itertools.pairwise(ordered)]


def _div(a: int, b: int) -> int:
    """Go integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@helper("MedianInterval", 1, returns="duration")
def MedianInterval(times: object) -> Duration:
    diffs = sorted(_intervals("MedianInterval", times))
    mid = len(diffs) // 2
    if len(diffs) % 2:
        return Duration(diffs[mid])
    return Duration(_div(diffs[mid - 1] + diffs[mid], 2))


@helper("AverageInterval", 1, returns="duration")
def AverageInterval(times: object) -> Duration:
    diffs = _intervals("AverageInterval", times)
    return Duration(_div(sum(diffs), len(diffs)))
