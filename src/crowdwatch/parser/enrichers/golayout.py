"""Go ``time.Parse`` layouts compiled to Python regular expressions.

A Go layout is a sample rendering of the reference time ``Mon Jan 2 15:04:05 MST 2006``.
Go parses a value left to right without ever backtracking; each layout element is turned
into an atomic/possessive regex fragment so that a regex match succeeds exactly when Go's
scanner would consume the whole value. Numeric range rules (month 1-12, hour < 24, day
valid for the month, ...) are then checked by ``GoLayout.fields``, a small function
generated once per layout (straight-line code, no per-element dispatch at run time).

The result of a parse is a plain tuple of integers (see :data:`Fields`) so the hot path
does not build a ``datetime`` unless it needs one. Behaviour notes (all Go's):

* a run of spaces in the layout matches a run of spaces in the value (or the end);
* a fractional second after the seconds field is accepted even when the layout has none;
* month and day names are matched ASCII case-insensitively;
* ``PM``/``pm`` are case-sensitive;
* no zone in the layout means UTC, a numeric offset is kept as a fixed offset, a zone
  abbreviation other than ``UTC``/``GMT±h`` gets offset 0 (Go with a UTC local zone);
* a layout without a year yields year 0, which callers replace (:func:`resolve_year`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

# (year, month, day, hour, minute, second, nanosecond, utc offset in seconds)
Fields = tuple[int, int, int, int, int, int, int, int]

# Element kinds.
_LONG_YEAR = 1  # 2006
_YEAR = 2  # 06
_NUM_MONTH = 3  # 1 / 01
_MONTH = 4  # Jan / January
_DAY = 6  # 2 / _2 / 02
_YEAR_DAY = 7  # __2 / 002
_HOUR = 8  # 15
_HOUR12 = 9  # 3 / 03
_MINUTE = 10  # 4 / 04
_SECOND = 11  # 5 / 05
_FRAC = 12  # .000 / .999 / ,000 / ,999 (also the implicit fraction after seconds)
_PM = 13  # PM / pm
_NUM_TZ = 14  # -0700 -07:00 -07 -070000 -07:00:00 and the Z variants
_TZ_NAME = 15  # MST
_WEEKDAY = 16  # Mon / Monday (checked by the regex, value ignored)

_SHORT_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_LONG_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_SHORT_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_LONG_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTH_INDEX = {name: i + 1 for names in (_SHORT_MONTHS, _LONG_MONTHS) for i, name in enumerate(names)}

_NUM1_2 = "([0-9]{1,2}+)"
_NUM2 = "([0-9]{2})"
# A Go "signed offset" zone name (+hh), hours at most 12, all digits consumed.
_SIGNED_NAME = "[-+](?=[0-9])0*+(?:1[0-2]|[0-9])?(?![0-9])"
_TZ_NAME_RE = (
    "((?>UTC|ChST|MeST|GMT(?:" + _SIGNED_NAME + ")?+|" + _SIGNED_NAME + "|"
    "[A-Z]{3}(?![A-Z])|(?:[A-Z]{3}T|WITA)(?![A-Z])|[A-Z]{4}T(?![A-Z])))"
)
_NUM_TZ_RE = {
    "-0700": "[-+][0-9]{4}",
    "-07:00": "[-+][0-9]{2}:[0-9]{2}",
    "-07": "[-+][0-9]{2}",
    "-070000": "[-+][0-9]{6}",
    "-07:00:00": "[-+][0-9]{2}:[0-9]{2}:[0-9]{2}",
}
_TZ_SUFFIXES = ("070000", "07:00:00", "0700", "07:00", "07")  # Go's matching order


# Number texts of one or two digits -> int (faster than int() on the hot path).
_SMALL_INT = {**{str(i): i for i in range(10)}, **{f"{i:02d}": i for i in range(100)}}
_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _initials(names: tuple[str, ...]) -> str:
    return "".join(sorted({n[0] for n in names} | {n[0].upper() for n in names}))


def _names(names: tuple[str, ...], capture: bool) -> str:
    body = "(?ai:" + "|".join(names) + ")"
    return "(" + body + ")" if capture else body


@dataclass(frozen=True, slots=True)
class _Element:
    kind: int
    regex: str
    groups: int  # capture groups in `regex`
    first: str | None  # the characters a match can start with; None: it may match ""


def _tokenize(layout: str) -> list[_Element | str]:
    """Split a layout into literal characters (str) and elements, like Go's nextStdChunk."""
    out: list[_Element | str] = []
    i, n = 0, len(layout)
    while i < n:
        rest = layout[i:]
        c = layout[i]
        elem: _Element | None = None
        size = 0
        if c == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                elem, size = _Element(_MONTH, _names(_LONG_MONTHS, True), 1, _initials(_LONG_MONTHS)), 7
            else:
                elem, size = _Element(_MONTH, _names(_SHORT_MONTHS, True), 1, _initials(_SHORT_MONTHS)), 3
        elif c == "M" and rest.startswith("Mon"):
            if rest.startswith("Monday"):
                elem, size = _Element(_WEEKDAY, _names(_LONG_DAYS, False), 0, _initials(_LONG_DAYS)), 6
            else:
                elem, size = _Element(_WEEKDAY, _names(_SHORT_DAYS, False), 0, _initials(_SHORT_DAYS)), 3
        elif c == "M" and rest.startswith("MST"):
            elem, size = _Element(_TZ_NAME, _TZ_NAME_RE, 1, _UPPER + "+-"), 3
        elif c == "0" and len(rest) >= 2 and "1" <= rest[1] <= "6":
            kind = {"1": _NUM_MONTH, "2": _DAY, "3": _HOUR12, "4": _MINUTE, "5": _SECOND, "6": _YEAR}[rest[1]]
            regex = "([-+0-9][0-9])" if kind == _YEAR else _NUM2
            elem, size = _Element(kind, regex, 1, _DIGITS + "+-"), 2
        elif c == "0" and rest.startswith("002"):
            elem, size = _Element(_YEAR_DAY, "([0-9]{3})", 1, _DIGITS), 3
        elif c == "1":
            if rest.startswith("15"):
                elem, size = _Element(_HOUR, _NUM1_2, 1, _DIGITS), 2
            else:
                elem, size = _Element(_NUM_MONTH, _NUM1_2, 1, _DIGITS), 1
        elif c == "2":
            if rest.startswith("2006"):
                elem, size = _Element(_LONG_YEAR, "([0-9]{4})", 1, _DIGITS), 4
            else:
                elem, size = _Element(_DAY, _NUM1_2, 1, _DIGITS), 1
        elif c == "_" and rest.startswith("_2"):
            if rest.startswith("_2006"):  # a literal "_" followed by the year
                out.append("_")
                elem, size, i = _Element(_LONG_YEAR, "([0-9]{4})", 1, _DIGITS), 4, i + 1
            else:
                elem, size = _Element(_DAY, " ?+" + _NUM1_2, 1, " " + _DIGITS), 2
        elif c == "_" and rest.startswith("__2"):
            elem, size = _Element(_YEAR_DAY, " {0,2}+([0-9]{1,3}+)", 1, " " + _DIGITS), 3
        elif c in "345":
            kind = {"3": _HOUR12, "4": _MINUTE, "5": _SECOND}[c]
            elem, size = _Element(kind, _NUM1_2, 1, _DIGITS), 1
        elif c == "P" and rest.startswith("PM"):
            elem, size = _Element(_PM, "(PM|AM)", 1, "PA"), 2
        elif c == "p" and rest.startswith("pm"):
            elem, size = _Element(_PM, "(pm|am)", 1, "pa"), 2
        elif c in "-Z":
            for suffix in _TZ_SUFFIXES:
                if rest.startswith(suffix, 1):
                    regex = _NUM_TZ_RE["-" + suffix]
                    if c == "Z":
                        regex = "Z|" + regex
                    elem = _Element(_NUM_TZ, "(" + regex + ")", 1, "+-Z" if c == "Z" else "+-")
                    size = 1 + len(suffix)
                    break
        elif c in ".,":
            j = i + 1
            if j < n and layout[j] in "09":
                while j < n and layout[j] == layout[i + 1]:
                    j += 1
                if not (j < n and layout[j].isdigit() and layout[j].isascii()):
                    digits = j - i - 1
                    if layout[i + 1] == "0":
                        elem = _Element(_FRAC, f"[.,]([0-9]{{{digits}}})", 1, ".,")
                    else:
                        elem = _Element(_FRAC, "(?:[.,]([0-9]++))?+", 1, None)
                    size = j - i
        if elem is None:
            out.append(c)
            i += 1
        else:
            out.append(elem)
            i += size
    return out


def _literal_regex(text: str) -> str:
    parts: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == " ":
            while i < len(text) and text[i] == " ":
                i += 1
            parts.append("(?: ++|\\Z)")
        else:
            parts.append(re.escape(text[i]))
            i += 1
    return "".join(parts)


class GoLayout:
    """One compiled Go layout: a regex plus the recipe to turn its groups into `Fields`."""

    __slots__ = ("fields", "first", "groups", "layout", "pattern", "regex")

    def __init__(self, layout: str) -> None:
        self.layout = layout
        tokens = _tokenize(layout)
        parts: list[str] = []
        steps: list[tuple[int, int]] = []
        literal: list[str] = []
        group = 0
        for pos, tok in enumerate(tokens):
            if isinstance(tok, str):
                literal.append(tok)
                continue
            parts.append(_literal_regex("".join(literal)))
            literal = []
            parts.append(tok.regex)
            if tok.groups:
                steps.append((tok.kind, group))
                group += tok.groups
            if tok.kind == _SECOND and not _frac_follows(tokens, pos + 1):
                # Go accepts a fraction after the seconds when the layout has none.
                parts.append("(?:[.,]([0-9]++))?+")
                steps.append((_FRAC, group))
                group += 1
        parts.append(_literal_regex("".join(literal)))
        self.pattern = "".join(parts)
        self.groups = group
        self.regex = re.compile(self.pattern + r"\Z")
        # fields(m, base): range-check and convert this layout's captures, which are the
        # groups of match `m` after the first `base` ones; None when Go would reject them.
        self.fields = _build_extractor(steps)
        self.first = _first_chars(tokens)

    def parse(self, text: str) -> Fields | None:
        """Go's ``time.Parse(layout, text)``; year 0 when the layout has no year."""
        m = self.regex.match(text)
        return self.fields(m, 0) if m is not None else None


# Source lines converting one capture per element kind; `m[b + {i}]` is the capture.
_STEP_CODE = {
    _LONG_YEAR: ["year = int(m[b + {i}])"],
    _YEAR: ["year = int(m[b + {i}])", "year += 1900 if year >= 69 else 2000"],
    _NUM_MONTH: ["month = _SMALL_INT[m[b + {i}]]", "if not 1 <= month <= 12: return None"],
    _MONTH: ["month = _MONTH_INDEX[m[b + {i}].lower()]"],
    _DAY: ["day = _SMALL_INT[m[b + {i}]]"],
    _YEAR_DAY: ["yday = int(m[b + {i}])"],
    _HOUR: ["hour = _SMALL_INT[m[b + {i}]]", "if hour >= 24: return None"],
    _HOUR12: ["hour = _SMALL_INT[m[b + {i}]]", "if hour > 12: return None"],
    _MINUTE: ["minute = _SMALL_INT[m[b + {i}]]", "if minute >= 60: return None"],
    _SECOND: ["second = _SMALL_INT[m[b + {i}]]", "if second >= 60: return None"],
    _FRAC: ["x = m[b + {i}]", "if x is not None: nanos = int(x[:9].ljust(9, '0'))"],
    _PM: ["pm = m[b + {i}]"],
    _NUM_TZ: [
        "x = m[b + {i}]",
        "if x == 'Z': utc = True",
        "else:",
        "    offset = _parse_offset(x)",
        "    if offset is None: return None",
    ],
    _TZ_NAME: ["x = m[b + {i}]", "if x == 'UTC': utc = True", "else: zone = x"],
}


def _build_extractor(steps: list[tuple[int, int]]) -> Callable[[re.Match[str], int], Fields | None]:
    """Compile the conversion of one layout's captures into straight-line Python code."""
    kinds = {kind for kind, _ in steps}
    lines = [
        "def extract(m, b):",
        "    year = 0; month = day = yday = -1; hour = minute = second = nanos = 0",
        "    pm = None; utc = False; offset = None; zone = ''",
    ]
    for kind, index in steps:
        lines += ["    " + line.format(i=index + 1) for line in _STEP_CODE[kind]]
    if _PM in kinds:
        lines += [
            "    if pm in ('PM', 'pm') and hour < 12: hour += 12",
            "    elif pm in ('AM', 'am') and hour == 12: hour = 0",
        ]
    if _YEAR_DAY in kinds:
        lines += [
            "    md = _from_year_day(year, yday, month, day)",
            "    if md is None: return None",
            "    month, day = md",
        ]
    else:
        lines += ["    if month < 0: month = 1", "    if day < 0: day = 1"]
    lines.append("    if day < 1 or (day > 28 and day > _days_in(month, year)): return None")
    if kinds & {_NUM_TZ, _TZ_NAME}:
        lines += [
            "    if utc: off = 0",
            "    elif offset is not None: off = offset",
            "    elif zone.startswith('GMT') and len(zone) > 3: off = int(zone[3:]) * 3600",
            "    else: off = 0",
        ]
    else:
        lines.append("    off = 0")
    lines.append("    return (year, month, day, hour, minute, second, nanos, off)")
    namespace: dict[str, Any] = {
        "_SMALL_INT": _SMALL_INT,
        "_MONTH_INDEX": _MONTH_INDEX,
        "_parse_offset": _parse_offset,
        "_from_year_day": _from_year_day,
        "_days_in": _days_in,
    }
    exec(compile("\n".join(lines), "<go-layout>", "exec"), namespace)
    return cast(Callable[[re.Match[str], int], Fields | None], namespace["extract"])


def _first_chars(tokens: list[_Element | str]) -> frozenset[str] | None:
    """The characters a non-empty value must start with to match; None: no constraint."""
    for tok in tokens:
        if isinstance(tok, str):
            return frozenset(tok)
        if tok.first is not None:
            return frozenset(tok.first)
    return None


def _frac_follows(tokens: list[_Element | str], start: int) -> bool:
    for tok in tokens[start:]:
        if isinstance(tok, _Element):
            return tok.kind == _FRAC
    return False


def _parse_offset(v: str) -> int | None:
    """Seconds east of UTC for ``±hh``, ``±hhmm``, ``±hh:mm``, ``±hhmmss``, ``±hh:mm:ss``."""
    n = len(v)
    hh = _SMALL_INT[v[1:3]]
    mm = ss = 0
    if n == 5 or n == 7:
        mm = _SMALL_INT[v[3:5]]
        if n == 7:
            ss = _SMALL_INT[v[5:7]]
    elif n == 6 or n == 9:
        mm = _SMALL_INT[v[4:6]]
        if n == 9:
            ss = _SMALL_INT[v[7:9]]
    if hh > 24 or mm > 60 or ss > 60:
        return None
    total = (hh * 60 + mm) * 60 + ss
    return -total if v[0] == "-" else total


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)


def _days_in(month: int, year: int) -> int:
    if month == 2 and is_leap(year):
        return 29
    return _DAYS_BEFORE[month] - _DAYS_BEFORE[month - 1]


def _from_year_day(year: int, yday: int, month: int, day: int) -> tuple[int, int] | None:
    m = d = 0
    if is_leap(year):
        if yday == 31 + 29:
            m, d = 2, 29
        elif yday > 31 + 29:
            yday -= 1
    if yday < 1 or yday > 365:
        return None
    if m == 0:
        m = (yday - 1) // 31 + 1
        if _DAYS_BEFORE[m] < yday:
            m += 1
        d = yday - _DAYS_BEFORE[m - 1]
    if (month >= 0 and month != m) or (day >= 0 and day != d):
        return None
    return m, d


def resolve_year(fields: Fields, year: int) -> Fields:
    """Give a year-0 result the year `year`, as Go's ``AddDate(year, 0, 0)`` would.

    Year 0 is a leap year, so Feb 29 becomes Mar 1 when `year` is not a leap year.
    """
    _, month, day, hour, minute, second, nanos, off = fields
    if month == 2 and day == 29 and not is_leap(year):
        month, day = 3, 1
    return (year, month, day, hour, minute, second, nanos, off)


def is_zero_instant(fields: Fields) -> bool:
    """True for Go's zero time (0001-01-01T00:00:00Z), whatever the offset it is written in."""
    year, month, day, hour, minute, second, nanos, off = fields
    if nanos or year > 1:
        return False
    # Day number relative to 0001-01-01, counting year 0 (leap, 366 days) as negative.
    days = _DAYS_BEFORE[month - 1] + day - 1 + (1 if month > 2 and is_leap(year) else 0)
    if year == 0:
        days -= 366
    return days * 86400 + hour * 3600 + minute * 60 + second - off == 0


@lru_cache(maxsize=512)
def compile_layout(layout: str) -> GoLayout:
    """The compiled form of `layout` (cached)."""
    return GoLayout(layout)
