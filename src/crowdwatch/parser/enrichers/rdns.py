"""The ``reverse_dns`` enricher: PTR lookups with a timeout and a TTL cache.

Lookups go through the system resolver (``socket.gethostbyaddr``) on a small worker pool
so a slow resolver costs at most :data:`TIMEOUT` seconds per uncached address. Results
are cached (1 h when a name was found, 5 min otherwise) against an injectable clock.
The returned name keeps a trailing dot, as Go's resolver returns it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta

from crowdwatch.parser.enrichers.geoip import parse_ip

log = logging.getLogger(__name__)

TIMEOUT = 2.0
POSITIVE_TTL = timedelta(hours=1)
NEGATIVE_TTL = timedelta(minutes=5)
MAX_ENTRIES = 10_000


def system_lookup(ip: str) -> str:
    """The first PTR name of `ip` from the system resolver, with a trailing dot."""
    name = socket.gethostbyaddr(ip)[0]
    return name if name.endswith(".") else name + "."


class ReverseDNS:
    """Cached PTR lookups. `clock` returns the current (aware) time; `lookup` resolves
    one address (raising `OSError` when it has no name)."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        timeout: float = TIMEOUT,
        lookup: Callable[[str], str] = system_lookup,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._lookup = lookup
        self._cache: dict[str, tuple[datetime, str]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def resolve(self, value: str) -> str:
        """The PTR name of `value` (with trailing dot), or "" when there is none."""
        now = self._clock()
        hit = self._cache.get(value)
        if hit is not None and hit[0] > now:
            return hit[1]
        name = self._query(value)
        if len(self._cache) >= MAX_ENTRIES:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
        self._cache[value] = (now + (POSITIVE_TTL if name else NEGATIVE_TTL), name)
        return name

    def _query(self, value: str) -> str:
        ip = parse_ip(value)
        if ip is None:
            log.debug("reverse_dns: cannot parse IP %r", value)
            return ""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="crowdwatch-rdns")
        future = self._pool.submit(self._lookup, str(ip))
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            log.debug("reverse_dns: lookup of %s timed out", value)
        except (OSError, UnicodeError) as exc:
            log.debug("reverse_dns: failed to resolve %s: %s", value, exc)
        return ""

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
