"""Query-string parsing with clear 400s (Go ``strconv.ParseBool`` spelling for booleans)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.iprange import IpRange, parse_ip, parse_range
from crowdwatch.lapi.timefmt import parse_duration, parse_time

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
MAX_PARAM = 1024


def text(q: Mapping[str, str], name: str) -> str | None:
    v = q.get(name)
    if v is None or v == "":
        return None
    if len(v) > MAX_PARAM:
        raise BadRequest(f"query parameter {name!r} is too long")
    return v


def boolean(q: Mapping[str, str], name: str, default: bool | None = None) -> bool | None:
    v = text(q, name)
    if v is None:
        return default
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise BadRequest(f"query parameter {name!r}: {v[:64]!r} is not a boolean")


def integer(q: Mapping[str, str], name: str, default: int = 0) -> int:
    v = text(q, name)
    if v is None:
        return default
    try:
        n = int(float(v)) if "." in v else int(v)
    except (ValueError, OverflowError):
        raise BadRequest(f"query parameter {name!r}: {v[:64]!r} is not a number") from None
    if n < 0 or n > 2**31:
        raise BadRequest(f"query parameter {name!r}: out of range")
    return n


def ip_or_range(q: Mapping[str, str]) -> IpRange | None:
    """``ip=`` (an address) or ``range=`` (a CIDR block); both together are refused."""
    ip, rng = text(q, "ip"), text(q, "range")
    if ip is not None and rng is not None:
        raise BadRequest("use either 'ip' or 'range', not both")
    if ip is not None:
        r = parse_ip(ip)
        if r is None:
            raise BadRequest(f"invalid ip {ip[:64]!r}")
        return r
    if rng is not None:
        r = parse_range(rng)
        if r is None:
            raise BadRequest(f"invalid range {rng[:64]!r}")
        return r
    return None


def moment(q: Mapping[str, str], name: str, now: datetime) -> datetime | None:
    """``since``/``until``: a Go duration before now (CrowdSec's reading), or an RFC 3339 date."""
    v = text(q, name)
    if v is None:
        return None
    try:
        return now - parse_duration(v, name)
    except BadRequest:
        return parse_time(v, name)
