import pytest

from crowdwatch.expr import ExprSyntaxError
from crowdwatch.expr import ast as A
from crowdwatch.expr.parser import parse


def shape(node: A.Node) -> object:
    """Compact S-expression of a tree for assertions."""
    if isinstance(node, A.Binary):
        return (node.op, shape(node.left), shape(node.right))
    if isinstance(node, A.Unary):
        return (node.op, shape(node.operand))
    if isinstance(node, A.Ident):
        return node.name
    if isinstance(node, A.Int | A.Float | A.Str | A.Bool):
        return node.value
    if isinstance(node, A.Nil):
        return None
    if isinstance(node, A.Member):
        return (
            (".", shape(node.obj), shape(node.key))
            if not node.optional
            else ("?.", shape(node.obj), shape(node.key))
        )
    if isinstance(node, A.Conditional):
        return ("?:", shape(node.cond), shape(node.then), shape(node.other))
    if isinstance(node, A.Call):
        return ("call", node.name, *[shape(a) for a in node.args])
    if isinstance(node, A.Predicate):
        return ("pred", shape(node.body))
    if isinstance(node, A.Pointer):
        return "#" + node.name
    if isinstance(node, A.Chain):
        return ("chain", shape(node.node))
    if isinstance(node, A.Let):
        return ("let", node.name, shape(node.value), shape(node.body))
    return type(node).__name__


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("a || b && c", ("or", "a", ("and", "b", "c"))),
        ("a or b and c", ("or", "a", ("and", "b", "c"))),
        ("not a == b", ("==", ("not", "a"), "b")),
        ("!a && b", ("and", ("not", "a"), "b")),
        ("not a * b", ("not", ("*", "a", "b"))),
        ("a + b * c", ("+", "a", ("*", "b", "c"))),
        ("a - b - c", ("-", ("-", "a", "b"), "c")),
        ("2 ** 3 ** 2", ("**", 2, ("**", 3, 2))),
        ("2 ^ 3", ("**", 2, 3)),
        ("-a ** 2", ("-", ("**", "a", 2))),
        ("-a * b", ("*", ("-", "a"), "b")),
        ("1 + 2 ?? 3", ("+", 1, ("??", 2, 3))),
        ("a not in b", ("not", ("in", "a", "b"))),
        ("a not matches 'x'", ("not", ("matches", "a", "x"))),
        ("a not startsWith 'x'", ("not", ("startsWith", "a", "x"))),
        ("1 < 2 < 3", ("and", ("<", 1, 2), ("<", 2, 3))),
        ("a == b == c", ("==", ("==", "a", "b"), "c")),
        ("a ? b : c ? d : e", ("?:", "a", "b", ("?:", "c", "d", "e"))),
        ("a ?: b", ("?:", "a", "a", "b")),
        ("1..3 + 1", ("..", 1, ("+", 3, 1))),
        ("a in b || c", ("or", ("in", "a", "b"), "c")),
        ("x | f(1)", ("call", "f", "x", 1)),
        ("a.b.c", (".", (".", "a", "b"), "c")),
        ("a['b']", (".", "a", "b")),
        ("a?.b.c", ("chain", (".", ("?.", "a", "b"), "c"))),
    ],
)
def test_precedence(src: str, expected: object) -> None:
    assert shape(parse(src)) == expected


def test_predicates_and_shorthand() -> None:
    assert shape(parse("any(l, {.x == 1})")) == ("call", "any", "l", ("pred", ("==", (".", "#", "x"), 1)))
    assert shape(parse("all(l, # > 1)")) == ("call", "all", "l", ("pred", (">", "#", 1)))
    assert shape(parse("l | filter(#index > 0)")) == ("call", "filter", "l", ("pred", (">", "#index", 0)))
    assert shape(parse("count(l)")) == ("call", "count", "l")


def test_let_and_if() -> None:
    assert shape(parse("let x = 1; let y = 2; x + y")) == ("let", "x", 1, ("let", "y", 2, ("+", "x", "y")))
    assert shape(parse("(let u = a; u contains 'x')")) == ("let", "u", "a", ("contains", "u", "x"))
    assert shape(parse("if a { 1 } else if b { 2 } else { 3 }")) == ("?:", "a", 1, ("?:", "b", 2, 3))


def test_literals() -> None:
    node = parse("{a: 1, 'b': [1, 2,], c: nil}")
    assert isinstance(node, A.MapLit) and len(node.pairs) == 3
    assert isinstance(parse("[]"), A.Array)


def test_multiline() -> None:
    assert shape(parse("a &&\n  // comment\n  b")) == ("and", "a", "b")


@pytest.mark.parametrize(
    ("src", "line", "col", "fragment"),
    [
        ("a +", 1, 4, "expected an operand"),
        ("(a", 1, 3, "expected ')'"),
        ("a b", 1, 3, "end of expression"),
        ("x ?? 'a' == 'a'", 1, 10, "cannot be mixed"),
        ("nil ?? 2 + 1", 1, 10, "cannot be mixed"),
        ("a not b", 1, 7, "after 'not'"),
        ("f(1,", 1, 5, "expected an operand"),
        ("a ? b", 1, 6, "expected ':'"),
        ("let = 1; x", 1, 5, "expected an identifier"),
        ("#", 1, 1, "inside a predicate"),
        ("a.", 1, 3, "field name"),
        ("[1, 2", 1, 6, "expected ']'"),
        ("a\n  && )", 2, 6, "expected an operand"),
    ],
)
def test_syntax_errors(src: str, line: int, col: int, fragment: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse(src)
    assert (info.value.line, info.value.col) == (line, col), str(info.value)
    assert fragment in str(info.value)


def test_deep_nesting_is_a_syntax_error() -> None:
    with pytest.raises(ExprSyntaxError, match="too deeply"):
        parse("(" * 5000 + "1" + ")" * 5000)
