"""Fixtures for the enricher tests: a pinned clock and small generated GeoIP databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

PINNED_NOW = datetime(2026, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)


@pytest.fixture
def pinned_now() -> datetime:
    return PINNED_NOW


@pytest.fixture
def clock(pinned_now: datetime) -> Callable[[], datetime]:
    return lambda: pinned_now


def _write(path: Path, database_type: str, records: dict[str, dict[str, object]]) -> None:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type)
    for network, record in records.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with GeoLite2-City.mmdb and GeoLite2-ASN.mmdb (generated, never committed)."""
    root = tmp_path_factory.mktemp("geoip")
    _write(
        root / "GeoLite2-City.mmdb",
        "GeoLite2-City",
        {
            "1.2.3.0/24": {
                "country": {"iso_code": "FR", "is_in_european_union": True},
                "registered_country": {"iso_code": "DE", "is_in_european_union": True},
                "location": {"latitude": 48.8582, "longitude": 2.3387},
            },
            "5.6.7.0/24": {
                "registered_country": {"iso_code": "US"},
                "location": {"latitude": -33.5, "longitude": -70.25},
            },
            "9.9.9.0/24": {"represented_country": {"iso_code": "IT", "is_in_european_union": True}},
            "8.8.8.0/24": {"continent": {"code": "NA"}},
            "2001:db8::/32": {
                "country": {"iso_code": "CH", "is_in_european_union": False},
                "location": {"latitude": 46.0, "longitude": 7.0},
            },
        },
    )
    _write(
        root / "GeoLite2-ASN.mmdb",
        "GeoLite2-ASN",
        {
            "1.2.0.0/16": {
                "autonomous_system_number": 64500,
                "autonomous_system_organization": "Example Org",
            },
            "5.6.7.128/25": {
                "autonomous_system_number": 4200000001,
                "autonomous_system_organization": "Big AS",
            },
            "2001:db8::/32": {"autonomous_system_number": 64501, "autonomous_system_organization": "Doc Net"},
        },
    )
    return root
