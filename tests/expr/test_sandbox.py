"""Expressions must never reach Python internals: every attempt is a compile or runtime error."""

import re
from typing import Any

import pytest

from crowdwatch.event import Event, Line
from crowdwatch.expr import ExprRuntimeError, ExprSyntaxError, compile_expr

ESCAPES = [
    "evt.__class__",
    "evt['__class__']",
    "evt.__dict__",
    "evt.__slots__",
    "evt.EXPR_FIELDS",
    "evt.to_dict()",
    "evt.to_dict",
    "evt.set_meta('a', 'b')",
    "evt.set_meta",
    "evt.get_meta('a')",
    "evt.Meta.__class__.__bases__",
    "evt.Meta.get('x')",
    "evt.Meta.keys()",
    "evt.Meta.__len__()",
    "''.__class__",
    "'abc'.upper()",
    "'abc'.__class__.__mro__",
    "{}.__class__.__subclasses__()",
    "[].__class__.__bases__",
    "().__class__.__bases__",
    "[1].pop()",
    "[1].append(2)",
    "__import__('os')",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('1')",
    "globals()",
    "locals()",
    "getattr(evt, 'Meta')",
    "type(evt).__subclasses__()",
    "Sprintf.__globals__",
    "Upper.__globals__",
    "Sprintf",
    "evt.Time.__class__",
    "evt.Time.replace(year=1)",
    "evt.Time.replace",
    "evt.Time.tzinfo",
    "evt.Time.strftime('%Y')",
    "evt.Line.__init__",
    "evt.Overflow.__class__",
    "evt.Unmarshaled.__class__.__bases__",
    "evt.Unmarshaled.x.__class__()",
    "evt.Unmarshaled.x.to_dict()",
    "evt.Unmarshaled.x.set_meta('a', 'b')",
    "evt.Unmarshaled.e.__class__",
    "evt.Unmarshaled.e.to_dict()",
    "evt.Unmarshaled.e.set_meta('a', 'b')",
    "evt.Unmarshaled.e['__class__']",
    "evt.Unmarshaled.e[evt.Meta.attr]",
    "evt.Unmarshaled.e.Time.replace(year=1)",
    "evt.Unmarshaled.e.Time.__class__",
    "evt[evt.Meta.attr]",
    "evt.Unmarshaled.f.__globals__",
    "evt.Unmarshaled.f()",
    "any([evt], {#.__class__ != nil})",
    "map([evt], {#.to_dict()})",
    "map([evt], .__class__)",
    "evt.Unmarshaled.x.list.__class__",
    "1 .__class__",
    "1.0.hex()",
    "true.__class__",
    "nil.__class__",
    "_b",
    "_fetch(evt, 'Meta')",
    "_Budget",
    "k1",
    "v0",
    "l1",
    "p1",
    "__builtins__",
    "$env.__class__",
    "ｅvt.Meta",
    "evt.ＭETA",
    "'\\x00'.__class__",
    "evt.Overflow.Alert.__class__",
    "evt.Appsec.__class__",
    "evt.Appsec.get_name()",
    "evt.GetMeta.__self__",
    "evt.GetMeta('x').__class__",
    "(evt.GetMeta)('x')",
    "evt.Time.Weekday().__class__",
    "evt.Time.Weekday().real",
    "evt.Time.Sub(evt.Time).__class__",
    "evt.Time.Sub(evt.Time).bit_length()",
    "evt.Unmarshaled.w.__class__",
    "evt.Unmarshaled.w.String.__globals__",
]


def make_event() -> Event:
    evt = Event(Line(raw="x"))
    evt.Meta["attr"] = "__class__"
    inner = Event()
    evt.Unmarshaled.update(x={"list": [1]}, e=inner, f=print, w=None)
    return evt


def _evaluate(src: str) -> Any:
    return compile_expr(src).run(make_event())


@pytest.mark.parametrize("src", ESCAPES)
def test_escape_attempt_fails(src: str) -> None:
    with pytest.raises((ExprSyntaxError, ExprRuntimeError)):
        _evaluate(src)


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("evt.Meta.__class__", ""),
        ("evt.Meta['__dict__']", ""),
        ("evt.Unmarshaled.x.__class__", None),
        ("evt.Unmarshaled.__globals__", None),
        ("'__class__' in evt", False),
        ("'__class__' in evt.Meta", False),
        ("{}.__class__", None),
        ("get(evt, '__class__')", None),
        ("get(evt, 'to_dict')", None),
        ("evt.Meta.\u0131mport", ""),
    ],
)
def test_dunder_names_are_plain_map_keys(src: str, value: Any) -> None:
    assert _evaluate(src) == value


def test_string_literals_are_not_code() -> None:
    evil = "') or __import__('os').system('true') or ('"
    assert compile_expr(f'"{evil}"').run(make_event()) == evil
    assert compile_expr("evt.Meta['\\'] + __import__(\\'os\\')']").run(make_event()) == ""


def test_method_name_from_data_is_not_callable() -> None:
    evt = make_event()
    evt.Meta["m"] = "to_dict"
    with pytest.raises((ExprSyntaxError, ExprRuntimeError)):
        compile_expr("evt[evt.Meta.m]()").run(evt)


def test_generated_code_has_no_builtins() -> None:
    prog = compile_expr("evt.Meta.a == 'b'")
    assert prog.fn.__globals__["__builtins__"] == {}


def test_identifiers_never_reach_python_source() -> None:
    prog = compile_expr("let evil_name = 1; evil_name + len([evt])")
    assert "evil_name" not in prog.python
    assert re.search(r"\bevt\b", prog.python) is None


@pytest.mark.parametrize(
    "src",
    [
        "repeat('a', 1000000000)",
        "'a' * 1000000000",
        "[1] * 1000000000",
        "1..100000000",
        "map(1..1000, 1..1000)",
        "reduce(1..100, #acc + #acc, 'aaaaaaaaaa')",
        "len(1..10000000)",
        "let a = 'aaaaaaaaaaaaaaaa'; let b = a + a + a + a + a + a + a + a; let c = b + b + b + b + b + b + b + b; "
        "let d = c + c + c + c + c + c + c + c; let e = d + d + d + d + d + d + d + d; "
        "let f = e + e + e + e + e + e + e + e; let g = f + f + f + f + f + f + f + f; g + g + g + g + g + g",
    ],
)
def test_resource_attacks_fail_quickly(src: str) -> None:
    with pytest.raises((ExprSyntaxError, ExprRuntimeError)):
        _evaluate(src)


def test_huge_power_does_not_hang() -> None:
    assert compile_expr("10 ** 10 ** 10 ** 10").run(make_event()) == float("inf")


def test_deeply_nested_expression_is_rejected_not_crashing() -> None:
    for src in (
        "(" * 3000 + "1" + ")" * 3000,
        "-" * 3000 + "1",
        "1" + " + 1" * 5000,
        "[" * 3000 + "]" * 3000,
    ):
        with pytest.raises(ExprSyntaxError):
            compile_expr(src)


def test_long_flat_or_chain_compiles() -> None:
    src = " || ".join(f"evt.Meta.a contains 'x{i}'" for i in range(2000))
    assert compile_expr(src).run(make_event()) is False
