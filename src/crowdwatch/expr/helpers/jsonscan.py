"""Locate a value inside JSON text without decoding it (for ``JsonExtract``'s raw results).

The scanner walks only what the path needs: like the Go library CrowdSec uses, it is
lenient about malformed text it does not have to look at, and returns the first of
duplicate keys.
"""

from __future__ import annotations

import json
import re

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null", re.ASCII)
_STRUCT = re.compile(r'["{}\[\]]')
_MEMBER = re.compile(r'[ \t\n\r]*("[^"\\]*(?:\\.[^"\\]*)*")[ \t\n\r]*:[ \t\n\r]*', re.DOTALL)
_SEP = re.compile(r"[ \t\n\r]*([,}\]])[ \t\n\r]*")


def split_path(path: str) -> list[str]:
    """``a.b[0].c`` → ``["a", "b", "[0]", "c"]`` (a ``[`` not at the start acts as ``.[``)."""
    if "[" in path[1:]:
        path = path[0] + path[1:].replace("[", ".[")
    return path.split(".")


def _skip_ws(text: str, i: int) -> int:
    m = _WS.match(text, i)
    return m.end() if m else i


def value_end(text: str, i: int) -> int:
    """End offset of the JSON value starting at ``i`` (no leading white space); -1 if malformed."""
    if i >= len(text):
        return -1
    c = text[i]
    if c == '"':
        m = _STRING.match(text, i)
        return m.end() if m else -1
    if c in "{[":
        depth = 0
        pos = i
        while True:
            m = _STRUCT.search(text, pos)
            if m is None:
                return -1
            ch = m.group()
            if ch == '"':
                s = _STRING.match(text, m.start())
                if s is None:
                    return -1
                pos = s.end()
                continue
            depth += 1 if ch in "{[" else -1
            pos = m.end()
            if depth == 0:
                return pos
    m = _SCALAR.match(text, i)
    return m.end() if m else -1


def _key_text(raw: str) -> str:
    if "\\" not in raw:
        return raw[1:-1]
    try:
        return str(json.loads(raw))
    except ValueError:
        return raw[1:-1]


def locate(text: str, keys: list[str]) -> tuple[int, int] | None:
    """``(start, end)`` of the value at ``keys`` (object keys, or ``[n]`` array indexes)."""
    i = _skip_ws(text, 0)
    for key in keys:
        if i >= len(text):
            return None
        if len(key) > 2 and key[0] == "[" and key[-1] == "]":
            try:
                index = int(key[1:-1])
            except ValueError:
                return None
            if text[i] != "[":
                return None
            i = _skip_ws(text, i + 1)
            if index < 0 or i >= len(text) or text[i] == "]":
                return None
            for _ in range(index):
                end = value_end(text, i)
                sep = _SEP.match(text, end) if end >= 0 else None
                if sep is None or sep.group(1) != ",":
                    return None
                i = sep.end()
        else:
            if text[i] != "{":
                return None
            i += 1
            while True:
                m = _MEMBER.match(text, i)
                if m is None:
                    return None
                i = m.end()
                if _key_text(m.group(1)) == key:
                    break
                end = value_end(text, i)
                sep = _SEP.match(text, end) if end >= 0 else None
                if sep is None or sep.group(1) != ",":
                    return None
                i = sep.end()
    end = value_end(text, i)
    if end < 0:
        return None
    return i, end
