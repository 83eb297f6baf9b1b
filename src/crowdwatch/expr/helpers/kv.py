"""Key/value line parsers ``ParseKV`` and ``ParseKVLax`` (EXPR.md §9.2)."""

from __future__ import annotations

import re

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.govalues import want_dict, want_str
from crowdwatch.expr.registry import helper

# CrowdSec's pattern with RE2's ASCII \s spelled out.
_KV = re.compile(r'([^=\t\n\f\r ]+)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^=\t\n\f\r ]+)|[\t\n\f\r ]*)')
_LAX_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*=")
_SPACE = "\t\n\v\f\r "


def _dest_map(fn: str, target: object, key: object) -> dict[str, str]:
    dest = want_dict(fn, target)
    name = want_str(fn, key)
    current = dest.get(name)
    if current is None:
        current = dest[name] = {}
    elif not isinstance(current, dict) or not all(isinstance(v, str) for v in current.values()):
        raise ExprRuntimeError(f"{fn}: target[{name!r}] is not a map[string]string")
    return current


@helper("ParseKV", 3, returns="any")
def ParseKV(s: object, target: object, key: object) -> None:
    """Store the ``k=v`` / ``k="quoted"`` / ``k=`` pairs of ``s`` into ``target[key]``.

    Quoted values keep their backslash escapes. No pair at all is a runtime error.
    """
    text = want_str("ParseKV", s)
    pairs: dict[str, str] = {}
    for m in _KV.finditer(text):
        pairs[m.group(1)] = m.group(2) or m.group(3) or ""
    if not pairs:
        raise ExprRuntimeError("ParseKV: no key/value pair found")
    _dest_map("ParseKV", target, key).update(pairs)
    return None


def _unquote_lax(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        return re.sub(r'\\([\\"])', r"\1", inner)
    return value


def parse_kv_lax(text: str) -> dict[str, str]:
    """Keys ``[A-Za-z_][A-Za-z0-9_.-]*=`` that start the text or follow white space, outside
    double quotes, delimit the values; each value is the trimmed text up to the next key."""
    starts: list[tuple[int, int]] = []  # (key start, value start)
    in_quote = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if in_quote:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif i == 0 or text[i - 1] in _SPACE:
            m = _LAX_KEY.match(text, i)
            if m:
                starts.append((i, m.end()))
                i = m.end()
                continue
        i += 1
    out: dict[str, str] = {}
    for idx, (kstart, vstart) in enumerate(starts):
        vend = starts[idx + 1][0] if idx + 1 < len(starts) else n
        out[text[kstart : vstart - 1]] = _unquote_lax(text[vstart:vend].strip(_SPACE))
    return out


@helper("ParseKVLax", 3, returns="any")
def ParseKVLax(s: object, target: object, key: object) -> None:
    """Lenient key/value parser (values may contain spaces); stores into ``target[key]``."""
    pairs = parse_kv_lax(want_str("ParseKVLax", s))
    if not pairs:
        raise ExprRuntimeError("ParseKVLax: no key/value pair found")
    _dest_map("ParseKVLax", target, key).update(pairs)
    return None
