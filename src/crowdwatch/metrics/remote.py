"""Metrics of another crowdwatch process, re-exported by this one's endpoint.

``crowdwatch run`` serves the LAPI from a child process (so detection and the API use two
cores); its metrics endpoint listens on loopback only and the parent's endpoint includes them,
so one scrape (and ``crowdwatch metrics``) sees both. The child's process-level families
(``process_*``, ``python_*``, ``crowdwatch_info``) are left out: the parent has its own, and
the same family twice would make the exposition invalid.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

SKIPPED_PREFIXES = ("process_", "python_", "crowdwatch_info")


class RemoteCollector(Collector):
    """Yields the metric families served at ``url`` (nothing when it does not answer)."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:
                text = resp.read().decode("utf-8", "replace")
        except (OSError, urllib.error.URLError) as exc:
            log.debug("metrics of %s unavailable: %s", self.url, exc)
            return
        for family in text_string_to_metric_families(text):
            if not family.name.startswith(SKIPPED_PREFIXES):
                yield family
