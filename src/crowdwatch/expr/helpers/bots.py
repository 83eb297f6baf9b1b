"""Known-bot definitions for ``MatchKnownBot`` (data files of type ``bots``).

CrowdSec does not document the ``bots`` format and the hub snapshot has no such file, so
crowdwatch reads its own JSON-lines format, one bot per line::

    {"name": "googlebot", "user_agent": ["(?i)googlebot"], "path": [],
     "ips": ["66.249.66.1"], "ranges": ["66.249.64.0/19"], "rdns": [".googlebot.com"]}

A request matches a bot when (any ``user_agent`` regex matches ∧ any ``path`` regex matches)
∧ (its IP is in ``ips`` ∨ in one of ``ranges`` ∨ its forward-confirmed reverse DNS name ends
with one of ``rdns``). An empty or absent list is satisfied by anything; a bot with no
``ips``/``ranges``/``rdns`` at all accepts any IP. Regexes use RE2 syntax.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
from dataclasses import dataclass
from typing import Any

from crowdwatch.expr.helpers.net import IPNetwork, LookupHost, parse_cidr
from crowdwatch.expr.regexes import compile_re2
from crowdwatch.netutil import IPAddress, parse_ip

RDNS_TIMEOUT = 2.0
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="crowdwatch-rdns")


@dataclass(frozen=True, slots=True)
class Bot:
    name: str
    user_agents: tuple[Any, ...]
    paths: tuple[Any, ...]
    ips: frozenset[IPAddress]
    ranges: tuple[IPNetwork, ...]
    rdns: tuple[str, ...]

    def matches_request(self, ua: str, path: str) -> bool:
        if self.user_agents and not any(r.search(ua) for r in self.user_agents):
            return False
        return not self.paths or any(r.search(path) for r in self.paths)

    def matches_ip(self, ip: IPAddress | None, rdns_name: str | None) -> bool:
        if not (self.ips or self.ranges or self.rdns):
            return True
        if ip is not None and (
            ip in self.ips or any(ip.version == n.version and ip in n for n in self.ranges)
        ):
            return True
        return rdns_name is not None and any(rdns_name.endswith(s) for s in self.rdns)


def _strings(row: dict[str, Any], key: str) -> list[str]:
    value = row.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key!r} must be a list of strings")
    return value


def parse_bot_line(line: str) -> Bot:
    """One bot definition; ``ValueError`` (or ``RegexError``) when it is malformed."""
    row = json.loads(line)
    if not isinstance(row, dict):
        raise ValueError("a bot definition must be a JSON object")
    ips = set()
    for text in _strings(row, "ips"):
        ip = parse_ip(text)
        if ip is None:
            raise ValueError(f"invalid IP {text!r}")
        ips.add(ip)
    ranges = []
    for text in _strings(row, "ranges"):
        net = parse_cidr(text)
        if net is None:
            raise ValueError(f"invalid range {text!r}")
        ranges.append(net)
    return Bot(
        name=str(row.get("name", "")),
        user_agents=tuple(compile_re2(p) for p in _strings(row, "user_agent")),
        paths=tuple(compile_re2(p) for p in _strings(row, "path")),
        ips=frozenset(ips),
        ranges=tuple(ranges),
        rdns=tuple(s.lower().rstrip(".") for s in _strings(row, "rdns")),
    )


def _reverse_name(ip: str) -> str | None:
    try:
        return socket.gethostbyaddr(ip)[0]
    except OSError:
        return None


def forward_confirmed_rdns(ip: str) -> str | None:
    """Reverse DNS name of ``ip`` (lower case, no final dot) if it resolves back to ``ip``."""
    future = _pool.submit(_reverse_name, ip)
    try:
        name = future.result(timeout=RDNS_TIMEOUT)
    except concurrent.futures.TimeoutError:
        return None
    if not name:
        return None
    if ip not in LookupHost(name):
        return None
    return name.lower().rstrip(".")


def match_known_bot(bots: list[Bot], ip: str, ua: str, path: str) -> bool:
    candidates = [b for b in bots if b.matches_request(ua, path)]
    if not candidates:
        return False
    addr = parse_ip(ip)
    if any(b.matches_ip(addr, None) for b in candidates):
        return True
    if addr is None or not any(b.rdns for b in candidates):
        return False
    name = forward_confirmed_rdns(str(addr))
    return name is not None and any(b.matches_ip(None, name) for b in candidates)
