"""GeoIpCity / GeoIpASN / IpToRange on generated MaxMind databases."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from crowdwatch.event import Event
from crowdwatch.parser.enrichers import Enrichers


@pytest.fixture
def enr(geoip_dir: Path) -> Iterator[Enrichers]:
    e = Enrichers(geoip_dir)
    yield e
    e.close()


def city(enr: Enrichers, ip: str) -> dict[str, str] | None:
    return enr.call("GeoIpCity", ip, Event())


def test_city_country(enr: Enrichers) -> None:
    assert city(enr, "1.2.3.4") == {
        "IsoCode": "FR",
        "IsInEU": "true",
        "Latitude": "48.858200",
        "Longitude": "2.338700",
    }


def test_city_fallback_chain(enr: Enrichers) -> None:
    assert city(enr, "5.6.7.8") == {
        "IsoCode": "US",
        "IsInEU": "false",
        "Latitude": "-33.500000",
        "Longitude": "-70.250000",
    }
    assert city(enr, "9.9.9.9") == {
        "IsoCode": "IT",
        "IsInEU": "true",
        "Latitude": "0.000000",
        "Longitude": "0.000000",
    }


@pytest.mark.parametrize("ip", ["8.8.8.8", "10.0.0.1", "2001:db9::1"])
def test_city_without_country_or_unknown_ip(enr: Enrichers, ip: str) -> None:
    assert city(enr, ip) == {
        "IsoCode": "",
        "IsInEU": "false",
        "Latitude": "0.000000",
        "Longitude": "0.000000",
    }


def test_city_ipv6_and_mapped_ipv4(enr: Enrichers) -> None:
    out = city(enr, "2001:db8::42")
    assert out is not None and out["IsoCode"] == "CH" and out["IsInEU"] == "false"
    assert out["Latitude"] == "46.000000"
    mapped = city(enr, "::ffff:1.2.3.4")
    assert mapped is not None and mapped["IsoCode"] == "FR"


@pytest.mark.parametrize("method", ["GeoIpCity", "GeoIpASN", "IpToRange"])
@pytest.mark.parametrize("value", ["", "not-an-ip", "1.2.3", "01.2.3.4", "fe80::1%eth0"])
def test_unparsable_ip_gives_nothing(enr: Enrichers, method: str, value: str) -> None:
    assert enr.call(method, value, Event()) is None


def test_asn(enr: Enrichers) -> None:
    assert enr.call("GeoIpASN", "1.2.200.1", Event()) == {
        "ASNNumber": "64500",
        "ASNumber": "64500",
        "ASNOrg": "Example Org",
    }
    assert enr.call("GeoIpASN", "5.6.7.200", Event()) == {
        "ASNNumber": "4200000001",
        "ASNumber": "4200000001",
        "ASNOrg": "Big AS",
    }
    assert enr.call("GeoIpASN", "2001:db8:1::1", Event()) == {
        "ASNNumber": "64501",
        "ASNumber": "64501",
        "ASNOrg": "Doc Net",
    }
    assert enr.call("GeoIpASN", "5.6.7.8", Event()) == {"ASNNumber": "0", "ASNumber": "0", "ASNOrg": ""}


def test_ip_to_range(enr: Enrichers) -> None:
    assert enr.call("IpToRange", "1.2.3.4", Event()) == {"SourceRange": "1.2.0.0/16"}
    assert enr.call("IpToRange", "5.6.7.200", Event()) == {"SourceRange": "5.6.7.128/25"}
    assert enr.call("IpToRange", "::ffff:1.2.3.4", Event()) == {"SourceRange": "1.2.0.0/16"}
    assert enr.call("IpToRange", "2001:db8:ffff::1", Event()) == {"SourceRange": "2001:db8::/32"}
    assert enr.call("IpToRange", "5.6.7.8", Event()) is None


def test_explicit_database_paths(geoip_dir: Path, tmp_path: Path) -> None:
    enr = Enrichers(
        tmp_path,
        geoip_city=geoip_dir / "GeoLite2-City.mmdb",
        geoip_asn=str(geoip_dir / "GeoLite2-ASN.mmdb"),
    )
    assert city(enr, "1.2.3.4") is not None
    assert enr.call("GeoIpASN", "1.2.3.4", Event()) is not None
    enr.close()


def test_missing_databases_warn_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    enr = Enrichers(tmp_path)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert city(enr, "1.2.3.4") is None
            assert enr.call("GeoIpASN", "1.2.3.4", Event()) is None
            assert enr.call("IpToRange", "1.2.3.4", Event()) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "GeoLite2-City.mmdb" in warnings[0].getMessage()


def test_no_data_dir(caplog: pytest.LogCaptureFixture) -> None:
    enr = Enrichers(None)
    with caplog.at_level(logging.WARNING):
        assert city(enr, "1.2.3.4") is None
        assert enr.call("IpToRange", "1.2.3.4", Event()) is None
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_corrupt_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "GeoLite2-City.mmdb").write_bytes(b"not a maxmind database" * 10)
    enr = Enrichers(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert city(enr, "1.2.3.4") is None
        assert city(enr, "1.2.3.4") is None
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
