"""Pipeline (engine thread) and alert conversion, in process: records straight into the sink."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agent_support import attack_line, noise_line, wait_for

from crowdwatch.acquisition.base import LineRecord
from crowdwatch.agent.alerts import to_api_alerts
from crowdwatch.agent.pipeline import Pipeline
from crowdwatch.agent.state import AgentState
from crowdwatch.engine import DetectionEngine
from crowdwatch.hub.loadout import open_engine

KEY = "file:/var/log/auth.log"


def _rec(text: str, n: int) -> LineRecord:
    return LineRecord(KEY, text.rstrip("\n"), {"type": "syslog"}, "file", "/var/log/auth.log", {"line": n})


def _engine() -> DetectionEngine:
    return open_engine()


def test_records_become_queued_alerts_with_counters(tmp_path: Path) -> None:
    state = AgentState(tmp_path / "s.db")
    p = Pipeline(_engine(), state, machine_id="m1", checkpoint_interval=0.1)
    assert p.resume(KEY) is None
    p.start()
    lines = [attack_line(k, "192.0.2.5") for k in range(6)] + [noise_line(1)]
    for n, line in enumerate(lines, 1):
        p.sink(_rec(line, n))
    wait_for(lambda: state.queue_len() == 1, 10, "the alert queued")
    p.stop()
    ((_, alert),) = state.queue_peek(5)
    assert alert["scenario"] == "crowdwatch/ssh-bf"
    assert alert["source"]["value"] == "192.0.2.5" and alert["source"]["ip"] == "192.0.2.5"
    assert alert["decisions"] == [] and alert["machine_id"] == "m1" and len(alert["uuid"]) == 36
    assert alert["events_count"] == 6 and len(alert["events"]) == 6
    assert {"scenario_hash", "scenario_version", "start_at", "stop_at", "capacity", "leakspeed"} <= set(alert)
    pos, counters = state.positions()[KEY]
    assert pos == {"line": 7}
    assert counters == {"lines": 7, "parsed": 6, "unparsed": 1, "poured": 6}
    # the stop took a full checkpoint: bucket state and its positions
    assert state.buckets() is not None and state.dump_positions()[KEY][0] == {"line": 7}
    assert state.recent_alerts() == []
    state.close()


def test_restart_resumes_and_continues_buckets(tmp_path: Path) -> None:
    state = AgentState(tmp_path / "s.db")
    p = Pipeline(_engine(), state, checkpoint_interval=0.1)
    p.start()
    for n in range(1, 4):
        p.sink(_rec(attack_line(n, "192.0.2.9"), n))
    p.stop()
    state.close()
    state = AgentState(tmp_path / "s.db")
    p = Pipeline(_engine(), state, checkpoint_interval=0.1)
    assert p.resume(KEY) == {"line": 3}
    p.start()
    for n in range(4, 7):
        p.sink(_rec(attack_line(n, "192.0.2.9"), n))
    wait_for(lambda: state.queue_len() == 1, 10, "the alert from 3 + 3 failures")
    p.stop()
    assert state.positions()[KEY][1]["lines"] == 6
    state.close()


def test_replace_engine_carries_buckets(tmp_path: Path) -> None:
    state = AgentState(tmp_path / "s.db")
    p = Pipeline(_engine(), state, checkpoint_interval=0.1)
    p.start()
    for n in range(1, 4):
        p.sink(_rec(attack_line(n, "192.0.2.10"), n))
    new = _engine()
    p.replace_engine(new)
    assert p.engine is new and new.scenarios is not None and new.scenarios.live_buckets() >= 1
    for n in range(4, 7):
        p.sink(_rec(attack_line(n, "192.0.2.10"), n))
    wait_for(lambda: state.queue_len() == 1, 10, "the alert across the reload")
    p.stop()
    state.close()


def test_full_alert_queue_holds_the_pipeline_back(tmp_path: Path) -> None:
    state = AgentState(tmp_path / "s.db", queue_max=1)
    p = Pipeline(_engine(), state, checkpoint_interval=0.05, queue_size=4)
    p.start()
    ips = [f"192.0.2.{i}" for i in range(20, 24)]
    records = [_rec(attack_line(i * 6 + k, ip), i * 6 + k + 1) for i, ip in enumerate(ips) for k in range(6)]
    fed = threading.Event()

    def feed() -> None:  # one source per checkpoint interval: one alert per checkpoint
        for n, r in enumerate(records):
            p.sink(r)
            if n % 6 == 5:
                time.sleep(0.2)
        fed.set()

    t = threading.Thread(target=feed)
    t.start()
    time.sleep(1.0)
    # the first alert filled the queue: the next checkpoint waits, the line queue fills, the feeder blocks
    assert state.queue_len() == 1 and not fed.is_set()
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while len(seen) < len(ips) and time.monotonic() < deadline:
        rows = state.queue_peek(1)
        if rows:
            seen.append(rows[0][1]["source"]["value"])
            state.queue_ack([rows[0][0]])
        time.sleep(0.02)
    t.join(10)
    p.stop()
    assert seen == ips  # every alert, in order, none lost
    assert state.positions()[KEY][1]["lines"] == len(records)
    state.close()


def test_overflow_with_several_sources_gives_one_alert_each() -> None:
    from crowdwatch.event import OVFLW, Alert, Event, Source

    evt = Event(None, type_=OVFLW)
    for ip in ("192.0.2.1", "::ffff:10.0.0.1"):
        a = Alert()
        a.Scenario = "s"
        a.Source = Source(ip=ip, scope="Ip", value=ip)
        evt.Overflow.APIAlerts.append(a)
    docs = to_api_alerts(evt, "m")
    assert [d["source"]["value"] for d in docs] == ["192.0.2.1", "10.0.0.1"]
    assert len({d["uuid"] for d in docs}) == 2
