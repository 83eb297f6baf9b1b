"""Fixtures of the metrics tests: a real LAPI on SQLite with its metrics endpoint, and
lookups in scraped samples."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.registry import CollectorRegistry
from tests.lapi.helpers import BOUNCER_KEY, LiveServer

from crowdwatch.config.schema import DbConfigSection
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import open_database
from crowdwatch.metrics.scrape import Sample, fetch, parse
from crowdwatch.metrics.server import ThreadedMetricsServer, new_registry, start_metrics_thread


def value(samples: Iterable[Sample], metric: str, /, **labels: str) -> float | None:
    """The value of the one sample ``metric`` whose labels include ``labels`` (None: absent)."""
    found = [
        s.value for s in samples if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, f"{metric} {labels}: {len(found)} samples"
    return found[0] if found else None


def scrape(url: str) -> list[Sample]:
    return parse(fetch(url))


@dataclass
class Lapi:
    server: LiveServer
    registry: CollectorRegistry
    endpoint: ThreadedMetricsServer

    def samples(self) -> list[Sample]:
        return scrape(self.endpoint.url)


@pytest.fixture
def lapi(tmp_path: Path) -> Iterator[Lapi]:
    """A LAPI (machine ``agent``, bouncer ``fw``) whose metrics are served on a free port."""
    db = open_database(DbConfigSection(), tmp_path / "lapi.db")
    svc = LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"))
    svc.register_machine("agent", "agent-password", "", True)
    svc.add_bouncer("fw", BOUNCER_KEY)
    registry = new_registry()
    server = LiveServer(svc, registry=registry)
    endpoint = start_metrics_thread(registry, "127.0.0.1", 0)
    try:
        yield Lapi(server, registry, endpoint)
    finally:
        endpoint.close()
        server.stop()
        db.dispose()
