"""reverse_dns: system resolver, timeout and TTL cache."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from crowdwatch.event import Event
from crowdwatch.parser.enrichers import Enrichers
from crowdwatch.parser.enrichers.rdns import ReverseDNS


def _localhost_resolves() -> bool:
    try:
        return bool(socket.gethostbyaddr("127.0.0.1")[0])
    except OSError:
        return False


def test_disabled_by_default(clock: Callable[[], datetime]) -> None:
    enr = Enrichers(None, clock=clock)
    assert enr.has("reverse_dns")
    assert enr.call("reverse_dns", "127.0.0.1", Event()) is None


@pytest.mark.skipif(not _localhost_resolves(), reason="127.0.0.1 has no PTR name on this host (/etc/hosts)")
def test_system_resolver_keeps_trailing_dot(clock: Callable[[], datetime]) -> None:
    enr = Enrichers(None, rdns=True, clock=clock)
    out = enr.call("reverse_dns", "127.0.0.1", Event())
    expected = socket.gethostbyaddr("127.0.0.1")[0].rstrip(".") + "."
    assert out == {"reverse_dns": expected}
    enr.close()


def test_invalid_ip_gives_nothing(clock: Callable[[], datetime]) -> None:
    enr = Enrichers(None, rdns=True, clock=clock)
    assert enr.call("reverse_dns", "localhost", Event()) is None
    assert enr.call("reverse_dns", "", Event()) is None
    enr.close()


class CountingResolver:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.calls: list[str] = []

    def __call__(self, ip: str) -> str:
        self.calls.append(ip)
        if ip not in self.names:
            raise socket.herror(1, "Unknown host")
        return self.names[ip]


def test_cache_ttls() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    resolver = CountingResolver({"192.0.2.1": "host.example."})
    rdns = ReverseDNS(lambda: now[0], lookup=resolver)
    assert rdns.resolve("192.0.2.1") == "host.example."
    assert rdns.resolve("192.0.2.2") == ""
    now[0] += timedelta(minutes=4)
    assert rdns.resolve("192.0.2.1") == "host.example."
    assert rdns.resolve("192.0.2.2") == ""
    assert resolver.calls == ["192.0.2.1", "192.0.2.2"]
    now[0] += timedelta(minutes=2)  # negative entry expired (5 min), positive kept (1 h)
    assert rdns.resolve("192.0.2.2") == ""
    assert rdns.resolve("192.0.2.1") == "host.example."
    assert resolver.calls == ["192.0.2.1", "192.0.2.2", "192.0.2.2"]
    now[0] += timedelta(hours=1)
    assert rdns.resolve("192.0.2.1") == "host.example."
    assert resolver.calls[-1] == "192.0.2.1" and len(resolver.calls) == 4
    rdns.close()


def test_timeout_is_a_negative_answer() -> None:
    release = threading.Event()

    def slow(ip: str) -> str:
        release.wait(5)
        return "late.example."

    rdns = ReverseDNS(lambda: datetime(2026, 1, 1, tzinfo=UTC), timeout=0.05, lookup=slow)
    assert rdns.resolve("192.0.2.9") == ""
    assert rdns.resolve("192.0.2.9") == ""  # cached negative, no second wait
    release.set()
    rdns.close()
