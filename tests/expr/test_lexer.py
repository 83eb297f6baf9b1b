import pytest

from crowdwatch.expr import ExprSyntaxError
from crowdwatch.expr.lexer import Kind, tokenize


def values(src: str) -> list[object]:
    out: list[object] = []
    for t in tokenize(src)[:-1]:
        out.append(t.number if t.kind in (Kind.INT, Kind.FLOAT) else t.value)
    return out


@pytest.mark.parametrize(
    ("src", "value"),
    [("42", 42), ("0x2A", 42), ("0o52", 42), ("0b101010", 42), ("1_000", 1000), ("0", 0)],
)
def test_integers(src: str, value: int) -> None:
    (tok, eof) = tokenize(src)
    assert tok.kind is Kind.INT and tok.number == value
    assert eof.kind is Kind.EOF


@pytest.mark.parametrize(("src", "value"), [("0.5", 0.5), (".5", 0.5), ("1e3", 1000.0), ("2.5e-1", 0.25)])
def test_floats(src: str, value: float) -> None:
    tok = tokenize(src)[0]
    assert tok.kind is Kind.FLOAT and tok.number == value


def test_range_is_not_a_float() -> None:
    assert values("1..3") == [1, "..", 3]


@pytest.mark.parametrize(
    ("src", "value"),
    [
        (r'"a\nb"', "a\nb"),
        (r"'it\'s'", "it's"),
        (r'"q\"q"', 'q"q'),
        (r'"\u00e9"', "é"),
        (r'"\x41"', "A"),
        (r'"\\."', "\\."),
        (r'"\t"', "\t"),
        ("`raw\\n`", "raw\\n"),
    ],
)
def test_strings(src: str, value: str) -> None:
    tok = tokenize(src)[0]
    assert tok.kind is Kind.STRING and tok.value == value


def test_comments_and_newlines() -> None:
    assert values("1 // c\n+ /* x\ny */ 2") == [1, "+", 2]


def test_word_operators_and_pointers() -> None:
    toks = tokenize("not a in b #index #")
    assert [t.kind for t in toks[:-1]] == [
        Kind.OP,
        Kind.IDENT,
        Kind.OP,
        Kind.IDENT,
        Kind.POINTER,
        Kind.POINTER,
    ]
    assert toks[4].value == "index" and toks[5].value == ""


def test_longest_operator_match() -> None:
    assert values("a?.b ?? c ** d") == ["a", "?.", "b", "??", "c", "**", "d"]


@pytest.mark.parametrize(
    ("src", "line", "col"),
    [
        ("'abc", 1, 1),
        ('"\\q"', 1, 2),
        ("1 +\n  @", 2, 3),
        ("/* never", 1, 1),
        ("12ab", 1, 1),
        ('"\\u12"', 1, 2),
    ],
)
def test_lexical_errors_have_positions(src: str, line: int, col: int) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        tokenize(src)
    assert (info.value.line, info.value.col) == (line, col)
    assert str(info.value).startswith(f"{line}:{col}: ")


def test_positions_are_one_based() -> None:
    toks = tokenize("a\n  + b")
    assert [(t.line, t.col) for t in toks[:-1]] == [(1, 1), (2, 3), (2, 5)]
