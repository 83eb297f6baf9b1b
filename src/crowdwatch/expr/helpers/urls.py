"""URL helpers (EXPR.md §9.2 "URLs") with Go ``net/url`` behaviour.

Decoded bytes that are not valid UTF-8 (``%e9``) become U+FFFD: expression strings are
Python ``str``, and log lines already follow that convention (docs/INTERNALS.md).
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote_to_bytes

from crowdwatch.expr.helpers.govalues import want_str
from crowdwatch.expr.registry import helper

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PATH_SAFE = "-_.~$&+:=@"


def _decode(s: str) -> str:
    return unquote_to_bytes(s).decode("utf-8", "replace")


def go_path_unescape(s: str) -> str | None:
    """Go ``url.PathUnescape``; ``None`` when any ``%`` escape is malformed."""
    if "%" not in s:
        return s
    if _BAD_ESCAPE.search(s):
        return None
    return _decode(s)


def go_query_unescape(s: str) -> str | None:
    """Go ``url.QueryUnescape`` (``+`` → space); ``None`` when any ``%`` escape is malformed."""
    if "%" in s and _BAD_ESCAPE.search(s):
        return None
    s = s.replace("+", " ")
    return _decode(s) if "%" in s else s


def lenient_unescape(s: str) -> str:
    """``+`` → space and valid ``%XX`` decoded; malformed ``%`` kept literally."""
    s = s.replace("+", " ")
    if "%" not in s:
        return s
    return _decode_valid(s)


def _decode_valid(s: str) -> str:
    out = bytearray()
    pos = 0
    for m in _PCT.finditer(s):
        out += s[pos : m.start()].encode("utf-8", "surrogatepass")
        out.append(int(m.group()[1:], 16))
        pos = m.end()
    out += s[pos:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def lenient_parse_query(query: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        result.setdefault(lenient_unescape(key), []).append(lenient_unescape(value))
    return result


@helper("PathUnescape", 1, returns="str")
def PathUnescape(s: object) -> str:
    text = want_str("PathUnescape", s)
    decoded = go_path_unescape(text)
    return text if decoded is None else decoded


@helper("QueryUnescape", 1, returns="str")
def QueryUnescape(s: object) -> str:
    text = want_str("QueryUnescape", s)
    decoded = go_query_unescape(text)
    return text if decoded is None else decoded


@helper("PathEscape", 1, returns="str")
def PathEscape(s: object) -> str:
    return quote(want_str("PathEscape", s), safe=_PATH_SAFE)


@helper("QueryEscape", 1, returns="str")
def QueryEscape(s: object) -> str:
    return quote_plus(want_str("QueryEscape", s), safe="")


@helper("ParseUri", 1, returns="map")
def ParseUri(uri: object) -> dict[str, list[str]]:
    """Query parameters of ``uri`` with Go's strict rules: a control character, a malformed
    ``%`` escape anywhere or a ``;`` in the query gives an empty map."""
    text = want_str("ParseUri", uri)
    if _CONTROL.search(text) or text.startswith(":") or ("%" in text and _BAD_ESCAPE.search(text)):
        return {}
    query = text.partition("#")[0].partition("?")[2]
    result: dict[str, list[str]] = {}
    for part in query.split("&"):
        if ";" in part:
            return {}
        if not part:
            continue
        key, _, value = part.partition("=")
        k = go_query_unescape(key)
        v = go_query_unescape(value)
        if k is None or v is None:
            return {}
        result.setdefault(k, []).append(v)
    return result


@helper("ParseQuery", 1, returns="map")
def ParseQuery(query: object) -> dict[str, list[str]]:
    return lenient_parse_query(want_str("ParseQuery", query))


@helper("ExtractQueryParam", 2, returns="list")
def ExtractQueryParam(uri: object, name: object) -> list[str]:
    """Values of ``name`` in the query (text after the first ``?``, up to a ``#``); ``[]`` if none."""
    text = want_str("ExtractQueryParam", uri)
    param = want_str("ExtractQueryParam", name)
    _, sep, query = text.partition("?")
    if not sep:
        return []
    return lenient_parse_query(query.partition("#")[0]).get(param, [])
