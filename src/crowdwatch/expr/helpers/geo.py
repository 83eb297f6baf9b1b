"""GeoIP helpers and ``Distance`` (EXPR.md §9.2 "IP / network / geo").

The MaxMind readers are installed by whoever loads the GeoLite2 databases (the
``geoip-enrich`` enricher) through :func:`set_geoip_readers`; without them the lookups
return ``None`` / ``""``.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any, Protocol

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.govalues import parse_go_float, want_str
from crowdwatch.expr.helpers.net import parse_ip
from crowdwatch.expr.registry import helper

EARTH_RADIUS_KM = 6371.0


class GeoReader(Protocol):
    """The subset of ``maxminddb.Reader`` used here."""

    def get(self, ip: str) -> Any: ...

    def get_with_prefix_len(self, ip: str) -> tuple[Any, int]: ...


_readers: dict[str, GeoReader | None] = {"city": None, "asn": None}


def set_geoip_readers(city: GeoReader | None, asn: GeoReader | None) -> None:
    """Install (or remove, with ``None``) the City and ASN database readers."""
    _readers["city"] = city
    _readers["asn"] = asn


def _lookup(kind: str, fn: str, ip: object) -> Any:
    reader = _readers[kind]
    addr = parse_ip(want_str(fn, ip))
    if reader is None or addr is None:
        return None
    try:
        return reader.get(str(addr))
    except ValueError:
        return None


@helper("GeoIPEnrich", 1, returns="any")
def GeoIPEnrich(ip: object) -> Any:
    """Raw GeoLite2-City record of ``ip`` or ``None``."""
    return _lookup("city", "GeoIPEnrich", ip)


@helper("GeoIPASNEnrich", 1, returns="any")
def GeoIPASNEnrich(ip: object) -> Any:
    """Raw GeoLite2-ASN record of ``ip`` or ``None``."""
    return _lookup("asn", "GeoIPASNEnrich", ip)


@helper("GeoIPRangeEnrich", 1, returns="any")
def GeoIPRangeEnrich(ip: object) -> str | None:
    """Network (``"a.b.c.0/24"``) of the ASN database record containing ``ip``, or ``None``."""
    reader = _readers["asn"]
    addr = parse_ip(want_str("GeoIPRangeEnrich", ip))
    if reader is None or addr is None:
        return None
    try:
        record, prefix = reader.get_with_prefix_len(str(addr))
    except ValueError:
        return None
    if record is None:
        return None
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


@helper("IPToCountry", 1, returns="str")
def IPToCountry(ip: object) -> str:
    record = _lookup("city", "IPToCountry", ip)
    if not isinstance(record, dict):
        return ""
    country = record.get("country")
    code = country.get("iso_code") if isinstance(country, dict) else None
    return code if isinstance(code, str) else ""


def _coord(value: object) -> float:
    try:
        return parse_go_float(want_str("Distance", value))
    except ValueError as exc:
        raise ExprRuntimeError(f"Distance: {exc}") from None


@helper("Distance", 4, returns="float")
def Distance(lat1: object, lon1: object, lat2: object, lon2: object) -> float:
    """Great-circle distance in km; 0 when either point is exactly (0, 0)."""
    a_lat, a_lon, b_lat, b_lon = _coord(lat1), _coord(lon1), _coord(lat2), _coord(lon2)
    if (a_lat == 0 and a_lon == 0) or (b_lat == 0 and b_lon == 0):
        return 0.0
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp = math.radians(b_lat - a_lat)
    dl = math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return EARTH_RADIUS_KM * 2 * math.atan2(math.sqrt(h), math.sqrt(1 - h))
