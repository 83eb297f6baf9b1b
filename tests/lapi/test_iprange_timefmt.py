from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.iprange import for_scope, mask, parse_ip, parse_range
from crowdwatch.lapi.timefmt import (
    format_duration,
    format_time,
    parse_duration,
    parse_duration_ns,
    parse_time,
)


def test_ipv4_is_mapped_into_the_v6_space() -> None:
    r = parse_ip("1.2.3.4")
    assert r is not None
    assert r.prefix == 128 and r.start == r.end == (0xFFFF << 32) | 0x01020304
    assert r.text == "1.2.3.4"


def test_ipv4_mapped_ipv6_is_normalised_to_ipv4() -> None:
    a, b = parse_ip("::ffff:1.2.3.4"), parse_ip("1.2.3.4")
    assert a == b
    assert parse_range("::ffff:10.0.0.0/120") == parse_range("10.0.0.0/24")


def test_ranges() -> None:
    r = parse_range("10.0.0.7/24")
    assert r is not None and r.text == "10.0.0.0/24" and r.prefix == 120
    v6 = parse_range("2001:db8::/64")
    assert v6 is not None and v6.end - v6.start == 2**64 - 1 and v6.start >> 32 != 0xFFFF
    host = parse_ip("10.0.0.9")
    assert host is not None and r.contains(host) and not v6.contains(host)
    assert r.start & mask(120) == r.start


@pytest.mark.parametrize("bad", ["", "1.2.3", "300.1.1.1", "fe80::1%eth0", "1.2.3.4/33", "x/24"])
def test_invalid_addresses(bad: str) -> None:
    assert parse_range(bad) is None


def test_for_scope_only_ip_and_range() -> None:
    assert for_scope("Ip", "1.2.3.4") is not None
    assert for_scope("range", "1.2.3.0/24") is not None
    assert for_scope("Country", "FR") is None
    assert for_scope("Ip", "not-an-ip") is None


def test_durations_with_days() -> None:
    assert parse_duration_ns("4h") == 4 * 3600 * 10**9
    assert parse_duration_ns("1d") == 86_400 * 10**9
    assert parse_duration_ns("2d3h") == (2 * 86_400 + 3 * 3600) * 10**9
    assert parse_duration("90s") == timedelta(seconds=90)
    with pytest.raises(BadRequest):
        parse_duration("soon")
    assert format_duration(timedelta(hours=3, minutes=59, seconds=58, microseconds=500_000)) == "3h59m58.5s"
    assert format_duration(timedelta(seconds=-2)) == "-2s"


def test_times() -> None:
    t = parse_time("2024-01-01T00:00:03.123456789Z")
    assert t == datetime(2024, 1, 1, 0, 0, 3, 123456, tzinfo=UTC)
    assert parse_time("2024-01-01T01:00:00+01:00") == datetime(2024, 1, 1, tzinfo=UTC)
    assert format_time(t) == "2024-01-01T00:00:03Z"
    for bad in ("yesterday", "2024-01-01T00:00:00"):
        with pytest.raises(BadRequest):
            parse_time(bad)
