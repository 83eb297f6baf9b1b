"""The agent collector over a real file source and a real DetectionEngine on bundled content."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest

from crowdwatch.acquisition.base import LineRecord, LiveSource, SourceSpec
from crowdwatch.acquisition.tail import FileSource
from crowdwatch.engine import DetectionEngine
from crowdwatch.event import TIMEMACHINE, Event, Line
from crowdwatch.hub.loadout import bundled_content_dir, open_engine
from crowdwatch.metrics.agent import AgentCollector
from crowdwatch.metrics.scrape import Sample, build, parse
from crowdwatch.metrics.server import new_registry

from .conftest import value

SAMPLE = bundled_content_dir() / "samples" / "auth.log"


@dataclass
class Runtime:
    """The attributes of the agent runtime the collector reads (docs/AGENT.md)."""

    sources: list[LiveSource]
    engine: DetectionEngine
    pushed: int = 0
    queued: int = 0

    def queue_stats(self) -> Mapping[str, int]:
        return {"queued": self.queued, "pushed": self.pushed, "push_errors": 1}


def _read_all(tmp_path: Path, name: str = "auth.log") -> tuple[FileSource, list[LineRecord]]:
    log = tmp_path / name
    shutil.copy(SAMPLE, log)
    spec = SourceSpec(
        "file", {"type": "syslog"}, "acquis.yaml", mode="cat", options={"filenames": [str(log)]}
    )
    src = FileSource.from_spec(spec)
    records: list[LineRecord] = []
    src.start(records.append, lambda key: None)
    deadline = time.monotonic() + 10
    while not src.done and time.monotonic() < deadline:
        time.sleep(0.01)
    src.stop()
    assert src.done
    return src, records


def _feed(engine: DetectionEngine, src: LiveSource, records: Sequence[LineRecord]) -> int:
    """What the agent's pipeline does per line: process it, fill the stream's counters."""
    alerts = 0
    now = datetime.now(UTC)
    for rec in records:
        c = src.counters()[rec.key]
        st = engine.stats
        parsed, poured = st.parsed, st.poured
        alerts += len(
            engine.process(Event(Line(rec.text, rec.src, dict(rec.labels), rec.module, now), TIMEMACHINE))
        )
        if st.parsed > parsed:
            c.parsed += 1
        else:
            c.unparsed += 1
        if st.poured > poured:
            c.poured += 1
    return alerts


def _samples(collector: AgentCollector) -> list[Sample]:
    registry = new_registry()
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def test_collector_reads_sources_parsers_scenarios(tmp_path: Path) -> None:
    engine = open_engine()
    src, records = _read_all(tmp_path)
    assert len(records) == 300
    rt = Runtime([src], engine, pushed=3, queued=2)
    collector = AgentCollector(rt)
    empty = _samples(collector)
    path = str(tmp_path / "auth.log")
    assert value(empty, "cs_filesource_hits_total", source=path, type="syslog") == 300
    assert value(empty, "cs_parser_hits_total", source=path, type="syslog") == 0

    alerts = _feed(engine, src, records)
    assert alerts > 0
    c = src.counters()[f"file:{path}"]
    samples = _samples(collector)
    # acquisition (per stream) — what the source and the pipeline counted
    assert value(samples, "cs_parser_hits_total", source=path, type="syslog") == 300
    assert value(samples, "cs_parser_hits_ok_total", source=path, type="syslog") == c.parsed
    assert value(samples, "cs_parser_hits_ko_total", source=path, type="syslog") == c.unparsed
    assert c.parsed + c.unparsed == 300 and 0 < c.unparsed < 300
    assert value(samples, "crowdwatch_acquisition_poured_total", source=path, type="syslog") == c.poured > 0
    # parser nodes (stage, name)
    sshd = value(
        samples, "cs_node_hits_total", pipeline="parsers", stage="s01-parse", name="crowdwatch/sshd-logs"
    )
    sshd_ok = value(
        samples, "cs_node_hits_ok_total", pipeline="parsers", stage="s01-parse", name="crowdwatch/sshd-logs"
    )
    sshd_ko = value(
        samples, "cs_node_hits_ko_total", pipeline="parsers", stage="s01-parse", name="crowdwatch/sshd-logs"
    )
    assert sshd is not None and sshd_ok is not None and sshd_ko is not None
    assert sshd == sshd_ok + sshd_ko and sshd_ok > 0
    syslog = value(
        samples, "cs_node_hits_total", pipeline="parsers", stage="s00-raw", name="crowdwatch/syslog-logs"
    )
    assert syslog == 300
    # scenarios: the engine's own counters, and the live buckets
    assert engine.scenarios is not None
    stats = engine.scenarios.stats["crowdwatch/ssh-bf"]
    assert value(samples, "cs_bucket_overflowed_total", name="crowdwatch/ssh-bf") == stats.overflowed > 0
    assert value(samples, "cs_bucket_poured_total", name="crowdwatch/ssh-bf") == stats.poured > 0
    assert value(samples, "cs_bucket_created_total", name="crowdwatch/ssh-bf") == stats.instantiated > 0
    live = sum(len(s.buckets) for s in engine.scenarios.scenarios if s.name == "crowdwatch/ssh-bf")
    assert value(samples, "cs_buckets", name="crowdwatch/ssh-bf") == live
    # engine totals and the alert queue
    assert value(samples, "crowdwatch_engine_lines_total") == 300
    assert value(samples, "crowdwatch_engine_alerts_total") == alerts
    assert value(samples, "cs_alerts_pushed_total") == 3
    assert value(samples, "cs_alerts_queued") == 2
    assert value(samples, "crowdwatch_alerts_push_errors_total") == 1

    # the same numbers come out of the tables of `crowdwatch metrics`
    snap = build(samples)
    assert snap.acquisition == [
        {
            "source": f"file:{path}",
            "type": "syslog",
            "read": 300,
            "parsed": c.parsed,
            "unparsed": c.unparsed,
            "poured": c.poured,
            "errors": 0,
        }
    ]
    bf = next(r for r in snap.scenarios if r["name"] == "crowdwatch/ssh-bf")
    assert bf["overflowed"] == stats.overflowed and bf["current"] == live
    assert snap.alerts == {"produced": alerts, "pushed": 3, "queued": 2, "push_errors": 1}


def test_aggregated_level_drops_nodes_and_files(tmp_path: Path) -> None:
    engine = open_engine()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    src_a, rec_a = _read_all(tmp_path / "a")
    src_b, rec_b = _read_all(tmp_path / "b")
    _feed(engine, src_a, rec_a)
    _feed(engine, src_b, rec_b)
    rt = Runtime([src_a, src_b], engine)
    full = _samples(AgentCollector(rt, "full"))
    assert len([s for s in full if s.name == "cs_filesource_hits_total"]) == 2
    agg = _samples(AgentCollector(rt, "aggregated"))
    assert not [s for s in agg if s.name.startswith("cs_node_")]
    hits = [s for s in agg if s.name == "cs_filesource_hits_total"]
    assert [(dict(s.labels), s.value) for s in hits] == [({"type": "syslog"}, 600)]
    assert value(agg, "cs_parser_hits_total", type="syslog") == 600
    with pytest.raises(ValueError, match="unknown metrics level"):
        AgentCollector(rt, "verbose")
