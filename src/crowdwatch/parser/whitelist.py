"""Whitelist nodes (ENGINE.md §4.8): IP / CIDR / expression checks on an event."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from typing import Any

from crowdwatch.event import OVFLW, Event
from crowdwatch.netutil import IPAddress
from crowdwatch.parser.errors import ParserLoadError
from crowdwatch.parser.model import WhitelistSpec

log = logging.getLogger("crowdwatch.parser")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Whitelist:
    """A compiled ``whitelist`` section. :meth:`check` marks the event and says if it matched."""

    __slots__ = ("exprs", "ips", "nets", "reason")

    def __init__(
        self,
        reason: str,
        ips: frozenset[IPAddress],
        nets: tuple[IPNetwork, ...],
        exprs: tuple[Callable[[Event], Any], ...],
    ) -> None:
        self.reason = reason
        self.ips = ips
        self.nets = nets
        self.exprs = exprs

    @classmethod
    def compile(
        cls, spec: WhitelistSpec, file: str, compile_fn: Callable[[str, str, int], Callable[[Event], Any]]
    ) -> Whitelist:
        ips: set[IPAddress] = set()
        for text in spec.ip:
            try:
                ips.add(ipaddress.ip_address(text.strip()))
            except ValueError:
                raise ParserLoadError.at(f"whitelist: invalid IP address {str(text)!r}", file, text) from None
        nets: list[IPNetwork] = []
        for text in spec.cidr:
            try:
                nets.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ParserLoadError.at(f"whitelist: invalid CIDR {str(text)!r}", file, text) from None
        exprs = tuple(compile_fn(e, file, e.line) for e in spec.expression)
        return cls(spec.reason, frozenset(ips), tuple(nets), exprs)

    def check(self, evt: Event) -> bool:
        """True if this whitelist matches ``evt``; the first match also marks the event."""
        matched = (self.ips or self.nets) and self._match_ips(_candidates(evt))
        if not matched:
            matched = self._match_exprs(evt)
        if matched and not evt.Whitelisted:
            evt.Whitelisted = True
            evt.WhitelistReason = self.reason
            if evt.Type == OVFLW:
                evt.Overflow.Whitelisted = True
        return bool(matched)

    def _match_ips(self, candidates: Iterable[str]) -> bool:
        for text in candidates:
            try:
                addr = ipaddress.ip_address(text)
            except ValueError:
                continue
            if addr in self.ips:
                return True
            for net in self.nets:
                if addr in net:
                    return True
        return False

    def _match_exprs(self, evt: Event) -> bool:
        for fn in self.exprs:
            try:
                out = fn(evt)
            except Exception as exc:  # a runtime error stops the check
                log.debug("whitelist expression failed: %s", exc)
                return False
            if out is True:
                return True
        return False


def _candidates(evt: Event) -> Iterable[str]:
    if evt.Type == OVFLW:
        return evt.Overflow.Sources.keys()
    ip = evt.Meta.get("source_ip")
    return (ip,) if ip else ()
