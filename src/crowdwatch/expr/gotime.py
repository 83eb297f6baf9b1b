"""Go ``time.Time`` / ``time.Duration`` methods callable from expressions (``evt.Time.Hour()``…).

Each table maps the Go method name to ``(function, static result kind, arity)``; the compiler
checks names and arity against these tables and the runtime dispatches dynamic calls
through them. Nothing outside the tables is reachable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from crowdwatch.event import ZERO_TIME

from .errors import ExprRuntimeError
from .helpers.durations import format_go_duration
from .values import Duration

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Weekday(int):
    """Go ``time.Weekday`` (Sunday = 0)."""

    __slots__ = ()


class Month(int):
    """Go ``time.Month`` (January = 1)."""

    __slots__ = ()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(t: datetime) -> int:
    return t.microsecond * 1000


def _want_time(name: str, x: object) -> datetime:
    if not isinstance(x, datetime):
        raise ExprRuntimeError(f"{name}: expected time.Time, got {type(x).__name__}")
    return x


def _want_duration(name: str, x: object) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise ExprRuntimeError(f"{name}: expected time.Duration, got {type(x).__name__}")
    return x


def sub_times(a: datetime, b: datetime) -> Duration:
    delta = a - b
    return Duration((delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)


def add_duration(t: datetime, d: int) -> datetime:
    try:
        return t + timedelta(microseconds=int(d) // 1000)
    except OverflowError:
        raise ExprRuntimeError("time out of range") from None


def _sub(t: datetime, other: object) -> Duration:
    return sub_times(t, _want_time("Sub", other))


def _add(t: datetime, d: object) -> datetime:
    return add_duration(t, _want_duration("Add", d))


# --- Go layout formatting -------------------------------------------------------------

_TOKENS = (
    "January",
    "Jan",
    "Monday",
    "Mon",
    "MST",
    "2006",
    "-07:00:00",
    "-070000",
    "-07:00",
    "-0700",
    "-07",
    "Z07:00:00",
    "Z070000",
    "Z07:00",
    "Z0700",
    "Z07",
    "002",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "__2",
    "_2",
    "PM",
    "pm",
    "1",
    "2",
    "3",
    "4",
    "5",
)


def _offset(t: datetime, token: str) -> str:
    off = t.utcoffset()
    secs = int(off.total_seconds()) if off is not None else 0
    if secs == 0 and token.startswith("Z"):
        return "Z"
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    hh, mm, ss = secs // 3600, secs % 3600 // 60, secs % 60
    body = token.lstrip("Z-")
    if body == "07":
        return f"{sign}{hh:02d}"
    if body == "0700":
        return f"{sign}{hh:02d}{mm:02d}"
    if body == "07:00":
        return f"{sign}{hh:02d}:{mm:02d}"
    if body == "070000":
        return f"{sign}{hh:02d}{mm:02d}{ss:02d}"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"


def _token_value(t: datetime, tok: str) -> str:
    hour12 = t.hour % 12 or 12
    simple: dict[str, Callable[[], str]] = {
        "January": lambda: _MONTHS[t.month - 1],
        "Jan": lambda: _MONTHS[t.month - 1][:3],
        "Monday": lambda: _DAYS[t.isoweekday() % 7],
        "Mon": lambda: _DAYS[t.isoweekday() % 7][:3],
        "MST": lambda: _zone_name(t),
        "2006": lambda: f"{t.year:04d}",
        "06": lambda: f"{t.year % 100:02d}",
        "01": lambda: f"{t.month:02d}",
        "1": lambda: str(t.month),
        "02": lambda: f"{t.day:02d}",
        "2": lambda: str(t.day),
        "_2": lambda: f"{t.day:2d}",
        "__2": lambda: f"{t.timetuple().tm_yday:3d}",
        "002": lambda: f"{t.timetuple().tm_yday:03d}",
        "15": lambda: f"{t.hour:02d}",
        "03": lambda: f"{hour12:02d}",
        "3": lambda: str(hour12),
        "04": lambda: f"{t.minute:02d}",
        "4": lambda: str(t.minute),
        "05": lambda: f"{t.second:02d}",
        "5": lambda: str(t.second),
        "PM": lambda: "PM" if t.hour >= 12 else "AM",
        "pm": lambda: "pm" if t.hour >= 12 else "am",
    }
    if tok in simple:
        return simple[tok]()
    return _offset(t, tok)


def _zone_name(t: datetime) -> str:
    name = t.tzname() or ""
    if name in ("", "UTC") or name.startswith(("UTC+", "UTC-")):
        off = t.utcoffset()
        if not off:
            return "UTC"
        return _offset(t, "-0700")
    return name


def go_format(t: datetime, layout: str) -> str:
    """``time.Time.Format`` for Go reference layouts (``2006-01-02T15:04:05Z07:00``…)."""
    out: list[str] = []
    i = 0
    n = len(layout)
    while i < n:
        ch = layout[i]
        if ch in ".," and i + 1 < n and layout[i + 1] in "09":
            digit = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == digit:
                j += 1
            if not (j < n and layout[j].isdigit()):
                width = j - i - 1
                frac = f"{_ns(t):09d}"[: min(width, 9)]
                if digit == "9":
                    frac = frac.rstrip("0")
                    if frac:
                        out.append(ch + frac)
                else:
                    out.append(ch + frac)
                i = j
                continue
        for tok in _TOKENS:
            if layout.startswith(tok, i):
                # "2006" must not be taken as "2" + "006"; "Jan" inside "January" handled by order
                out.append(_token_value(t, tok))
                i += len(tok)
                break
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _format(t: datetime, layout: object) -> str:
    if not isinstance(layout, str):
        raise ExprRuntimeError("Format: layout must be a string")
    return go_format(t, layout)


def _string(t: datetime) -> str:
    return go_format(t, "2006-01-02 15:04:05.999999999 -0700 MST")


MethodTable = dict[str, tuple[Callable[..., Any], str, int]]

TIME_METHODS: MethodTable = {
    "Year": (lambda t: t.year, "int", 0),
    "Month": (lambda t: Month(t.month), "month", 0),
    "Day": (lambda t: t.day, "int", 0),
    "Hour": (lambda t: t.hour, "int", 0),
    "Minute": (lambda t: t.minute, "int", 0),
    "Second": (lambda t: t.second, "int", 0),
    "Nanosecond": (_ns, "int", 0),
    "YearDay": (lambda t: t.timetuple().tm_yday, "int", 0),
    "Weekday": (lambda t: Weekday(t.isoweekday() % 7), "weekday", 0),
    "Unix": (lambda t: sub_times(t, _EPOCH) // 1_000_000_000, "int", 0),
    "UnixMilli": (lambda t: sub_times(t, _EPOCH) // 1_000_000, "int", 0),
    "UnixNano": (lambda t: int(sub_times(t, _EPOCH)), "int", 0),
    "UTC": (lambda t: t.astimezone(UTC), "time", 0),
    "Local": (lambda t: t.astimezone(), "time", 0),
    "IsZero": (lambda t: t == ZERO_TIME, "bool", 0),
    "Format": (_format, "str", 1),
    "String": (_string, "str", 0),
    "Sub": (_sub, "duration", 1),
    "Add": (_add, "time", 1),
    "Before": (lambda t, o: t < _want_time("Before", o), "bool", 1),
    "After": (lambda t, o: t > _want_time("After", o), "bool", 1),
    "Equal": (lambda t, o: t == _want_time("Equal", o), "bool", 1),
}

DURATION_METHODS: MethodTable = {
    "Hours": (lambda d: d / 3_600_000_000_000, "float", 0),
    "Minutes": (lambda d: d / 60_000_000_000, "float", 0),
    "Seconds": (lambda d: d / 1_000_000_000, "float", 0),
    "Milliseconds": (lambda d: int(d / 1_000_000), "int", 0),
    "Microseconds": (lambda d: int(d / 1_000), "int", 0),
    "Nanoseconds": (lambda d: int(d), "int", 0),
    "Abs": (lambda d: Duration(abs(d)), "duration", 0),
    "String": (lambda d: format_go_duration(int(d)), "str", 0),
}

WEEKDAY_METHODS: MethodTable = {"String": (lambda d: _DAYS[d % 7], "str", 0)}
MONTH_METHODS: MethodTable = {"String": (lambda m: _MONTHS[(m - 1) % 12], "str", 0)}

METHODS_BY_KIND: dict[str, MethodTable] = {
    "time": TIME_METHODS,
    "duration": DURATION_METHODS,
    "weekday": WEEKDAY_METHODS,
    "month": MONTH_METHODS,
}


def methods_for(value: object) -> MethodTable | None:
    """The method table of a runtime value, or None if it has none."""
    if isinstance(value, datetime):
        return TIME_METHODS
    if isinstance(value, Weekday):
        return WEEKDAY_METHODS
    if isinstance(value, Month):
        return MONTH_METHODS
    if isinstance(value, Duration):
        return DURATION_METHODS
    return None
