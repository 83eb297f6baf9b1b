"""Go ``fmt.Sprintf`` for the value kinds expressions hold.

Verbs: ``%v %+v %d %s %q %f %F %e %g %x %X %o %b %c %t %T %%`` with flags ``+ - # 0 space``,
width and precision (``*`` not supported). Mismatched verbs and argument counts produce
Go's in-band error strings (``%!d(string=x)``, ``%!s(MISSING)``, ``%!(EXTRA int=1)``).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from crowdwatch.expr.helpers.govalues import format_go_float, format_value, go_type
from crowdwatch.expr.values import Duration

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?(.)?", re.DOTALL)

Piece = str | tuple[str, str, int | None, int | None]


@functools.lru_cache(maxsize=512)
def _parse(fmt: str) -> tuple[Piece, ...]:
    out: list[Piece] = []
    pos = 0
    while True:
        i = fmt.find("%", pos)
        if i < 0:
            if pos < len(fmt):
                out.append(fmt[pos:])
            return tuple(out)
        if i > pos:
            out.append(fmt[pos:i])
        m = _DIRECTIVE.match(fmt, i)
        assert m is not None
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        out.append(
            (
                flags + (verb or ""),
                verb or "",
                int(width) if width else None,
                (int(prec) if prec else 0) if prec is not None else None,
            )
        )
        pos = m.end()


def sprintf(fmt: str, args: tuple[Any, ...] | list[Any]) -> str:
    """Format ``args`` with the Go format string ``fmt``."""
    parts: list[str] = []
    n = 0
    for piece in _parse(fmt):
        if isinstance(piece, str):
            parts.append(piece)
            continue
        spec, verb, width, prec = piece
        flags = spec[: len(spec) - len(verb)]
        if verb == "%":
            parts.append("%")
            continue
        if not verb:
            parts.append("%!(NOVERB)")
            continue
        if n >= len(args):
            parts.append(f"%!{verb}(MISSING)")
            continue
        arg = args[n]
        n += 1
        parts.append(_pad(_format_one(verb, flags, prec, arg), flags, width, verb))
    if n < len(args):
        extra = ", ".join(f"{go_type(a)}={format_value(a)}" for a in args[n:])
        parts.append(f"%!(EXTRA {extra})")
    return "".join(parts)


def _pad(text: str, flags: str, width: int | None, verb: str) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and verb in "dfFeEgGxXob":
        sign = text[0] if text[:1] in "+- " else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _bad(verb: str, arg: object) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={format_value(arg)})"


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _format_one(verb: str, flags: str, prec: int | None, arg: object) -> str:
    if verb == "v":
        if isinstance(arg, float) and prec is not None:
            return _float(arg, "g", flags, prec)
        return _sign(format_value(arg, plus="+" in flags), flags, arg)
    if verb == "T":
        return go_type(arg) if arg is not None else "<nil>"
    if isinstance(arg, (list, tuple)) and verb != "q":
        return "[" + " ".join(_format_one(verb, flags, prec, v) for v in arg) + "]"
    if verb == "s":
        if isinstance(arg, str):
            return arg if prec is None else arg[:prec]
        if isinstance(arg, Duration):
            return format_value(arg)
        return _bad(verb, arg)
    if verb == "q":
        if isinstance(arg, str):
            return _go_quote(arg, ascii_only="+" in flags)
        if isinstance(arg, (list, tuple)):
            return "[" + " ".join(_format_one(verb, flags, prec, v) for v in arg) + "]"
        return _bad(verb, arg)
    if verb == "t":
        return ("true" if arg else "false") if isinstance(arg, bool) else _bad(verb, arg)
    if verb in "dxXobc":
        if _is_int(arg):
            return _integer(int(arg), verb, flags)  # type: ignore[call-overload]
        if verb in "xX" and isinstance(arg, str):
            h = arg.encode("utf-8", "surrogateescape").hex()
            return h.upper() if verb == "X" else h
        return _bad(verb, arg)
    if verb in "fFeEgG":
        if isinstance(arg, float):
            return _float(arg, verb, flags, prec)
        return _bad(verb, arg)
    return _bad(verb, arg)


def _sign(text: str, flags: str, arg: object) -> str:
    if "+" in flags and (_is_int(arg) or isinstance(arg, float)) and not text.startswith(("-", "+")):
        return "+" + text
    return text


def _integer(v: int, verb: str, flags: str) -> str:
    if verb == "c":
        return chr(v) if 0 <= v <= 0x10FFFF else "\ufffd"
    base = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
    body = format(abs(v), base)
    if "#" in flags:
        body = {"x": "0x", "X": "0X", "o": "0", "b": ""}.get(verb, "") + body
    if v < 0:
        return "-" + body
    if "+" in flags:
        return "+" + body
    if " " in flags:
        return " " + body
    return body


def _float(v: float, verb: str, flags: str, prec: int | None) -> str:
    if v != v or v in (float("inf"), float("-inf")):
        text = format_go_float(v)
        return text if "+" in flags or not text.startswith("+") else text[1:]
    lower = verb.lower()
    if lower == "g" and prec is None:
        text = format_go_float(v)
    elif lower == "g":
        text = format(v, f".{prec or 1}g")
        text = re.sub(r"e([+-])(\d)$", r"e\g<1>0\2", text)
    else:
        text = format(v, f".{6 if prec is None else prec}{'f' if lower == 'f' else 'e'}")
    if verb in "EG":
        text = text.upper()
    if "+" in flags and not text.startswith("-"):
        text = "+" + text
    elif " " in flags and not text.startswith("-"):
        text = " " + text
    return text


def _go_quote(s: str, ascii_only: bool = False) -> str:
    """``strconv.Quote``: double-quoted with Go escapes (non-printable runes as ``\\u``/``\\x``)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\ufffd":
            out.append("\\ufffd" if ascii_only else ch)
        elif 0x20 <= o < 0x7F or (o > 0x7F and ch.isprintable() and not ascii_only):
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append(json.dumps(ch)[1:-1] if ch not in "\a\v" else {"\a": "\\a", "\v": "\\v"}[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)
