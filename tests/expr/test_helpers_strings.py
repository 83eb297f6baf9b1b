"""String helpers and Go fmt formatting."""

from __future__ import annotations

import logging

import pytest

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers import strings as h
from crowdwatch.expr.helpers.gofmt import sprintf
from crowdwatch.expr.registry import HELPERS


def test_upper_lower_use_simple_case_mapping() -> None:
    assert h.Upper("straße") == "STRAßE"
    assert h.Lower("ÀÉ İ") == "àé i"
    assert h.Upper("abc") == "ABC"
    assert h.Lower("\ufffdX") == "\ufffdx"


def test_non_string_argument_is_runtime_error() -> None:
    with pytest.raises(ExprRuntimeError, match="nil"):
        h.Upper(None)
    with pytest.raises(ExprRuntimeError):
        h.TrimSpace(3)


def test_trim_family() -> None:
    assert h.TrimSpace("\u3000\t a b \n\x85") == "a b"
    assert h.TrimSpace("\x1ca\x1c") == "\x1ca\x1c"  # not white space for Go
    assert h.Trim("xxaxx", "x") == "a"
    assert h.Trim(" a ", "") == " a "
    assert h.TrimLeft("xxa", "x") == "a"
    assert h.TrimRight("axx", "x") == "a"
    assert h.TrimPrefix("prepre-x", "pre") == "pre-x"
    assert h.TrimSuffix("a.log.log", ".log") == "a.log"


def test_split_go_semantics() -> None:
    assert h.Split("", ",") == [""]
    assert h.Split("a,b,", ",") == ["a", "b", ""]
    assert h.Split("héllo", "") == ["h", "é", "l", "l", "o"]
    assert h.Split("", "") == []
    assert h.SplitN("a,b,c", ",", 2) == ["a", "b,c"]
    assert h.SplitN("a,b,c", ",", 0) == []
    assert h.SplitN("a,b,c", ",", -1) == ["a", "b", "c"]
    assert h.SplitN("abc", "", 2) == ["a", "bc"]
    assert h.SplitAfter("a,b,c", ",") == ["a,", "b,", "c"]
    assert h.SplitAfterN("a,b,c", ",", 2) == ["a,", "b,c"]


def test_fields_join_index() -> None:
    assert h.Fields("  a \t b\u00a0c\n") == ["a", "b", "c"]
    assert h.Fields("   ") == []
    assert h.Join(["a", "b"], "-") == "a-b"
    assert h.Index("héllo", "l") == 3  # byte offset
    assert h.Index("abc", "z") == -1
    assert h.IndexAny("héllo", "ol") == 3
    assert h.IndexAny("abc", "") == -1


def test_replace() -> None:
    assert h.Replace("aaa", "a", "b", 2) == "bba"
    assert h.Replace("aaa", "a", "b", -1) == "bbb"
    assert h.Replace("ab", "", "-", -1) == "-a-b-"
    assert h.ReplaceAll("a.b.c", ".", "/") == "a/b/c"


def test_get_and_tostring() -> None:
    assert h.Get(["a", "b"], 1) == "b"
    assert h.Get(["a", "b"], 5) == ""
    with pytest.raises(ExprRuntimeError):
        h.Get(["a"], -1)
    assert h.ToString("x") == "x"
    assert h.ToString(3) == ""
    assert h.ToString(None) == ""


def test_match_glob_byte_semantics() -> None:
    assert h.Match("*.php", "/index.php")
    assert not h.Match("*.php", "/index.php5")
    assert h.Match("a?c", "abc")
    assert not h.Match("a?c", "aéc")  # é is two bytes
    assert h.Match("a??c", "aéc")
    assert h.Match("", "")
    assert not h.Match("", "x")
    assert h.Match("[a]*", "[a]xyz")  # no character classes
    assert h.Match("*", "")


def test_b64decode() -> None:
    assert h.B64Decode("aGVsbG8=") == "hello"
    with pytest.raises(ExprRuntimeError):
        h.B64Decode("aGVsbG8")  # missing padding
    with pytest.raises(ExprRuntimeError):
        h.B64Decode("!!!!")


def test_loginfo_logs_and_returns_true(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="crowdwatch.expr"):
        assert h.LogInfo("n=%d", 3) is True
    assert "n=3" in caplog.text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1707747021.5, "1.7077470215e+09"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
        (3.0, "3"),
        (2.5, "2.5"),
        (-0.5, "-0.5"),
        (1e21, "1e+21"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_sprintf_v_float(value: float, text: str) -> None:
    assert h.Sprintf("%v", value) == text


def test_sprintf_go_verbs() -> None:
    assert sprintf("%+v", [[1, 2, 3]]) == "[1 2 3]"
    assert sprintf("%v", [{"b": 1, "a": "x"}]) == "map[a:x b:1]"
    assert sprintf("%v %s", [None, "s"]) == "<nil> s"
    assert (
        sprintf("%d|%5d|%-3d|%03d|%x|%X|%t|%%", [7, 7, 7, 7, 255, 255, True])
        == "7|    7|7  |007|ff|FF|true|%"
    )
    assert sprintf("%f %.2f %e", [1.5, 3.14159, 1.5]) == "1.500000 3.14 1.500000e+00"
    assert sprintf("%q", ['a"b\n']) == '"a\\"b\\n"'
    assert sprintf("%d", ["x"]) == "%!d(string=x)"
    assert sprintf("%s", [5]) == "%!s(int=5)"
    assert sprintf("%d %d", [1]) == "1 %!d(MISSING)"
    assert sprintf("%d", [1, "a"]) == "1%!(EXTRA string=a)"
    assert sprintf("%v", [True]) == "true"
    assert sprintf("%s", [["a", "b"]]) == "[a b]"


def test_string_helpers_registered_with_arity() -> None:
    assert HELPERS["Sprintf"].max_args is None
    assert HELPERS["Upper"].min_args == HELPERS["Upper"].max_args == 1
    assert HELPERS["Replace"].min_args == 4
