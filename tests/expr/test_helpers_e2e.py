"""Helpers and builtins called through compiled expressions."""

from __future__ import annotations

from typing import Any

import pytest

from crowdwatch.event import Event
from crowdwatch.expr import compile_expr
from crowdwatch.expr.errors import ExprRuntimeError


def run(source: str, evt: Event | None = None) -> Any:
    return compile_expr(source).run(evt or Event())


def test_hub_idioms() -> None:
    evt = Event()
    evt.Meta["ua"] = "Straße"
    assert run("Upper(evt.Meta.ua)", evt) == "STRAßE"
    assert run("UnmarshalJSON('{\"x\": 1}', evt.Unmarshaled, 'j') in ['', nil]", evt) is True
    assert run("evt.Unmarshaled.j.x", evt) == 1.0
    assert run("ParseKV('a=1 b=2', evt.Unmarshaled, 'kv') == nil", evt) is True
    assert run("evt.Unmarshaled.kv.b", evt) == "2"
    assert run('Sprintf("%v", 1707747021.5)') == "1.7077470215e+09"
    assert run('Sprintf("%+v", [1, 2, 3])') == "[1 2 3]"
    assert run('IpInRange("::ffff:10.0.0.1", "10.0.0.0/8")') is True
    assert run('duration("1m30s") > duration("1m")') is True
    assert run('string(duration("90s"))') == "1m30s"
    assert run('trimSuffix("a.log", ".log")') == "a"
    assert run("round(2.5)") == 3.0


def test_runtime_errors_surface() -> None:
    with pytest.raises(ExprRuntimeError):
        run("UnmarshalJSON('{bad', evt.Unmarshaled, 'j')")
    with pytest.raises(ExprRuntimeError):
        run("Upper(evt.Unmarshaled.missing)")
    with pytest.raises(ExprRuntimeError):
        run('HTTPGet("http://127.0.0.1:9/")')
