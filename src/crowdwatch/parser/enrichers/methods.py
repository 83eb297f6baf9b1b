"""`Enrichers`: the `method:` statics of parser nodes (ENGINE.md §4.11)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from crowdwatch.event import TIMEMACHINE, Event
from crowdwatch.parser.enrichers.dates import (
    fields_datetime,
    format_fields,
    format_rfc3339,
    parse_fields,
)
from crowdwatch.parser.enrichers.geoip import GeoIP
from crowdwatch.parser.enrichers.golayout import Fields, resolve_year
from crowdwatch.parser.enrichers.rdns import ReverseDNS
from crowdwatch.parser.enrichers.unmarshal import unmarshal_line

CITY_DB = "GeoLite2-City.mmdb"
ASN_DB = "GeoLite2-ASN.mmdb"

DATE_MEMO_SIZE = 4096

Result = dict[str, str] | None


class _DateEntry:
    """A memoised ParseDate outcome; `fields` None means "fall back to now"; `year` is the
    year given to a year-less timestamp (0 otherwise): the entry is stale once it changes."""

    __slots__ = ("fields", "marshaled", "time", "year")

    def __init__(self, fields: Fields | None, marshaled: str, year: int) -> None:
        self.fields = fields
        self.marshaled = marshaled
        self.year = year
        self.time: datetime | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Enrichers:
    """The enrichment methods available to parser nodes.

    `data_dir` holds the GeoLite2 databases (explicit `geoip_city`/`geoip_asn` paths win);
    `rdns` enables `reverse_dns` (otherwise it returns nothing); `clock` gives "now" (the
    ParseDate fallback, the year of year-less timestamps, the reverse-DNS cache clock).
    """

    def __init__(
        self,
        data_dir: str | Path | None,
        *,
        rdns: bool = False,
        clock: Callable[[], datetime] | None = None,
        geoip_city: str | Path | None = None,
        geoip_asn: str | Path | None = None,
    ) -> None:
        self._clock = clock if clock is not None else _utc_now
        base = Path(data_dir) if data_dir is not None else None
        city = Path(geoip_city) if geoip_city is not None else (base / CITY_DB if base else None)
        asn = Path(geoip_asn) if geoip_asn is not None else (base / ASN_DB if base else None)
        self._geoip = GeoIP(city, asn)
        self._rdns = ReverseDNS(self._clock) if rdns else None
        self._dates: dict[tuple[str, str], _DateEntry] = {}
        self._methods: dict[str, Callable[[str, Event], Result]] = {
            "ParseDate": self._parse_date,
            "GeoIpCity": self._geoip_city,
            "GeoIpASN": self._geoip_asn,
            "IpToRange": self._ip_to_range,
            "reverse_dns": self._reverse_dns,
            "UnmarshalJSON": self._unmarshal_json,
        }

    def has(self, method: str) -> bool:
        """Whether `method` names a known enricher."""
        return method in self._methods

    def call(self, method: str, value: str, evt: Event) -> Result:
        """Run `method` on `value`; the returned keys are merged into `evt.Enriched`.
        Unknown methods and empty values (except for ParseDate) return None."""
        fn = self._methods.get(method)
        if fn is None or (not value and method != "ParseDate"):
            return None
        return fn(value, evt)

    def close(self) -> None:
        """Release the GeoIP readers and the resolver threads."""
        self._geoip.close()
        if self._rdns is not None:
            self._rdns.close()

    # --- methods -----------------------------------------------------------------------
    def _current_year(self) -> int:
        now = self._clock()
        return now.year if now.tzinfo is UTC else now.astimezone(UTC).year

    def _parse_date(self, value: str, evt: Event) -> Result:
        key = (value, evt.StrTimeFormat)
        entry = self._dates.get(key)
        if entry is None or (entry.year and entry.year != self._current_year()):
            entry = self._parse_date_entry(value, evt.StrTimeFormat)
            if len(self._dates) >= DATE_MEMO_SIZE:
                self._dates.clear()
            self._dates[key] = entry
        if entry.fields is None:
            return {"MarshaledTime": format_rfc3339(self._clock().astimezone(UTC))}
        if evt.ExpectMode == TIMEMACHINE:
            if entry.time is None:
                entry.time = fields_datetime(entry.fields)
            evt.Time = entry.time
        return {"MarshaledTime": entry.marshaled}

    def _parse_date_entry(self, value: str, fmt: str) -> _DateEntry:
        fields = parse_fields(value, fmt)
        if fields is None:
            return _DateEntry(None, "", 0)
        year = 0
        if fields[0] == 0:
            year = self._current_year()
            fields = resolve_year(fields, year)
        return _DateEntry(fields, format_fields(fields), year)

    def _geoip_city(self, value: str, evt: Event) -> Result:
        return self._geoip.city(value)

    def _geoip_asn(self, value: str, evt: Event) -> Result:
        return self._geoip.asn(value)

    def _ip_to_range(self, value: str, evt: Event) -> Result:
        return self._geoip.ip_range(value)

    def _reverse_dns(self, value: str, evt: Event) -> Result:
        if self._rdns is None:
            return None
        name = self._rdns.resolve(value)
        return {"reverse_dns": name} if name else None

    def _unmarshal_json(self, value: str, evt: Event) -> Result:
        unmarshal_line(evt)
        return {}
