"""IP, DNS and geo helpers."""

from __future__ import annotations

from typing import Any

import pytest

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers import geo, net


def test_ip_in_range() -> None:
    assert net.IpInRange("10.1.2.3", "10.0.0.0/8")
    assert net.IpInRange("::ffff:10.1.2.3", "10.0.0.0/8")  # IPv4-mapped matches IPv4 range
    assert net.IpInRange("10.1.2.3", "10.1.2.3/8")  # host bits allowed
    assert net.IpInRange("2001:db8::1", "2001:db8::/32")
    assert not net.IpInRange("10.1.2.3", "2001:db8::/32")
    assert not net.IpInRange("10.0.0.1", "::ffff:10.0.0.0/104")
    assert not net.IpInRange("nope", "10.0.0.0/8")
    assert not net.IpInRange("10.0.0.1", "10.0.0.0")
    assert not net.IpInRange("fe80::1%eth0", "fe80::/10")


def test_is_ip_family() -> None:
    assert net.IsIP("1.2.3.4") and net.IsIP("::1")
    assert not net.IsIP("01.2.3.4") and not net.IsIP("") and not net.IsIP("1.2.3")
    assert net.IsIPV4("::ffff:1.2.3.4")
    assert not net.IsIPV6("::ffff:1.2.3.4")
    assert net.IsIPV6("2001:db8::1")
    assert not net.IsIPV4("2001:db8::1")


def test_ip_to_range() -> None:
    assert net.IpToRange("2001:db8::1", "/64") == "2001:db8::/64"
    assert net.IpToRange("1.2.3.4", "24") == "1.2.3.0/24"
    assert net.IpToRange("::ffff:1.2.3.4", "/16") == "1.2.0.0/16"
    assert net.IpToRange("1.2.3.4", "/33") == ""
    assert net.IpToRange("1.2.3.4", "/x") == ""
    assert net.IpToRange("bad", "/8") == ""


def test_lookup_host() -> None:
    assert net.LookupHost("1.2.3.4") == ["1.2.3.4"]
    assert "127.0.0.1" in net.LookupHost("localhost")
    assert net.LookupHost("") == []
    assert net.LookupHost("no-such-host.invalid") == []


class FakeReader:
    def __init__(self, records: dict[str, Any], prefix: int) -> None:
        self.records = records
        self.prefix = prefix

    def get(self, ip: str) -> Any:
        return self.records.get(ip)

    def get_with_prefix_len(self, ip: str) -> tuple[Any, int]:
        return self.records.get(ip), self.prefix


def test_geoip_without_database() -> None:
    geo.set_geoip_readers(None, None)
    assert geo.GeoIPEnrich("1.2.3.4") is None
    assert geo.GeoIPASNEnrich("1.2.3.4") is None
    assert geo.GeoIPRangeEnrich("1.2.3.4") is None
    assert geo.IPToCountry("1.2.3.4") == ""


def test_geoip_with_readers() -> None:
    city = FakeReader({"1.2.3.4": {"country": {"iso_code": "FR"}}}, 24)
    asn = FakeReader({"1.2.3.4": {"autonomous_system_number": 64500}}, 22)
    geo.set_geoip_readers(city, asn)
    try:
        assert geo.IPToCountry("::ffff:1.2.3.4") == "FR"
        assert geo.GeoIPASNEnrich("1.2.3.4") == {"autonomous_system_number": 64500}
        assert geo.GeoIPRangeEnrich("1.2.3.4") == "1.2.0.0/22"
        assert geo.GeoIPEnrich("bad ip") is None
        assert geo.IPToCountry("5.6.7.8") == ""
    finally:
        geo.set_geoip_readers(None, None)


def test_distance() -> None:
    paris_london = geo.Distance("48.8566", "2.3522", "51.5074", "-0.1278")
    assert paris_london == pytest.approx(343.5, abs=1.0)
    assert geo.Distance("0", "0", "51.5", "-0.1") == 0.0
    assert geo.Distance("51.5", "-0.1", "0.0", "0") == 0.0
    assert geo.Distance("1", "1", "1", "1") == 0.0
    with pytest.raises(ExprRuntimeError):
        geo.Distance("", "1", "2", "3")
    with pytest.raises(ExprRuntimeError):
        geo.Distance(" 1", "1", "2", "3")
