"""Number, collection and host helpers: ``Atof``, ``FloatApproxEqual``, ``KeyExists``,
``Flatten``, ``Distinct``, ``FlattenDistinct``, ``Hostname``."""

from __future__ import annotations

import logging
import socket
from typing import Any

from crowdwatch.expr.helpers.govalues import parse_go_float, want_dict, want_float, want_list, want_str
from crowdwatch.expr.registry import helper

log = logging.getLogger("crowdwatch.expr")


@helper("Atof", 1, returns="float")
def Atof(s: object) -> float:
    """Go ``strconv.ParseFloat``; invalid text gives 0 (with a warning)."""
    text = want_str("Atof", s)
    try:
        return parse_go_float(text)
    except ValueError as exc:
        log.warning("Atof: %s", exc)
        return 0.0


@helper("FloatApproxEqual", 2, returns="bool")
def FloatApproxEqual(a: object, b: object) -> bool:
    return abs(want_float("FloatApproxEqual", a) - want_float("FloatApproxEqual", b)) < 1e-6


@helper("KeyExists", 2, returns="bool")
def KeyExists(key: object, m: object) -> bool:
    return want_str("KeyExists", key) in want_dict("KeyExists", m)


def flatten(items: list[Any] | tuple[Any, ...], out: list[Any]) -> list[Any]:
    """Append the leaves of nested lists to ``out``."""
    for item in items:
        if isinstance(item, (list, tuple)):
            flatten(item, out)
        else:
            out.append(item)
    return out


def _identity(x: object) -> object:
    """Key under which Go's ``map[any]`` would consider two values equal (1 ≠ 1.0 ≠ true)."""
    try:
        hash(x)
    except TypeError:
        return ("unhashable", repr(x))
    return (type(x), x)


def distinct(items: list[Any]) -> list[Any]:
    seen: set[object] = set()
    out = []
    for item in items:
        key = _identity(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


@helper("Flatten", 0, None, returns="list")
def Flatten(*args: object) -> list[Any]:
    return flatten(args, [])


@helper("Distinct", 1, returns="list")
def Distinct(items: object) -> list[Any]:
    return distinct(want_list("Distinct", items))


@helper("FlattenDistinct", 0, None, returns="list")
def FlattenDistinct(*args: object) -> list[Any]:
    return distinct(flatten(args, []))


@helper("Hostname", 0, returns="str")
def Hostname() -> str:
    return socket.gethostname()
