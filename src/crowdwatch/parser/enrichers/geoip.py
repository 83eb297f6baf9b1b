"""GeoIP enrichers (``GeoIpCity``, ``GeoIpASN``, ``IpToRange``) on MaxMind databases.

Databases are opened lazily on first use. A missing or unreadable database makes its
enrichers return nothing; the first such failure logs one warning per `GeoIP` object.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

import maxminddb

from crowdwatch.netutil import IPAddress, parse_ip

log = logging.getLogger(__name__)


class _Database:
    """One lazily opened MaxMind database."""

    __slots__ = ("_reader", "error", "path")

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._reader: maxminddb.Reader | None = None
        self.error = "" if path is not None else "no path configured"

    def lookup(self, ip: IPAddress) -> tuple[Any, int] | None:
        """(record or None, prefix length), or None when the database is unusable."""
        reader = self._reader or self._open()
        if reader is None:
            return None
        try:
            return reader.get_with_prefix_len(ip)
        except (ValueError, maxminddb.InvalidDatabaseError) as exc:
            log.debug("GeoIP lookup of %s in %s failed: %s", ip, self.path, exc)
            return None

    def _open(self) -> maxminddb.Reader | None:
        if self.error:
            return None
        try:
            self._reader = maxminddb.open_database(str(self.path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self.error = str(exc) or type(exc).__name__
            return None
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _country(record: dict[str, Any], key: str) -> tuple[str, bool] | None:
    country = record.get(key)
    if isinstance(country, dict):
        code = country.get("iso_code")
        if isinstance(code, str) and code:
            return code, bool(country.get("is_in_european_union", False))
    return None


def _coordinate(location: Any, key: str) -> float:
    value = location.get(key) if isinstance(location, dict) else None
    return float(value) if isinstance(value, (int, float)) else 0.0


class GeoIP:
    """City and ASN lookups producing CrowdSec's enrichment keys."""

    def __init__(self, city: Path | None, asn: Path | None) -> None:
        self._city = _Database(city)
        self._asn = _Database(asn)
        self._warned = False

    def _lookup(self, db: _Database, ip: IPAddress) -> tuple[Any, int] | None:
        found = db.lookup(ip)
        if found is None and db.error and not self._warned:
            self._warned = True
            log.warning("GeoIP database %s unavailable (%s): GeoIP enrichment skipped", db.path, db.error)
        return found

    def city(self, value: str) -> dict[str, str] | None:
        ip = parse_ip(value)
        if ip is None:
            log.debug("GeoIpCity: cannot parse IP %r", value)
            return None
        found = self._lookup(self._city, ip)
        if found is None:
            return None
        record = found[0] if isinstance(found[0], dict) else {}
        country = (
            _country(record, "country")
            or _country(record, "registered_country")
            or _country(record, "represented_country")
        )
        code, in_eu = country if country is not None else ("", False)
        location = record.get("location")
        return {
            "IsoCode": code,
            "IsInEU": "true" if in_eu else "false",
            "Latitude": f"{_coordinate(location, 'latitude'):f}",
            "Longitude": f"{_coordinate(location, 'longitude'):f}",
        }

    def asn(self, value: str) -> dict[str, str] | None:
        ip = parse_ip(value)
        if ip is None:
            log.debug("GeoIpASN: cannot parse IP %r", value)
            return None
        found = self._lookup(self._asn, ip)
        if found is None:
            return None
        record = found[0] if isinstance(found[0], dict) else {}
        number = record.get("autonomous_system_number", 0)
        org = record.get("autonomous_system_organization", "")
        number_text = str(number) if isinstance(number, int) else "0"
        return {
            "ASNNumber": number_text,
            "ASNumber": number_text,
            "ASNOrg": org if isinstance(org, str) else "",
        }

    def ip_range(self, value: str) -> dict[str, str] | None:
        ip = parse_ip(value)
        if ip is None:
            log.debug("IpToRange: cannot parse IP %r", value)
            return None
        found = self._lookup(self._asn, ip)
        if found is None or found[0] is None:
            return None
        network = ipaddress.ip_network(f"{ip}/{found[1]}", strict=False)
        return {"SourceRange": str(network)}

    def close(self) -> None:
        self._city.close()
        self._asn.close()
