"""IP addresses and ranges as 128-bit intervals (IPv4 as IPv4-mapped IPv6).

One address space for both families keeps "which ranges contain this address" a single
query: every decision or allowlist value of scope Ip or Range is a CIDR block, stored as its
first and last address in 16 big-endian bytes (sortable bytewise in every database) and its
prefix length in that 128-bit space (an IPv4 ``/24`` is ``/120``).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from crowdwatch.lapi.errors import BadRequest

_V4_MAPPED = 0xFFFF << 32
_ALL = (1 << 128) - 1


@dataclass(frozen=True, slots=True)
class IpRange:
    """A CIDR block: ``start``/``end`` integers in the mapped space, ``prefix`` 0..128, ``text``
    the canonical CIDR (or bare address when it is a single host)."""

    start: int
    end: int
    prefix: int
    text: str

    @property
    def start_bytes(self) -> bytes:
        return self.start.to_bytes(16, "big")

    @property
    def end_bytes(self) -> bytes:
        return self.end.to_bytes(16, "big")

    def contains(self, other: IpRange) -> bool:
        return self.start <= other.start and other.end <= self.end


def mask(prefix: int) -> int:
    """Network mask of ``prefix`` bits in the 128-bit space."""
    return (_ALL << (128 - prefix)) & _ALL


def _from_network(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> IpRange:
    if (
        isinstance(net, ipaddress.IPv6Network)
        and net.network_address.ipv4_mapped is not None
        and net.prefixlen >= 96
    ):
        net = ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
    if isinstance(net, ipaddress.IPv4Network):
        start = _V4_MAPPED | int(net.network_address)
        prefix = net.prefixlen + 96
    else:
        start = int(net.network_address)
        prefix = net.prefixlen
    end = start | (~mask(prefix) & _ALL)
    return IpRange(start, end, prefix, str(net))


def parse_ip(text: str) -> IpRange | None:
    """A single address (``/32`` or ``/128``); IPv4-mapped IPv6 becomes IPv4; ``None`` if invalid.
    (``inet_pton`` rather than ``ipaddress``: this runs for every decision of a bulk import.)"""
    t = text.strip()
    try:
        packed = socket.inet_pton(socket.AF_INET, t)
        n = int.from_bytes(packed, "big")
    except (OSError, ValueError):  # ValueError: embedded NUL
        try:
            packed = socket.inet_pton(socket.AF_INET6, t)
        except (OSError, ValueError):
            return None
        n = int.from_bytes(packed, "big")
        if n >> 32 != 0xFFFF:
            return IpRange(n, n, 128, socket.inet_ntop(socket.AF_INET6, packed))
        n &= 0xFFFFFFFF
        packed = n.to_bytes(4, "big")
    start = _V4_MAPPED | n
    return IpRange(start, start, 128, socket.inet_ntop(socket.AF_INET, packed))


def parse_range(text: str) -> IpRange | None:
    """A CIDR block (host bits must be zero, as CrowdSec's ``net.ParseCIDR`` + check); a bare
    address is accepted as its single-host block. ``None`` if invalid."""
    t = text.strip()
    if "/" not in t:
        return parse_ip(t)
    try:
        net = ipaddress.ip_network(t, strict=False)
    except ValueError:
        return None
    return _from_network(net)


def parse_ip_or_range(text: str, what: str = "value") -> IpRange:
    """:func:`parse_range`, raising :class:`BadRequest` for invalid input."""
    r = parse_range(text)
    if r is None:
        raise BadRequest(f"invalid {what} {text!r}: not an IP address or CIDR range")
    return r


def for_scope(scope: str, value: str) -> IpRange | None:
    """The interval of a decision value when its scope is Ip or Range (else ``None``)."""
    s = scope.lower()
    if s == "ip":
        return parse_ip(value)
    if s == "range":
        return parse_range(value)
    return None
