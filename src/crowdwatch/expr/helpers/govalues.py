"""Go value conventions shared by the helpers: argument checks, Go number parsing,
Go ``%v`` formatting and Go type names (used in ``fmt`` error strings)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, NoReturn

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.durations import format_go_duration
from crowdwatch.expr.values import Duration, go_type

_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:e[+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE | re.ASCII
)
_GO_INT = re.compile(r"[+-]?\d+", re.ASCII)


def type_error(fn: str, arg: object, want: str) -> NoReturn:
    """Raise the runtime error Go reports when a helper gets a value of the wrong type."""
    raise ExprRuntimeError(f"{fn}: interface conversion: interface {{}} is {go_type(arg)}, not {want}")


def want_str(fn: str, x: object) -> str:
    if type(x) is str:
        return x
    if isinstance(x, str):
        return str(x)
    type_error(fn, x, "string")


def want_int(fn: str, x: object) -> int:
    if isinstance(x, int) and not isinstance(x, bool):
        return int(x)
    type_error(fn, x, "int")


def want_float(fn: str, x: object) -> float:
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    type_error(fn, x, "float64")


def want_list(fn: str, x: object) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return list(x)
    type_error(fn, x, "[]interface {}")


def want_dict(fn: str, x: object) -> dict[Any, Any]:
    if isinstance(x, dict):
        return x
    type_error(fn, x, "map[string]interface {}")


def parse_go_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)``: raise ``ValueError`` on invalid syntax.

    Out-of-range values give ±Inf (Go returns them with ``ErrRange``). Hexadecimal
    floats are not supported.
    """
    if _GO_FLOAT.fullmatch(text):
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')


def parse_go_int(text: str) -> int:
    """``strconv.Atoi``: decimal with optional sign, no spaces or underscores."""
    if not _GO_INT.fullmatch(text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def format_go_float(x: float) -> str:
    """Go ``%v`` of a float64 (``strconv.FormatFloat(x, 'g', -1, 64)``): shortest round-trip
    digits, exponent form (two digits at least) when the decimal exponent is < -4 or >= 6."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if str(x).startswith("-") else "0"
    sign, digit_tuple, exp = Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exp, int)
    dp = len(digit_tuple) + exp  # position of the decimal point relative to the digits
    e = dp - 1
    prefix = "-" if sign else ""
    if e < -4 or e >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if dp <= 0:
        return f"{prefix}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return prefix + digits + "0" * (dp - len(digits))
    return f"{prefix}{digits[:dp]}.{digits[dp:]}"


def format_go_time(t: datetime) -> str:
    """Go ``time.Time.String()`` (without the monotonic clock reading)."""
    base = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        base += f".{t.microsecond:06d}".rstrip("0")
    off = t.strftime("%z") or "+0000"
    name = t.tzname() or "UTC"
    if name.startswith(("UTC+", "UTC-")) or name[:1] in "+-":
        name = off
    return f"{base} {off} {name}"


def format_value(x: object, plus: bool = False) -> str:
    """Go ``fmt`` ``%v`` (``%+v`` when ``plus``: identical for the value kinds expressions hold)."""
    if x is None:
        return "<nil>"
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, str):
        return x
    if isinstance(x, Duration):
        return format_go_duration(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return format_go_float(x)
    if isinstance(x, (list, tuple)):
        return "[" + " ".join(format_value(v, plus) for v in x) + "]"
    if isinstance(x, dict):
        items = sorted(x.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{format_value(k, plus)}:{format_value(v, plus)}" for k, v in items) + "]"
    if isinstance(x, datetime):
        return format_go_time(x)
    if isinstance(x, bytes):
        return "[" + " ".join(str(b) for b in x) + "]"
    return str(x)


def _sort_key(k: object) -> tuple[int, Any]:
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        return (0, k)
    return (1, str(k))
