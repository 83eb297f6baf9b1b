"""JSON and key/value helpers."""

from __future__ import annotations

from typing import Any

import pytest

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers import jsonfuncs as j
from crowdwatch.expr.helpers import kv

DOC = '{"a": {"b": [ {"c": "x\\/y\\u00e9"}, 1.50 ], "n": null, "t": true, "o": {"k" : [1, 2]}}, "log": "h\\u00e9\\n", "num": 3}'


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("a.b[0].c", "x\\/y\\u00e9"),  # not unescaped
        ("a.b[1]", "1.50"),  # as written
        ("a.n", "null"),
        ("a.t", "true"),
        ("a.o", '{"k" : [1, 2]}'),
        ("a.o.k[1]", "2"),
        ("a.missing", ""),
        ("a.b[7]", ""),
        ("num.x", ""),
    ],
)
def test_jsonextract_returns_raw_text(path: str, raw: str) -> None:
    assert j.JsonExtract(DOC, path) == raw


def test_jsonextract_invalid_json_and_first_duplicate() -> None:
    assert j.JsonExtract("not json", "a") == ""
    assert j.JsonExtract('{"a": ', "a") == ""
    assert j.JsonExtract('{"a": 1, "a": 2}', "a") == "1"
    assert j.JsonExtract('[{"a": "z"}]', "[0].a") == "z"


def test_jsonextract_unescape_top_level_string_only() -> None:
    assert j.JsonExtractUnescape(DOC, "log") == "hé\n"
    assert j.JsonExtractUnescape(DOC, "num") == ""
    assert j.JsonExtractUnescape(DOC, "a") == ""
    assert j.JsonExtractUnescape(DOC, "log", "ignored") == "hé\n"


def test_jsonextractlib_is_runtime_error() -> None:
    with pytest.raises(ExprRuntimeError):
        j.JsonExtractLib(DOC, "a", "b")


def test_jsonextract_slice_and_object_decode_numbers_as_floats() -> None:
    assert j.JsonExtractSlice(DOC, "a.o.k") == [1.0, 2.0]
    assert isinstance(j.JsonExtractSlice(DOC, "a.o.k")[0], float)  # type: ignore[index]
    assert j.JsonExtractSlice(DOC, "a.o") is None
    assert j.JsonExtractObject(DOC, "a.o") == {"k": [1.0, 2.0]}
    assert j.JsonExtractObject(DOC, "a.o.k") is None
    assert j.JsonExtractObject("{", "a") is None


def test_tojsonstring_go_rules() -> None:
    assert j.ToJsonString({"b": "<a&b>", "a": 1}) == '{"a":1,"b":"\\u003ca\\u0026b\\u003e"}'
    assert j.ToJsonString([1.0, 1e21, 1e-7, 0.5, None, True]) == "[1,1e+21,1e-7,0.5,null,true]"
    assert j.ToJsonString(float("nan")) == ""
    assert j.ToJsonString("é\n") == '"é\\n"'


def test_unmarshaljson_into_target() -> None:
    target: dict[str, Any] = {}
    assert j.UnmarshalJSON('{"x": 1, "y": [2, "z"], "b": false}', target, "k") is None
    assert target == {"k": {"x": 1.0, "y": [2.0, "z"], "b": False}}
    assert isinstance(target["k"]["x"], float)
    with pytest.raises(ExprRuntimeError):
        j.UnmarshalJSON("{bad", target, "k")
    with pytest.raises(ExprRuntimeError):
        j.UnmarshalJSON('{"x": NaN}', target, "k")
    with pytest.raises(ExprRuntimeError):
        j.UnmarshalJSON("{}", None, "k")


def test_parsekv() -> None:
    target: dict[str, Any] = {}
    line = 'a=1 b="x \\"y\\" z" c= d=4 =skip'
    assert kv.ParseKV(line, target, "kv") is None
    assert target["kv"] == {"a": "1", "b": 'x \\"y\\" z', "c": "", "d": "4"}
    kv.ParseKV("e=5", target, "kv")  # merges into the existing map
    assert target["kv"]["e"] == "5" and target["kv"]["a"] == "1"
    with pytest.raises(ExprRuntimeError):
        kv.ParseKV("no pairs here", target, "other")
    with pytest.raises(ExprRuntimeError):
        kv.ParseKV("a=1", {"x": 3}, "x")


def test_parsekv_iptables_line() -> None:
    target: dict[str, Any] = {}
    kv.ParseKV("IN=eth0 OUT= MAC=00:11 SRC=1.2.3.4 DST=5.6.7.8 LEN=60 DF PROTO=TCP", target, "ipt")
    assert target["ipt"]["SRC"] == "1.2.3.4"
    assert target["ipt"]["OUT"] == ""
    assert target["ipt"]["PROTO"] == "TCP"


def test_parsekvlax() -> None:
    target: dict[str, Any] = {}
    line = 'msg=hello world src=1.2.3.4 q="a b=c \\" d" empty= a.b-c=1'
    assert kv.ParseKVLax(line, target, "u") is None
    assert target["u"] == {
        "msg": "hello world",
        "src": "1.2.3.4",
        "q": 'a b=c " d',
        "empty": "",
        "a.b-c": "1",
    }
    with pytest.raises(ExprRuntimeError):
        kv.ParseKVLax("nothing", target, "v")
