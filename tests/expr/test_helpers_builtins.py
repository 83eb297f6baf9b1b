"""Plain expr-lang builtins (crowdwatch.expr.builtins)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crowdwatch.expr import builtins as b
from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.registry import BUILTINS
from crowdwatch.expr.values import Duration


@pytest.mark.parametrize(
    ("text", "ns", "go"),
    [
        ("1h30m", 5_400 * 10**9, "1h30m0s"),
        ("1.5s", 1_500_000_000, "1.5s"),
        ("500ms", 500_000_000, "500ms"),
        ("-2m", -120 * 10**9, "-2m0s"),
        ("0", 0, "0s"),
        ("1.5us", 1_500, "1.5µs"),
        ("1µs", 1_000, "1µs"),
        ("300ns", 300, "300ns"),
        ("72h3m0.5s", 259_380_500_000_000, "72h3m0.5s"),
    ],
)
def test_go_durations(text: str, ns: int, go: str) -> None:
    d = b.parse_go_duration(text)
    assert isinstance(d, Duration) and d == ns
    assert b.format_go_duration(d) == go


@pytest.mark.parametrize("bad", ["", "1", "h", "1x", "-", ".s", "1d"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        b.parse_go_duration(bad)
    with pytest.raises(ExprRuntimeError):
        b.duration_(bad)


def test_conversions() -> None:
    assert b.int_(2.9) == 2 and b.int_(-2.9) == -2
    assert b.int_("42") == 42
    with pytest.raises(ExprRuntimeError):
        b.int_("1.5")
    with pytest.raises(ExprRuntimeError):
        b.int_(None)
    assert b.float_("1e3") == 1000.0 and b.float_(2) == 2.0
    with pytest.raises(ExprRuntimeError):
        b.float_("x")
    assert b.string_(1.5) == "1.5"
    assert b.string_(None) == "<nil>"
    assert b.string_(1e6) == "1e+06"
    assert b.string_(Duration(60 * 10**9)) == "1m0s"
    assert b.string_([1, "a"]) == "[1 a]"


def test_type_names() -> None:
    assert [b.type_(v) for v in (1.0, 1, "s", None, True, [1], {"a": 1})] == [
        "float",
        "int",
        "string",
        "nil",
        "bool",
        "array",
        "map",
    ]
    assert b.type_(Duration(1)) == "time.Duration"


def test_json_and_base64() -> None:
    assert b.toJSON({"b": [1, 2.5], "a": "<"}) == '{\n  "a": "\\u003c",\n  "b": [\n    1,\n    2.5\n  ]\n}'
    assert b.fromJSON('{"a": [1]}') == {"a": [1.0]}
    with pytest.raises(ExprRuntimeError):
        b.fromJSON("{")
    assert b.toBase64("hé") == "aMOp"
    assert b.fromBase64("aMOp") == "hé"
    with pytest.raises(ExprRuntimeError):
        b.fromBase64("a")


def test_time_builtins() -> None:
    assert b.now().tzinfo is not None
    t = b.date("2024-03-04 05:06:07", "2006-01-02 15:04:05", "UTC")
    assert t == datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert b.date("2024-03-04T05:06:07Z") == datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert b.date("2024-03-04").tzinfo is not None
    assert b.date("04/03/2024", "02/01/2006").month == 3
    with pytest.raises(ExprRuntimeError):
        b.date("not a date")
    assert str(b.timezone("Europe/Paris")) == "Europe/Paris"
    with pytest.raises(ExprRuntimeError):
        b.timezone("Mars/Olympus")


def test_string_builtins() -> None:
    assert b.lower("ÀB") == "àb" and b.upper("ß") == "ß"
    assert b.trim("  a \t") == "a" and b.trim("xax", "x") == "a"
    assert b.trimPrefix(" a") == "a" and b.trimSuffix("a.log", ".log") == "a"
    assert b.split("a,b,c", ",") == ["a", "b", "c"]
    assert b.split("a,b,c", ",", 2) == ["a", "b,c"]
    assert b.splitAfter("a,b", ",") == ["a,", "b"]
    assert b.replace("aaa", "a", "b") == "bbb"
    assert b.repeat("ab", 2) == "abab"
    with pytest.raises(ExprRuntimeError):
        b.repeat("ab", -1)
    with pytest.raises(ExprRuntimeError):
        b.repeat("x" * 1024, 20_000)
    assert b.indexOf("héllo", "l") == 3 and b.lastIndexOf("a.b.c", ".") == 3
    assert b.indexOf("abc", "z") == -1
    assert b.hasPrefix("abc", "ab") and b.hasSuffix("abc", "bc")


def test_number_builtins() -> None:
    assert b.abs_(-3) == 3 and b.abs_(-2.5) == 2.5
    assert b.ceil(1.2) == 2.0 and b.floor(-1.2) == -2.0
    assert b.round_(2.5) == 3.0 and b.round_(-2.5) == -3.0 and b.round_(2.4) == 2.0
    assert b.round_(0.49999999999999994) == 0.0
    assert b.max_(1, 2.5) == 2.5 and b.min_([3, 1, 2]) == 1
    assert b.mean([1, 2]) == 1.5 and b.mean([]) == 0.0
    assert b.median([3, 1, 2]) == 2.0 and b.median([1, 2, 3, 4]) == 2.5
    with pytest.raises(ExprRuntimeError):
        b.max_("a")


def test_collection_builtins() -> None:
    assert b.first([]) is None and b.first([1, 2]) == 1 and b.last([1, 2]) == 2
    assert b.take([1, 2, 3], 2) == [1, 2]
    assert b.reverse([1, 2]) == [2, 1]
    assert b.sort([3, 1, 2]) == [1, 2, 3] and b.sort(["b", "a"], "desc") == ["b", "a"]
    with pytest.raises(ExprRuntimeError):
        b.sort([1, "a"])
    assert b.uniq([1, 1, "1", 2]) == [1, "1", 2]
    assert b.concat([1], [2, 3]) == [1, 2, 3]
    assert b.flatten_([1, [2, [3]]]) == [1, 2, 3]
    assert b.keys({"a": 1}) == ["a"] and b.values({"a": 1}) == [1]
    assert b.toPairs({"a": 1}) == [["a", 1]]
    assert b.fromPairs([["a", 1], ["b", 2]]) == {"a": 1, "b": 2}
    with pytest.raises(ExprRuntimeError):
        b.fromPairs([["a"]])


def test_bit_builtins() -> None:
    assert b.bitand(6, 3) == 2 and b.bitor(6, 3) == 7 and b.bitxor(6, 3) == 5
    assert b.bitnand(6, 3) == 4 and b.bitnot(0) == -1
    assert b.bitshl(1, 63) == -(2**63)
    assert b.bitshr(-8, 1) == -4
    assert b.bitushr(-1, 60) == 15


def test_registration() -> None:
    assert "len" not in BUILTINS and "any" not in BUILTINS and "get" not in BUILTINS
    assert BUILTINS["date"].min_args == 1 and BUILTINS["date"].max_args == 3
    assert BUILTINS["max"].max_args is None
