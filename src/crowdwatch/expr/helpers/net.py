"""IP helpers and DNS resolution (EXPR.md §9.2 "IP / network")."""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
import re
import socket

from crowdwatch.expr.helpers.govalues import want_str
from crowdwatch.expr.registry import helper
from crowdwatch.netutil import parse_ip

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOKUP_TIMEOUT = 2.0
"""Seconds ``LookupHost`` waits for the resolver."""
_resolver_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="crowdwatch-dns")
_MASK = re.compile(r"[+-]?\d+", re.ASCII)


@functools.lru_cache(maxsize=4096)
def parse_cidr(text: str) -> IPNetwork | None:
    """Go ``net.ParseCIDR`` (host bits allowed, prefix required). An IPv4-mapped IPv6 prefix
    stays IPv6, so it never contains an IPv4 address (as in Go)."""
    addr, sep, bits = text.partition("/")
    if not sep or not bits.isdigit() or "%" in addr:
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net


@helper("IpInRange", 2, returns="bool")
def IpInRange(ip: object, cidr: object) -> bool:
    addr = parse_ip(want_str("IpInRange", ip))
    net = parse_cidr(want_str("IpInRange", cidr))
    if addr is None or net is None or addr.version != net.version:
        return False
    return addr in net


@helper("IsIP", 1, returns="bool")
def IsIP(s: object) -> bool:
    return parse_ip(want_str("IsIP", s)) is not None


@helper("IsIPV4", 1, returns="bool")
def IsIPV4(s: object) -> bool:
    ip = parse_ip(want_str("IsIPV4", s))
    return ip is not None and ip.version == 4


@helper("IsIPV6", 1, returns="bool")
def IsIPV6(s: object) -> bool:
    ip = parse_ip(want_str("IsIPV6", s))
    return ip is not None and ip.version == 6


@helper("IpToRange", 2, returns="str")
def IpToRange(ip: object, mask: object) -> str:
    """Network of ``ip`` with prefix length ``mask`` (``"/24"`` or ``"24"``); ``""`` on error."""
    addr = parse_ip(want_str("IpToRange", ip))
    bits_text = want_str("IpToRange", mask).removeprefix("/")
    if addr is None or not _MASK.fullmatch(bits_text):
        return ""
    bits = int(bits_text)
    if not 0 <= bits <= addr.max_prefixlen:
        return ""
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


def _resolve(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    seen: dict[str, None] = {}
    for info in infos:
        seen[str(info[4][0])] = None
    return list(seen)


@helper("LookupHost", 1, returns="list")
def LookupHost(host: object) -> list[str]:
    """Addresses of ``host`` (``[]`` on error or after ``LOOKUP_TIMEOUT`` seconds)."""
    name = want_str("LookupHost", host)
    ip = parse_ip(name)
    if ip is not None:
        return [name]
    if not name:
        return []
    future = _resolver_pool.submit(_resolve, name)
    try:
        return future.result(timeout=LOOKUP_TIMEOUT)
    except (OSError, UnicodeError, concurrent.futures.TimeoutError):
        return []
