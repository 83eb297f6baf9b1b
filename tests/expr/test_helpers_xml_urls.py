"""XML and URL helpers."""

from __future__ import annotations

from crowdwatch.expr.helpers import urls as u
from crowdwatch.expr.helpers import xmlfuncs as x

EVENT = (
    '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
    '<Provider Name="Microsoft-Windows-Security-Auditing" Guid="{5484}"/><EventID>4625</EventID>'
    '<TimeCreated SystemTime="2024-01-01T00:00:00Z"/></System><EventData>'
    '<Data Name="TargetUserName">bob</Data><Data Name="IpAddress">1.2.3.4</Data><Data Name="E"/>'
    "</EventData></Event>"
)


def test_xml_node_values_ignore_default_namespace() -> None:
    assert x.XMLGetNodeValue(EVENT, "/Event/System[1]/EventID") == "4625"
    assert x.XMLGetNodeValue(EVENT, "/Event/EventData[1]/Data[@Name='IpAddress']") == "1.2.3.4"
    assert x.XMLGetNodeValue(EVENT, "//Data[@Name='TargetUserName']") == "bob"
    assert x.XMLGetNodeValue(EVENT, "Event/System/EventID") == "4625"
    assert x.XMLGetNodeValue(EVENT, "/Event/EventData/Data[@Name='E']") == ""
    assert x.XMLGetNodeValue(EVENT, "/Event/Nope") == ""


def test_xml_attribute_values() -> None:
    assert (
        x.XMLGetAttributeValue(EVENT, "/Event/System[1]/Provider", "Name")
        == "Microsoft-Windows-Security-Auditing"
    )
    assert (
        x.XMLGetAttributeValue(EVENT, "/Event/System[1]/TimeCreated", "SystemTime") == "2024-01-01T00:00:00Z"
    )
    assert x.XMLGetAttributeValue(EVENT, "/Event/System[1]/Provider", "Missing") == ""


def test_xml_errors_give_empty_string() -> None:
    assert x.XMLGetNodeValue("<a><b>", "/a/b") == ""
    assert x.XMLGetNodeValue(EVENT, "[[bad") == ""
    assert x.XMLGetAttributeValue("not xml", "/a", "b") == ""


def test_xml_documents_are_cached_for_five_seconds() -> None:
    now = [1000.0]
    x.reset()
    old = x.clock
    x.clock = lambda: now[0]
    try:
        doc = "<r><v>1</v></r>"
        assert x.XMLGetNodeValue(doc, "/r/v") == "1"
        parsed = x._cache[doc][1]
        now[0] += 4.9
        x.XMLGetNodeValue(doc, "/r/v")
        assert x._cache[doc][1] is parsed
        now[0] += 0.2
        x.XMLGetNodeValue(doc, "/r/v")
        assert x._cache[doc][1] is not parsed
    finally:
        x.clock = old
        x.reset()


def test_unescape_malformed_returns_input_unchanged() -> None:
    assert u.PathUnescape("/a%20b%zz") == "/a%20b%zz"
    assert u.PathUnescape("/a%2") == "/a%2"
    assert u.PathUnescape("/a%20b+c") == "/a b+c"
    assert u.QueryUnescape("a+b%41") == "a bA"
    assert u.QueryUnescape("%x") == "%x"
    # invalid UTF-8 after decoding becomes U+FFFD
    assert u.PathUnescape("%e9") == "\ufffd"
    assert u.PathUnescape("%c3%a9") == "é"


def test_escape() -> None:
    assert u.PathEscape("a b/c;d$é") == "a%20b%2Fc%3Bd$%C3%A9"
    assert u.QueryEscape("a b+c/é&") == "a+b%2Bc%2F%C3%A9%26"


def test_parse_uri_strict() -> None:
    assert u.ParseUri("/x?a=1&b=2&a=%41") == {"a": ["1", "A"], "b": ["2"]}
    assert u.ParseUri("/x?a=1;b=2") == {}
    assert u.ParseUri("/x%zz?a=1") == {}
    assert u.ParseUri("/x?a=%zz") == {}
    assert u.ParseUri("/x") == {}
    assert u.ParseUri("/x?a=1#b=2") == {"a": ["1"]}
    assert u.ParseUri("/x?q=a+b&&c") == {"q": ["a b"], "c": [""]}


def test_parse_query_lenient() -> None:
    assert u.ParseQuery("a=1+2&b=%zz&c=%41&&d&a=3") == {
        "a": ["1 2", "3"],
        "b": ["%zz"],
        "c": ["A"],
        "d": [""],
    }
    assert u.ParseQuery("x=1;y=2") == {"x": ["1;y=2"]}


def test_extract_query_param() -> None:
    assert u.ExtractQueryParam("/p?id=1&id=2&x=%zz", "id") == ["1", "2"]
    assert u.ExtractQueryParam("/p?x=%zz", "x") == ["%zz"]
    assert u.ExtractQueryParam("/p", "id") == []
    assert u.ExtractQueryParam("/p?a=1", "id") == []
