"""String helpers (EXPR.md §9.2 "Strings") with Go ``strings`` semantics.

Offsets returned by ``Index``/``IndexAny`` are UTF-8 **byte** offsets, as in Go.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
from typing import Any

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.gofmt import sprintf
from crowdwatch.expr.helpers.govalues import want_int, want_list, want_str
from crowdwatch.expr.registry import helper

log = logging.getLogger("crowdwatch.expr")

GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Characters for which Go's ``unicode.IsSpace`` is true."""
_FIELDS = re.compile(f"[^{re.escape(GO_SPACE)}]+")

# Go simple case mapping differs from Python's full mapping where Python's result has
# several characters (they are kept unchanged) and for U+0130 (lower → "i").
_LOWER_EXCEPTIONS = {"\u0130": "i"}


@functools.lru_cache(maxsize=4096)
def _upper_char(ch: str) -> str:
    up = ch.upper()
    return up if len(up) == 1 else ch


@functools.lru_cache(maxsize=4096)
def _lower_char(ch: str) -> str:
    if ch in _LOWER_EXCEPTIONS:
        return _LOWER_EXCEPTIONS[ch]
    low = ch.lower()
    return low if len(low) == 1 else ch


def go_upper(s: str) -> str:
    """Go ``strings.ToUpper`` (simple case mapping: ``ß`` stays ``ß``)."""
    if s.isascii():
        return s.upper()
    return "".join(map(_upper_char, s))


def go_lower(s: str) -> str:
    """Go ``strings.ToLower`` (simple case mapping)."""
    if s.isascii():
        return s.lower()
    return "".join(map(_lower_char, s))


def go_trim_space(s: str) -> str:
    return s.strip(GO_SPACE)


def _byte_offset(s: str, char_index: int) -> int:
    if char_index <= 0 or s.isascii():
        return char_index
    return len(s[:char_index].encode("utf-8", "surrogatepass"))


def go_index(s: str, sub: str) -> int:
    i = s.find(sub)
    return i if i <= 0 else _byte_offset(s, i)


def go_last_index(s: str, sub: str) -> int:
    i = s.rfind(sub)
    return i if i <= 0 else _byte_offset(s, i)


def go_split(s: str, sep: str, n: int = -1, after: bool = False) -> list[str]:
    """Go ``strings.Split``/``SplitN``/``SplitAfter``/``SplitAfterN``."""
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if 0 < n < len(chars):
            return [*chars[: n - 1], "".join(chars[n - 1 :])]
        return chars
    parts = s.split(sep, n - 1) if n > 0 else s.split(sep)
    if after:
        last = len(parts) - 1
        return [p + sep if i < last else p for i, p in enumerate(parts)]
    return parts


@helper("Upper", 1, returns="str")
def Upper(s: object) -> str:
    if type(s) is str and s.isascii():  # the common case, without two more calls
        return s.upper()
    return go_upper(want_str("Upper", s))


@helper("Lower", 1, returns="str")
def Lower(s: object) -> str:
    if type(s) is str and s.isascii():
        return s.lower()
    return go_lower(want_str("Lower", s))


@helper("TrimSpace", 1, returns="str")
def TrimSpace(s: object) -> str:
    return want_str("TrimSpace", s).strip(GO_SPACE)


@helper("Trim", 2, returns="str")
def Trim(s: object, cutset: object) -> str:
    return want_str("Trim", s).strip(want_str("Trim", cutset))


@helper("TrimLeft", 2, returns="str")
def TrimLeft(s: object, cutset: object) -> str:
    return want_str("TrimLeft", s).lstrip(want_str("TrimLeft", cutset))


@helper("TrimRight", 2, returns="str")
def TrimRight(s: object, cutset: object) -> str:
    return want_str("TrimRight", s).rstrip(want_str("TrimRight", cutset))


@helper("TrimPrefix", 2, returns="str")
def TrimPrefix(s: object, prefix: object) -> str:
    return want_str("TrimPrefix", s).removeprefix(want_str("TrimPrefix", prefix))


@helper("TrimSuffix", 2, returns="str")
def TrimSuffix(s: object, suffix: object) -> str:
    return want_str("TrimSuffix", s).removesuffix(want_str("TrimSuffix", suffix))


@helper("Split", 2, returns="list")
def Split(s: object, sep: object) -> list[str]:
    return go_split(want_str("Split", s), want_str("Split", sep))


@helper("SplitN", 3, returns="list")
def SplitN(s: object, sep: object, n: object) -> list[str]:
    return go_split(want_str("SplitN", s), want_str("SplitN", sep), want_int("SplitN", n))


@helper("SplitAfter", 2, returns="list")
def SplitAfter(s: object, sep: object) -> list[str]:
    return go_split(want_str("SplitAfter", s), want_str("SplitAfter", sep), after=True)


@helper("SplitAfterN", 3, returns="list")
def SplitAfterN(s: object, sep: object, n: object) -> list[str]:
    return go_split(
        want_str("SplitAfterN", s), want_str("SplitAfterN", sep), want_int("SplitAfterN", n), after=True
    )


@helper("Fields", 1, returns="list")
def Fields(s: object) -> list[str]:
    return _FIELDS.findall(want_str("Fields", s))


@helper("Join", 2, returns="str")
def Join(items: object, sep: object) -> str:
    parts = want_list("Join", items)
    return want_str("Join", sep).join(want_str("Join", p) for p in parts)


@helper("Index", 2, returns="int")
def Index(s: object, sub: object) -> int:
    return go_index(want_str("Index", s), want_str("Index", sub))


@helper("IndexAny", 2, returns="int")
def IndexAny(s: object, chars: object) -> int:
    text = want_str("IndexAny", s)
    wanted = set(want_str("IndexAny", chars))
    for i, ch in enumerate(text):
        if ch in wanted:
            return _byte_offset(text, i)
    return -1


@helper("Replace", 4, returns="str")
def Replace(s: object, old: object, new: object, n: object) -> str:
    # str.replace treats a negative count as "all" and inserts around every character
    # for an empty ``old``, exactly like Go's strings.Replace.
    return want_str("Replace", s).replace(
        want_str("Replace", old), want_str("Replace", new), want_int("Replace", n)
    )


@helper("ReplaceAll", 3, returns="str")
def ReplaceAll(s: object, old: object, new: object) -> str:
    return want_str("ReplaceAll", s).replace(want_str("ReplaceAll", old), want_str("ReplaceAll", new))


@helper("Get", 2, returns="str")
def Get(items: object, i: object) -> Any:
    seq = want_list("Get", items)
    idx = want_int("Get", i)
    if idx < 0:
        raise ExprRuntimeError(f"Get: index out of range [{idx}]")
    return seq[idx] if idx < len(seq) else ""


@helper("ToString", 1, returns="str")
def ToString(x: object) -> str:
    return x if isinstance(x, str) else ""


@helper("Sprintf", 1, None, returns="str")
def Sprintf(fmt: object, *args: object) -> str:
    return sprintf(want_str("Sprintf", fmt), args)


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[bytes]:
    body = b"".join(
        b".*" if c == b"*" else b"." if c == b"?" else re.escape(c)
        for c in (pattern.encode("utf-8")[i : i + 1] for i in range(len(pattern.encode("utf-8"))))
    )
    return re.compile(body, re.DOTALL)


@helper("Match", 2, returns="bool")
def Match(pattern: object, s: object) -> bool:
    """Whole-string glob: ``*`` any sequence, ``?`` exactly one byte, the rest literal."""
    pat = want_str("Match", pattern)
    text = want_str("Match", s)
    if "*" not in pat and "?" not in pat:
        return pat == text
    return _glob(pat).fullmatch(text.encode("utf-8", "surrogatepass")) is not None


@helper("B64Decode", 1, returns="str")
def B64Decode(s: object) -> str:
    text = want_str("B64Decode", s).replace("\r", "").replace("\n", "")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ExprRuntimeError(f"B64Decode: illegal base64 data: {exc}") from None
    return raw.decode("utf-8", "replace")


@helper("LogInfo", 1, None, returns="bool")
def LogInfo(fmt: object, *args: object) -> bool:
    log.info("%s", sprintf(want_str("LogInfo", fmt), args))
    return True
