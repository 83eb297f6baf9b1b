"""UnmarshalJSON method and the Enrichers dispatch."""

from __future__ import annotations

import logging

import pytest

from crowdwatch.event import Event, Line
from crowdwatch.parser.enrichers import Enrichers


def event(raw: str) -> Event:
    return Event(Line(raw=raw, module="file"))


def test_known_methods() -> None:
    enr = Enrichers(None)
    for name in ("ParseDate", "GeoIpCity", "GeoIpASN", "IpToRange", "reverse_dns", "UnmarshalJSON"):
        assert enr.has(name)
    assert not enr.has("parsedate")
    assert not enr.has("GeoIpCountry")
    assert enr.call("Nope", "x", Event()) is None


def test_unmarshal_line_raw_not_value() -> None:
    enr = Enrichers(None)
    evt = event('{"a": 1, "b": {"c": [1, 2.5, true, null]}, "s": "x", "big": 12345678901}')
    evt.Unmarshaled["keep"] = "me"
    assert enr.call("UnmarshalJSON", '{"ignored": true}', evt) == {}
    assert evt.Unmarshaled == {
        "keep": "me",
        "a": 1.0,
        "b": {"c": [1.0, 2.5, True, None]},
        "s": "x",
        "big": 12345678901.0,
    }
    assert isinstance(evt.Unmarshaled["a"], float)
    assert evt.Unmarshaled["b"]["c"][2] is True
    assert evt.Enriched == {}


def test_unmarshal_overwrites_existing_keys() -> None:
    enr = Enrichers(None)
    evt = event('{"a": "new"}')
    evt.Unmarshaled["a"] = "old"
    enr.call("UnmarshalJSON", "x", evt)
    assert evt.Unmarshaled == {"a": "new"}


@pytest.mark.parametrize("raw", ["not json", '{"a": ', "[1, 2]", '"str"', "42"])
def test_unmarshal_invalid_or_not_object(raw: str, caplog: pytest.LogCaptureFixture) -> None:
    enr = Enrichers(None)
    evt = event(raw)
    evt.Unmarshaled["keep"] = 1.0
    with caplog.at_level(logging.DEBUG, logger="crowdwatch.parser.enrichers"):
        assert enr.call("UnmarshalJSON", "x", evt) == {}
    assert evt.Unmarshaled == {"keep": 1.0}
    assert any("UnmarshalJSON" in r.getMessage() for r in caplog.records)


def test_unmarshal_null_empties() -> None:
    enr = Enrichers(None)
    evt = event("null")
    evt.Unmarshaled["keep"] = 1.0
    enr.call("UnmarshalJSON", "x", evt)
    assert evt.Unmarshaled == {}
