"""IP address parsing with Go's ``net.ParseIP`` rules, shared by helpers, enrichers and whitelists."""

from __future__ import annotations

import functools
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8192)
def parse_ip(text: str) -> IPAddress | None:
    """Go ``net.ParseIP`` (no zone suffix); IPv4-mapped IPv6 addresses are returned as IPv4 (Go's ``To4``)."""
    if not text or "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
