"""JSON helpers (EXPR.md §9.2 "JSON") and a Go-compatible JSON encoder.

Decoding follows Go's ``encoding/json`` into ``interface{}``: every number becomes a float.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.govalues import want_dict, want_str
from crowdwatch.expr.helpers.jsonscan import locate, split_path
from crowdwatch.expr.registry import helper


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


_decoder = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant)


def go_json_loads(text: str) -> Any:
    """Decode like Go's ``json.Unmarshal`` into ``interface{}`` (numbers → float); ``ValueError`` if invalid."""
    return _decoder.decode(text)


def _json_float(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"json: unsupported value: {x}")
    if x == 0:
        return "-0" if str(x).startswith("-") else "0"
    sign, digit_tuple, exp = Decimal(repr(x)).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    dp = len(digit_tuple) + exp
    prefix = "-" if sign else ""
    if abs(x) < 1e-6 or abs(x) >= 1e21:
        e = dp - 1
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mant}e{'-' if e < 0 else '+'}{abs(e)}"
    if dp <= 0:
        return f"{prefix}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return prefix + digits + "0" * (dp - len(digits))
    return f"{prefix}{digits[:dp]}.{digits[dp:]}"


_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _json_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).translate(_HTML_ESCAPES)


def go_json_dumps(x: object, indent: str = "") -> str:
    """Encode like Go's ``json.Marshal`` (or ``MarshalIndent(x, "", indent)``): sorted map keys,
    HTML-escaped ``<>&``, Go float formatting. ``ValueError`` for unsupported values."""
    out: list[str] = []
    _encode(x, out, indent, "\n")
    return "".join(out)


def _encode(x: object, out: list[str], indent: str, nl: str) -> None:
    if x is None:
        out.append("null")
    elif x is True:
        out.append("true")
    elif x is False:
        out.append("false")
    elif isinstance(x, str):
        out.append(_json_str(x))
    elif isinstance(x, int):
        out.append(str(int(x)))
    elif isinstance(x, float):
        out.append(_json_float(x))
    elif isinstance(x, datetime):
        out.append(_json_str(x.isoformat().replace("+00:00", "Z")))
    elif isinstance(x, (list, tuple)):
        _encode_seq(list(x), out, indent, nl)
    elif isinstance(x, dict):
        _encode_map(x, out, indent, nl)
    else:
        raise ValueError(f"json: unsupported type: {type(x).__name__}")


def _encode_seq(items: list[Any], out: list[str], indent: str, nl: str) -> None:
    if not items:
        out.append("[]")
        return
    inner = nl + indent
    out.append("[")
    for n, v in enumerate(items):
        if n:
            out.append(",")
        if indent:
            out.append(inner)
        _encode(v, out, indent, inner)
    if indent:
        out.append(nl)
    out.append("]")


def _encode_map(m: dict[Any, Any], out: list[str], indent: str, nl: str) -> None:
    if not m:
        out.append("{}")
        return
    inner = nl + indent
    out.append("{")
    for n, (k, v) in enumerate(sorted(((str(k), v) for k, v in m.items()), key=lambda kv: kv[0])):
        if n:
            out.append(",")
        if indent:
            out.append(inner)
        out.append(_json_str(k))
        out.append(": " if indent else ":")
        _encode(v, out, indent, inner)
    if indent:
        out.append(nl)
    out.append("}")


def _extract_raw(text: str, keys: list[str]) -> tuple[str, bool] | None:
    """Raw text of the value at ``keys`` and whether it is a JSON string."""
    span = locate(text, keys)
    if span is None:
        return None
    start, end = span
    if text[start] == '"':
        return text[start + 1 : end - 1], True
    return text[start:end], False


@helper("JsonExtract", 2, returns="str")
def JsonExtract(json_text: object, path: object) -> str:
    """Raw JSON text at ``path`` (strings unquoted but not unescaped); ``""`` if absent/invalid."""
    found = _extract_raw(want_str("JsonExtract", json_text), split_path(want_str("JsonExtract", path)))
    return found[0] if found else ""


@helper("JsonExtractUnescape", 2, None, returns="str")
def JsonExtractUnescape(json_text: object, key: object, *_ignored: object) -> str:
    """Unescaped string value of the top-level ``key``; ``""`` if absent or not a string.

    Only the first key is used, like CrowdSec when called from an expression.
    """
    found = _extract_raw(want_str("JsonExtractUnescape", json_text), [want_str("JsonExtractUnescape", key)])
    if found is None or not found[1]:
        return ""
    try:
        return str(json.loads(f'"{found[0]}"'))
    except ValueError:
        return ""


@helper("JsonExtractLib", 1, None, returns="str")
def JsonExtractLib(json_text: object, *keys: object) -> str:
    """Internal CrowdSec form of ``JsonExtract``; calling it from an expression is a runtime
    error in CrowdSec (variadic arguments arrive flattened), reproduced here."""
    raise ExprRuntimeError("JsonExtractLib: cannot be called from an expression (interface conversion)")


def _extract_decoded(fn: str, json_text: object, path: object) -> Any:
    span = locate(want_str(fn, json_text), split_path(want_str(fn, path)))
    if span is None:
        return None
    try:
        return go_json_loads(str(json_text)[span[0] : span[1]])
    except ValueError:
        return None


@helper("JsonExtractSlice", 2, returns="list")
def JsonExtractSlice(json_text: object, path: object) -> list[Any] | None:
    value = _extract_decoded("JsonExtractSlice", json_text, path)
    return value if isinstance(value, list) else None


@helper("JsonExtractObject", 2, returns="map")
def JsonExtractObject(json_text: object, path: object) -> dict[str, Any] | None:
    value = _extract_decoded("JsonExtractObject", json_text, path)
    return value if isinstance(value, dict) else None


@helper("ToJsonString", 1, returns="str")
def ToJsonString(x: object) -> str:
    try:
        return go_json_dumps(x)
    except (ValueError, TypeError):
        return ""


@helper("UnmarshalJSON", 3, returns="any")
def UnmarshalJSON(json_text: object, target: object, key: object) -> None:
    """Decode ``json_text`` into ``target[key]``; ``None`` on success, runtime error if invalid."""
    text = want_str("UnmarshalJSON", json_text)
    dest = want_dict("UnmarshalJSON", target)
    name = want_str("UnmarshalJSON", key)
    try:
        dest[name] = _decoder.decode(text)
    except ValueError as exc:
        raise ExprRuntimeError(f"UnmarshalJSON: {exc}") from None
    return None
