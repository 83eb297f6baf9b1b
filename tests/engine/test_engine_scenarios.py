"""open_engine + the real scenario engine: file order, postoverflows, reprocess, simulation, hub state."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crowdwatch.engine import DetectionEngine
from crowdwatch.event import TIMEMACHINE, Event, Line
from crowdwatch.hub.loadout import open_engine
from crowdwatch.scenarios import ScenarioLoadError
from crowdwatch.simulation import SimulationConfig

PARSER = """\
name: me/demo
filter: "evt.Line.Labels.type == 'demo'"
grok:
  pattern: "^%{TIMESTAMP_ISO8601:ts} %{IP:ip} %{WORD:verb}$"
  apply_on: Line.Raw
statics:
  - meta: source_ip
    expression: evt.Parsed.ip
  - meta: log_type
    value: demo
  - target: evt.StrTime
    expression: evt.Parsed.ts
  - method: ParseDate
    expression: evt.StrTime
  - target: evt.MarshaledTime
    expression: evt.Enriched.MarshaledTime
"""
LEAKY = """\
type: leaky
name: me/bf
description: three hits in a row
filter: "evt.Meta.log_type == 'demo'"
groupby: evt.Meta.source_ip
capacity: 2
leakspeed: 10s
reprocess: true
labels:
  remediation: true
"""
ON_OVERFLOW = """\
type: trigger
name: me/on-overflow
description: fires on reprocessed overflows
filter: "evt.GetType() == 'overflow'"
groupby: evt.Overflow.Alert.Source.IP
"""
ENRICH = """\
name: me/enrich
onsuccess: next_stage
filter: "evt.Overflow.Alert.GetScope() == 'Ip'"
statics:
  - meta: enriched
    value: "yes"
"""
WHITELIST = """\
name: me/po-wl
whitelist:
  reason: friend
  ip: ["9.9.9.9"]
"""
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    root = tmp_path / "hub"
    _write(root / "parsers/s01-parse/me/demo.yaml", PARSER)
    bf = _write(root / "scenarios/me/bf.yaml", LEAKY)
    _write(root / "scenarios/me/on-overflow.yaml", ON_OVERFLOW)
    _write(root / "postoverflows/s00-enrich/me/enrich.yaml", ENRICH)
    _write(root / "postoverflows/s01-whitelist/me/po-wl.yaml", WHITELIST)
    (root / "patterns").mkdir()
    (root / "data").mkdir()
    digest = hashlib.sha256(bf.read_bytes()).hexdigest()
    index = {
        "parsers": {"me/demo": {"path": "parsers/s01-parse/me/demo.yaml", "stage": "s01-parse"}},
        "scenarios": {
            "me/bf": {
                "path": "scenarios/me/bf.yaml",
                "versions": {"0.1": {"digest": "0" * 64}, "0.2": {"digest": digest}},
            }
        },
        "postoverflows": {
            "me/enrich": {"path": "postoverflows/s00-enrich/me/enrich.yaml", "stage": "s00-enrich"},
            "me/po-wl": {"path": "postoverflows/s01-whitelist/me/po-wl.yaml", "stage": "s01-whitelist"},
        },
        "collections": {
            "me/all": {
                "path": "collections/me/all.yaml",
                "parsers": ["me/demo"],
                "scenarios": ["me/bf"],
                "postoverflows": ["me/enrich", "me/po-wl"],
            }
        },
    }
    _write(root / "collections/me/all.yaml", "name: me/all\n")
    _write(root / ".index.json", json.dumps(index))
    return root


def feed(engine: DetectionEngine, lines: list[str]) -> list[Event]:
    out: list[Event] = []
    for raw in lines:
        evt = Event(Line(raw, "/var/log/demo.log", {"type": "demo"}, "file", NOW), expect_mode=TIMEMACHINE)
        out.extend(engine.process(evt))
    return out


def hits(ip: str, n: int, second: int = 0) -> list[str]:
    return [f"2026-04-01T10:00:{second:02d}Z {ip} GET" for _ in range(n)]


def test_overflow_reprocess_simulation_and_hub_state(hub: Path) -> None:
    seen: list[tuple[str, bool, int]] = []
    engine = open_engine(
        hub,
        parsers=["me/demo"],
        scenarios=["me/bf", "./scenarios/me/on-overflow.yaml"],
        postoverflows=["me/enrich", "me/po-wl"],
        simulation=SimulationConfig(False, frozenset({"me/bf"})),
        clock=lambda: NOW,
        on_overflow=lambda e, d: seen.append(
            (e.Overflow.Alert.Scenario if e.Overflow.Alert else "", e.Overflow.Whitelisted, d)
        ),
    )
    alerts = feed(engine, hits("1.2.3.4", 2) + hits("9.9.9.9", 3) + hits("1.2.3.4", 1, 1))
    assert seen == [("me/bf", True, 0), ("me/bf", False, 0), ("me/on-overflow", False, 1)]
    bf, trig = alerts
    assert bf.Overflow.Alert is not None and trig.Overflow.Alert is not None
    assert bf.Overflow.Alert.EventsCount == 3 and list(bf.Overflow.Sources) == ["1.2.3.4"]
    assert bf.Meta["enriched"] == "yes"
    digest = hashlib.sha256((hub / "scenarios/me/bf.yaml").read_bytes()).hexdigest()
    assert (bf.Overflow.Alert.ScenarioHash, bf.Overflow.Alert.ScenarioVersion) == (digest, "0.2")
    assert bf.Overflow.Alert.Simulated and bf.Overflow.Alert.Remediation
    assert list(trig.Overflow.Sources) == ["1.2.3.4"]
    assert (trig.Overflow.Alert.ScenarioHash, trig.Overflow.Alert.ScenarioVersion) == ("", "")
    assert not trig.Overflow.Alert.Simulated
    st = engine.stats
    assert (st.lines, st.parsed, st.overflows, st.postoverflow_whitelisted, st.reprocessed, st.alerts) == (
        6,
        6,
        3,
        1,
        1,
        2,
    )


def test_end_of_replay_drops_buckets_without_overflow(hub: Path) -> None:
    engine = open_engine(hub, collections=["me/all"], clock=lambda: NOW)
    assert feed(engine, hits("5.5.5.5", 2)) == []
    assert engine.scenarios is not None and engine.scenarios.live_buckets() == 1
    engine.finish()
    assert engine.scenarios.live_buckets() == 0
    assert feed(engine, hits("5.5.5.5", 1)) == []  # a fresh bucket: the two earlier hits are gone


def test_collection_brings_everything(hub: Path) -> None:
    engine = open_engine(hub, collections=["me/all"])
    assert engine.scenarios is not None and engine.scenarios.names == ["me/bf"]
    assert engine.postoverflows is not None and engine.postoverflows.stages == ["s00-enrich", "s01-whitelist"]
    assert engine.parsers.stages == ["s01-parse"]


def test_broken_scenario_is_a_load_error(hub: Path) -> None:
    (hub / "scenarios/me/bf.yaml").write_text(LEAKY + "nope: 1\n")
    with pytest.raises(ScenarioLoadError) as info:
        open_engine(hub, parsers=["me/demo"], scenarios=["me/bf"])
    assert info.value.file.endswith("bf.yaml") and info.value.line > 0
