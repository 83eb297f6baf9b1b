"""Go ``time.Duration`` text: ``time.ParseDuration`` and ``Duration.String()``."""

from __future__ import annotations

import re

from crowdwatch.expr.values import Duration

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_COMPONENT = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)", re.ASCII)
_MAX = 2**63 - 1


def parse_go_duration(text: str) -> Duration:
    """Parse Go duration syntax (``"1h30m"``, ``"1.5s"``, ``"-2m"``, ``"0"``); ``ValueError`` if invalid."""
    orig = text
    neg = False
    if text[:1] in ("-", "+"):
        neg = text[0] == "-"
        text = text[1:]
    if text == "0":
        return Duration(0)
    if not text:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0
    pos = 0
    while pos < len(text):
        m = _COMPONENT.match(text, pos)
        assert m is not None  # the pattern matches the empty string
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise ValueError(f'time: invalid duration "{orig}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        scale = _UNITS.get(unit)
        if scale is None:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        value = int(whole or "0") * scale
        if frac:
            value += int(int(frac) * (scale / 10 ** len(frac)))
        total += value
        if total > _MAX + (1 if neg else 0):
            raise ValueError(f'time: invalid duration "{orig}"')
        pos = m.end()
    return Duration(-total if neg else total)


def _fraction(value: int, precision: int) -> str:
    whole, frac = divmod(value, 10**precision)
    digits = f"{frac:0{precision}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def format_go_duration(ns: int) -> str:
    """Go ``Duration.String()``: ``0s``, ``500ms``, ``1.5µs``, ``1.5s``, ``1m0s``, ``72h3m0.5s``."""
    sign = "-" if ns < 0 else ""
    u = abs(int(ns))
    if u < 1_000_000_000:
        if u == 0:
            return "0s"
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            return f"{sign}{_fraction(u, 3)}µs"
        return f"{sign}{_fraction(u, 6)}ms"
    minutes, rest = divmod(u, 60_000_000_000)
    out = _fraction(rest, 9) + "s"
    if minutes:
        hours, mins = divmod(minutes, 60)
        out = f"{mins}m{out}"
        if hours:
            out = f"{hours}h{out}"
    return sign + out
