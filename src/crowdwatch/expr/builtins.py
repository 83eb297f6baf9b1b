"""expr-lang builtins that are plain functions (EXPR.md §7), registered in ``BUILTINS``.

``len``, ``get`` and the predicate builtins (``any``, ``all``, ``filter``, ``map``, ``count``,
``sum``, ``sortBy``…) are compiled inline by the compiler and are not here.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import statistics
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.durations import format_go_duration, parse_go_duration
from crowdwatch.expr.helpers.govalues import (
    format_value,
    parse_go_float,
    parse_go_int,
    want_dict,
    want_int,
    want_list,
    want_str,
)
from crowdwatch.expr.helpers.jsonfuncs import go_json_dumps, go_json_loads
from crowdwatch.expr.helpers.misc import distinct, flatten
from crowdwatch.expr.helpers.strings import (
    go_index,
    go_last_index,
    go_lower,
    go_split,
    go_trim_space,
    go_upper,
)
from crowdwatch.expr.registry import helper
from crowdwatch.expr.values import Duration

__all__ = ["format_go_duration", "parse_go_duration"]

MAX_REPEAT_BYTES = 10 * 1024 * 1024
"""Largest result ``repeat`` may build (a runtime error beyond)."""
_INT64 = 1 << 64


def builtin(name: str, min_args: int, max_args: int | None = -1, returns: str = "any") -> Any:
    return helper(name, min_args, max_args, returns, builtin=True)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _wrap64(v: int) -> int:
    v &= _INT64 - 1
    return v - _INT64 if v >= 1 << 63 else v


# --- conversions -------------------------------------------------------------------


@builtin("int", 1, returns="int")
def int_(x: object) -> int:
    if isinstance(x, bool) or x is None:
        raise ExprRuntimeError(f"invalid operation: int({format_value(x)})")
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return -(1 << 63)
        return int(x)
    if isinstance(x, str):
        try:
            return parse_go_int(x)
        except ValueError as exc:
            raise ExprRuntimeError(str(exc)) from None
    raise ExprRuntimeError(f"invalid operation: int({type(x).__name__})")


@builtin("float", 1, returns="float")
def float_(x: object) -> float:
    if _is_number(x):
        return float(x)  # type: ignore[arg-type]
    if isinstance(x, str):
        try:
            return parse_go_float(x)
        except ValueError as exc:
            raise ExprRuntimeError(str(exc)) from None
    raise ExprRuntimeError(f"invalid operation: float({format_value(x)})")


@builtin("string", 1, returns="str")
def string_(x: object) -> str:
    return format_value(x)


@builtin("duration", 1, returns="duration")
def duration_(s: object) -> Duration:
    try:
        return parse_go_duration(want_str("duration", s))
    except ValueError as exc:
        raise ExprRuntimeError(str(exc)) from None


@builtin("toJSON", 1, returns="str")
def toJSON(x: object) -> str:
    try:
        return go_json_dumps(x, indent="  ")
    except ValueError as exc:
        raise ExprRuntimeError(str(exc)) from None


@builtin("fromJSON", 1, returns="any")
def fromJSON(s: object) -> Any:
    try:
        return go_json_loads(want_str("fromJSON", s))
    except ValueError as exc:
        raise ExprRuntimeError(f"fromJSON: {exc}") from None


@builtin("toBase64", 1, returns="str")
def toBase64(s: object) -> str:
    return base64.b64encode(want_str("toBase64", s).encode("utf-8", "surrogatepass")).decode("ascii")


@builtin("fromBase64", 1, returns="str")
def fromBase64(s: object) -> str:
    try:
        raw = base64.b64decode(want_str("fromBase64", s).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ExprRuntimeError(f"fromBase64: illegal base64 data: {exc}") from None
    return raw.decode("utf-8", "replace")


@builtin("type", 1, returns="str")
def type_(x: object) -> str:
    if x is None:
        return "nil"
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, Duration):
        return "time.Duration"
    if isinstance(x, int):
        return "int"
    if isinstance(x, float):
        return "float"
    if isinstance(x, str):
        return "string"
    if isinstance(x, (list, tuple)):
        return "array"
    if isinstance(x, dict):
        return "map"
    if isinstance(x, datetime):
        return "time.Time"
    if callable(x):
        return "func"
    return "struct"


# --- time ----------------------------------------------------------------------------


@builtin("now", 0, returns="time")
def now() -> datetime:
    return datetime.now(UTC).astimezone()


@builtin("timezone", 1, returns="any")
def timezone(name: object) -> tzinfo:
    text = want_str("timezone", name)
    if text in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExprRuntimeError(f"unknown time zone {text}") from exc


# Go reference-time tokens → strptime directives, longest first.
_GO_LAYOUT = re.compile(
    r"January|Jan|Monday|Mon|2006|06|01|02|_2|15|03|04|05|PM|pm|MST|Z07:00|Z0700|-07:00|-0700|-07|"
    r"\.0+|\.9+|,0+|,9+|1|2|3|4|5"
)
_GO_TOKENS = {
    "January": "%B", "Jan": "%b", "Monday": "%A", "Mon": "%a", "2006": "%Y", "06": "%y",
    "01": "%m", "1": "%m", "02": "%d", "_2": "%d", "2": "%d", "15": "%H", "03": "%I", "3": "%I",
    "04": "%M", "4": "%M", "05": "%S", "5": "%S", "PM": "%p", "pm": "%p", "MST": "%Z",
    "Z07:00": "%z", "Z0700": "%z", "-07:00": "%z", "-0700": "%z", "-07": "%z",
}  # fmt: skip
_DEFAULT_LAYOUTS = (
    "2006-01-02",
    "15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05Z07:00",
    "02 Jan 06 15:04 MST",
    "Monday, 02-Jan-06 15:04:05 MST",
    "Mon, 02 Jan 2006 15:04:05 MST",
)


def _strptime_format(layout: str) -> str:
    out = []
    pos = 0
    for m in _GO_LAYOUT.finditer(layout):
        out.append(layout[pos : m.start()].replace("%", "%%"))
        tok = m.group()
        out.append(".%f" if tok[0] in ".," and len(tok) > 1 else _GO_TOKENS[tok])
        pos = m.end()
    out.append(layout[pos:].replace("%", "%%"))
    return "".join(out)


def _parse_time(text: str, layout: str, tz: tzinfo) -> datetime:
    fmt = _strptime_format(layout)
    value = text.replace("Z", "+00:00") if "%z" in fmt and text.endswith("Z") else text
    t = datetime.strptime(value, fmt)
    return t if t.tzinfo is not None else t.replace(tzinfo=tz)


@builtin("date", 1, 3, returns="time")
def date(value: object, layout: object = None, tz: object = None) -> datetime:
    if isinstance(value, datetime):
        return value
    text = want_str("date", value)
    zone: tzinfo = timezone(tz) if tz is not None else (datetime.now(UTC).astimezone().tzinfo or UTC)
    layouts = (want_str("date", layout),) if layout is not None else _DEFAULT_LAYOUTS
    for candidate in layouts:
        try:
            return _parse_time(text, candidate, zone)
        except ValueError:
            continue
    raise ExprRuntimeError(f"date: cannot parse {text!r}")


# --- strings ---------------------------------------------------------------------------


@builtin("lower", 1, returns="str")
def lower(s: object) -> str:
    return go_lower(want_str("lower", s))


@builtin("upper", 1, returns="str")
def upper(s: object) -> str:
    return go_upper(want_str("upper", s))


@builtin("trim", 1, 2, returns="str")
def trim(s: object, chars: object = None) -> str:
    text = want_str("trim", s)
    return go_trim_space(text) if chars is None else text.strip(want_str("trim", chars))


@builtin("trimPrefix", 1, 2, returns="str")
def trimPrefix(s: object, prefix: object = " ") -> str:
    return want_str("trimPrefix", s).removeprefix(want_str("trimPrefix", prefix))


@builtin("trimSuffix", 1, 2, returns="str")
def trimSuffix(s: object, suffix: object = " ") -> str:
    return want_str("trimSuffix", s).removesuffix(want_str("trimSuffix", suffix))


@builtin("split", 2, 3, returns="list")
def split(s: object, sep: object, n: object = -1) -> list[str]:
    return go_split(want_str("split", s), want_str("split", sep), want_int("split", n))


@builtin("splitAfter", 2, 3, returns="list")
def splitAfter(s: object, sep: object, n: object = -1) -> list[str]:
    return go_split(
        want_str("splitAfter", s), want_str("splitAfter", sep), want_int("splitAfter", n), after=True
    )


@builtin("replace", 3, returns="str")
def replace(s: object, old: object, new: object) -> str:
    return want_str("replace", s).replace(want_str("replace", old), want_str("replace", new))


@builtin("repeat", 2, returns="str")
def repeat(s: object, n: object) -> str:
    text = want_str("repeat", s)
    count = want_int("repeat", n)
    if count < 0:
        raise ExprRuntimeError("strings: negative Repeat count")
    if len(text.encode("utf-8", "surrogatepass")) * count > MAX_REPEAT_BYTES:
        raise ExprRuntimeError(f"repeat: result larger than {MAX_REPEAT_BYTES} bytes")
    return text * count


@builtin("indexOf", 2, returns="int")
def indexOf(s: object, sub: object) -> int:
    return go_index(want_str("indexOf", s), want_str("indexOf", sub))


@builtin("lastIndexOf", 2, returns="int")
def lastIndexOf(s: object, sub: object) -> int:
    return go_last_index(want_str("lastIndexOf", s), want_str("lastIndexOf", sub))


@builtin("hasPrefix", 2, returns="bool")
def hasPrefix(s: object, prefix: object) -> bool:
    return want_str("hasPrefix", s).startswith(want_str("hasPrefix", prefix))


@builtin("hasSuffix", 2, returns="bool")
def hasSuffix(s: object, suffix: object) -> bool:
    return want_str("hasSuffix", s).endswith(want_str("hasSuffix", suffix))


# --- numbers ---------------------------------------------------------------------------


def _number(fn: str, x: object) -> int | float:
    if not _is_number(x):
        raise ExprRuntimeError(f"invalid argument for {fn} (type {type(x).__name__})")
    return x  # type: ignore[return-value]


@builtin("abs", 1, returns="any")
def abs_(x: object) -> int | float:
    v = _number("abs", x)
    return -v if v < 0 else v


@builtin("ceil", 1, returns="float")
def ceil(x: object) -> float:
    return float(math.ceil(_number("ceil", x)))


@builtin("floor", 1, returns="float")
def floor(x: object) -> float:
    return float(math.floor(_number("floor", x)))


@builtin("round", 1, returns="float")
def round_(x: object) -> float:
    """Half away from zero (Go ``math.Round``): ``round(2.5)`` = 3, ``round(-2.5)`` = -3."""
    v = float(_number("round", x))
    if math.isnan(v) or math.isinf(v):
        return v
    r = math.floor(abs(v) + 0.5)
    if abs(v) + 0.5 == r and abs(v) % 1 != 0.5:
        r -= 1  # abs(v) + 0.5 rounded up in floating point (e.g. 0.49999999999999994)
    return math.copysign(r, v)


def _numbers(fn: str, args: tuple[object, ...]) -> list[int | float]:
    values: list[object] = []
    for a in args:
        if isinstance(a, (list, tuple)):
            values.extend(flatten(a, []))
        else:
            values.append(a)
    return [_number(fn, v) for v in values]


@builtin("max", 1, None, returns="any")
def max_(*args: object) -> Any:
    values = _numbers("max", args)
    return max(values) if values else None


@builtin("min", 1, None, returns="any")
def min_(*args: object) -> Any:
    values = _numbers("min", args)
    return min(values) if values else None


@builtin("mean", 1, None, returns="float")
def mean(*args: object) -> float:
    values = _numbers("mean", args)
    return float(sum(values)) / len(values) if values else 0.0


@builtin("median", 1, None, returns="float")
def median(*args: object) -> float:
    values = _numbers("median", args)
    return float(statistics.median(values)) if values else 0.0


# --- collections -----------------------------------------------------------------------


@builtin("first", 1, returns="any")
def first(items: object) -> Any:
    seq = want_list("first", items)
    return seq[0] if seq else None


@builtin("last", 1, returns="any")
def last(items: object) -> Any:
    seq = want_list("last", items)
    return seq[-1] if seq else None


@builtin("take", 2, returns="list")
def take(items: object, n: object) -> list[Any]:
    count = want_int("take", n)
    return want_list("take", items)[: max(count, 0)]


@builtin("reverse", 1, returns="list")
def reverse(items: object) -> list[Any]:
    return want_list("reverse", items)[::-1]


@builtin("sort", 1, 2, returns="list")
def sort(items: object, order: object = "asc") -> list[Any]:
    seq = want_list("sort", items)
    direction = want_str("sort", order)
    if direction not in ("asc", "desc"):
        raise ExprRuntimeError(f"sort: unknown order {direction!r} (use asc or desc)")
    if seq and not (all(_is_number(v) for v in seq) or all(isinstance(v, str) for v in seq)):
        raise ExprRuntimeError("sort: values must all be numbers or all be strings")
    return sorted(seq, reverse=direction == "desc")


@builtin("uniq", 1, returns="list")
def uniq(items: object) -> list[Any]:
    return distinct(want_list("uniq", items))


@builtin("concat", 1, None, returns="list")
def concat(*lists: object) -> list[Any]:
    out: list[Any] = []
    for x in lists:
        out.extend(want_list("concat", x))
    return out


@builtin("flatten", 1, returns="list")
def flatten_(items: object) -> list[Any]:
    return flatten(want_list("flatten", items), [])


@builtin("keys", 1, returns="list")
def keys(m: object) -> list[Any]:
    return list(want_dict("keys", m))


@builtin("values", 1, returns="list")
def values(m: object) -> list[Any]:
    return list(want_dict("values", m).values())


@builtin("toPairs", 1, returns="list")
def toPairs(m: object) -> list[list[Any]]:
    return [[k, v] for k, v in want_dict("toPairs", m).items()]


@builtin("fromPairs", 1, returns="map")
def fromPairs(pairs: object) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for pair in want_list("fromPairs", pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ExprRuntimeError("fromPairs: each element must be a [key, value] pair")
        out[pair[0]] = pair[1]
    return out


# --- bits ------------------------------------------------------------------------------


@builtin("bitand", 2, returns="int")
def bitand(a: object, b: object) -> int:
    return want_int("bitand", a) & want_int("bitand", b)


@builtin("bitor", 2, returns="int")
def bitor(a: object, b: object) -> int:
    return want_int("bitor", a) | want_int("bitor", b)


@builtin("bitxor", 2, returns="int")
def bitxor(a: object, b: object) -> int:
    return want_int("bitxor", a) ^ want_int("bitxor", b)


@builtin("bitnand", 2, returns="int")
def bitnand(a: object, b: object) -> int:
    """Go ``a &^ b`` (AND NOT)."""
    return want_int("bitnand", a) & ~want_int("bitnand", b)


@builtin("bitnot", 1, returns="int")
def bitnot(a: object) -> int:
    return ~want_int("bitnot", a)


def _shift(fn: str, b: object) -> int:
    n = want_int(fn, b)
    if n < 0:
        raise ExprRuntimeError(f"{fn}: negative shift amount")
    return n


@builtin("bitshl", 2, returns="int")
def bitshl(a: object, b: object) -> int:
    n = _shift("bitshl", b)
    return 0 if n >= 64 else _wrap64(want_int("bitshl", a) << n)


@builtin("bitshr", 2, returns="int")
def bitshr(a: object, b: object) -> int:
    return want_int("bitshr", a) >> min(_shift("bitshr", b), 63)


@builtin("bitushr", 2, returns="int")
def bitushr(a: object, b: object) -> int:
    n = _shift("bitushr", b)
    return 0 if n >= 64 else _wrap64((want_int("bitushr", a) % _INT64) >> n)
