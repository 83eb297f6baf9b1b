"""Problems the checker sees at compile time (the hub file fails to load)."""

import pytest

from crowdwatch.expr import EVT, ExprCompileError, ExprSyntaxError, compile_expr, registry


@pytest.mark.parametrize(
    ("src", "fragment"),
    [
        ("evt.Nope", "no field Nope"),
        ("evt.meta.x", "no field meta"),
        ("evt.Line.Nope", "no field Nope"),
        ("evt.Overflow.Alert.Source.Nope", "no field Nope"),
        ("evt.GetMeta", "must be called"),
        ("evt.Nope()", "no method Nope"),
        ("evt.Meta.x()", "no method"),
        ("evt.Time.Nope()", "no method Nope"),
        ("evt.Time.Hour", "no field"),
        ("evt.GetMeta()", "expected 1 arguments"),
        ("evt.GetMeta('a', 'b')", "expected 1 arguments"),
        ("evt.Time.Format()", "expected 1 arguments"),
        ("nope", "unknown name nope"),
        ("nope.x", "unknown name nope"),
        ("Nope(1)", "unknown function Nope"),
        ("len(1, 2)", "expected 1 arguments"),
        ("len(3)", "invalid argument for len"),
        ("'3' == 3", "mismatched types string and int"),
        ("evt.Meta.n == 10", "mismatched types string and int"),
        ("true == 1", "mismatched types bool and int"),
        ("evt.Meta.n != 10", "mismatched"),
        ("'a' < 1", "mismatched"),
        ("true < false", "mismatched"),
        ("'a' + 1", "mismatched types string and int"),
        ("evt.Meta.a + 1", "mismatched"),
        ("'a' * 3", "mismatched"),
        ("'a' - 'b'", "mismatched"),
        ("1 % 0", "divide by zero"),
        ("1.5 % 2", "mismatched"),
        ("not 'a'", "invalid operation: not string"),
        ("not evt.Meta.x == 'a'", "not string"),
        ("-'a'", "invalid operation"),
        ("'a' && true", "mismatched types string and bool"),
        ("true || 1", "mismatched types int and bool"),
        ("'a' ? 1 : 2", "used as condition"),
        ("'a' in 'abc'", "in (mismatched types string and string)"),
        ("1 contains 'a'", "mismatched"),
        ("evt.Meta.x startsWith 1", "mismatched"),
        ("evt.Meta.x matches '('", "invalid regular expression"),
        ("1 matches 'a'", "matches"),
        ("'abc'[0]", "strings cannot be indexed"),
        ("evt.Meta.x[0]", "strings cannot be indexed"),
        ("evt.Line.Raw.x", "no field"),
        ("(1).x", "no field"),
        ("any(1, # > 0)", "cannot iterate"),
        ("any([1])", "predicate"),
        ("reduce([1], #acc, 1, 2)", "too many"),
        ("map([1], #acc)", "#acc"),
        ("x ?? 'a' == 'a'", "cannot be mixed"),
        ("1 .. 'a'", "mismatched"),
        ("evt.Time + 1", "mismatched"),
        ("evt[1]", "cannot index Event"),
    ],
)
def test_compile_error(src: str, fragment: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        compile_expr(src)
    assert fragment in str(info.value)


def test_compile_error_position() -> None:
    with pytest.raises(ExprCompileError) as info:
        compile_expr("evt.Meta.a == 'b' &&\n  evt.Nope == 'c'")
    assert (info.value.line, info.value.col) == (2, 7)
    assert str(info.value).startswith("2:7: ")


@pytest.mark.parametrize(
    "src",
    [
        "evt.Meta.n == nil",
        "evt.Unmarshaled.x.y == 3",
        "evt.Unmarshaled.x == 'a'",
        "'Meta' in evt",
        "evt.Unmarshaled.x.y + 1",
        "3 == 3.0",
        "not (evt.Meta.x == 'a')",
        "evt.Meta.x not in ['a']",
        "evt.Unmarshaled.a?.b ?? 'd'",
        "(x ?? 'a') == 'a'",
    ],
)
def test_accepted(src: str) -> None:
    env = {"evt": "Event", "x": "any"} if "x ??" in src else EVT
    compile_expr(src, env)


def test_helper_arity_checked() -> None:
    registry.HELPERS["TestTwo"] = registry.Helper("TestTwo", lambda a, b: a, 2, 2, "any")
    try:
        compile_expr("TestTwo(1, 2)")
        with pytest.raises(ExprCompileError, match="TestTwo: expected 2 arguments, got 1"):
            compile_expr("TestTwo(1)")
        with pytest.raises(ExprCompileError, match="must be called"):
            compile_expr("TestTwo")
    finally:
        del registry.HELPERS["TestTwo"]


def test_variables() -> None:
    prog = compile_expr("queue.Queue[0] == signal", {"queue": "any", "signal": "any", "leaky": "any"})
    assert prog.run({"Queue": [1]}, 1, None) is True
    with pytest.raises(ExprCompileError, match="unknown name evt"):
        compile_expr("evt.Meta.x", {"queue": "any"})
    with pytest.raises(ValueError, match="unknown kind"):
        compile_expr("1", {"x": "Nope"})


def test_cache_returns_same_program() -> None:
    assert compile_expr("evt.Meta.a == 'x'") is compile_expr("evt.Meta.a == 'x'")
    assert compile_expr("1", {"a": "any"}) is not compile_expr("1", {"b": "any"})
