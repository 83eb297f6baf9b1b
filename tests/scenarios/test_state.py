"""Bucket state survives a restart: dump, load the scenarios again, restore, continue."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest
import zstandard

from crowdwatch.event import OVFLW, Event, Source
from crowdwatch.scenarios import StateError, state

from .helpers import log_event, scenario_set, summary, wall

SCENARIOS = [
    """\
type: leaky
name: me/lk
description: test
filter: evt.Meta.log_type == 'test'
groupby: evt.Meta.source_ip
distinct: evt.Meta.verb
capacity: 3
leakspeed: 10s
blackhole: 1m
""",
    """\
type: bayesian
name: me/bayes
description: test
filter: evt.Meta.log_type == 'test' && evt.ExpectMode == 1
capacity: -1
leakspeed: 1m
bayesian_prior: 0.5
bayesian_threshold: 0.9
bayesian_conditions:
  - condition: evt.Meta.verb == 'v0'
    prob_given_evil: 0.8
    prob_given_benign: 0.2
    guillotine: true
  - condition: len(queue.Queue) >= 4
    prob_given_evil: 0.9
    prob_given_benign: 0.1
""",
    """\
type: counter
name: me/count
description: test
filter: evt.Meta.log_type == 'test' && evt.ExpectMode == 0
capacity: -1
duration: 30s
""",
]
A, B = "1.1.1.1", "2.2.2.2"


def _timeline() -> list[tuple[Event, float]]:
    """(event, wall clock) steps; replay events for A, live events for B."""

    def tm(t: float, verb: str) -> Event:
        return log_event(t, ip=A, meta={"verb": verb})

    def lv(verb: str) -> Event:
        return log_event(ip=B, meta={"verb": verb}, live=True)

    return [
        (tm(0, "v0"), 0),  # bayesian: guillotine of the v0 condition fires
        (tm(0.5, "v1"), 0),
        (tm(1, "v2"), 0),
        (tm(1.5, "v1"), 0),  # leaky: distinct drops it; bayesian: 4 queued, v0 guillotined → .97
        (tm(2, "v3"), 0),  # leaky: 4th distinct value → overflow
        (lv("v1"), 10),  # counter (live): timer at 40
        (lv("v2"), 11),
        (tm(3, "v0"), 11),
        (lv("v3"), 12),
        (lv("v4"), 13),  # leaky (live, B): overflow
        (tm(70, "v9"), 20),
    ]


def _run(scen_dir: Path, split: int | None) -> list[dict[str, object]]:
    scen = scenario_set(scen_dir, *SCENARIOS)
    out: list[dict[str, object]] = []
    for n, (evt, now) in enumerate(_timeline()):
        if n == split:
            data = scen.dump()
            scen = scenario_set(scen_dir, *SCENARIOS)  # a new process
            scen.restore(data)
        out.extend(summary(o) for o in scen.pour(evt, now=wall(now)))
    out.extend(summary(o) for o in scen.tick(wall(100)))
    return out


def test_uninterrupted_timeline(tmp_path: Path) -> None:
    got = [(s["scenario"], s["count"], s["sources"]) for s in _run(tmp_path, None)]
    assert got == [
        ("me/bayes", 4, [A]),
        ("me/lk", 4, [A]),  # the repeated v1 is not counted
        ("me/lk", 4, [B]),
        ("me/count", 4, [B]),
    ]


@pytest.mark.parametrize("split", range(1, 11))
def test_restore_continues_like_an_uninterrupted_run(tmp_path: Path, split: int) -> None:
    assert _run(tmp_path / "b", split) == _run(tmp_path / "a", None)


def test_dump_content(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path / "a", *SCENARIOS)
    evt = log_event(0, meta={"verb": "x"})
    scen.pour(evt)
    scen.pour(log_event(1, meta={"verb": "y"}))
    data = scen.dump()
    doc = state.document(data)
    assert doc["format"] == "crowdwatch-buckets/v2"
    assert doc["events"]["count"] == 2  # shared by the leaky and bayesian queues
    lk = doc["scenarios"][0]
    assert lk["name"] == "me/lk" and lk["buckets"]["distinct"] == ("c", {"x", "y"})
    assert state.describe(data) == {"me/lk": {"1.2.3.4": 2}, "me/bayes": {"": 2}, "me/count": {}}
    restored = scenario_set(tmp_path / "b", *SCENARIOS)
    restored.restore(data)
    assert state.document(restored.dump()) == doc
    assert restored.stats["me/lk"].current == 1
    (bucket,) = restored.scenarios[0].buckets.values()
    assert bucket.distinct == {"x", "y"} and [e.Meta["verb"] for e in bucket.events] == ["x", "y"]


def test_restore_keeps_blackhole_windows(tmp_path: Path) -> None:
    trig = "type: trigger\nname: me/t\ndescription: t\nfilter: evt.Meta.log_type == 'test'\nblackhole: 1m\n"
    scen = scenario_set(tmp_path, trig)
    assert len(scen.pour(log_event(0))) == 1
    again = scenario_set(tmp_path, trig)
    again.restore(scen.dump())
    assert again.pour(log_event(30)) == []
    assert len(again.pour(log_event(60))) == 1


def test_restore_overflow_events_in_queues(tmp_path: Path) -> None:
    text = "type: leaky\nname: me/r\ndescription: t\nfilter: evt.GetType() == 'overflow'\ncapacity: 1\nleakspeed: 1m\n"
    scen = scenario_set(tmp_path, text)
    ovf = Event(type_=OVFLW)
    ovf.Overflow.Sources = {"9.9.9.9": Source("9.9.9.9", "", "Ip", "9.9.9.9")}
    scen.pour(ovf, now=wall(0))
    again = scenario_set(tmp_path, text)
    again.restore(scen.dump())
    (out,) = again.pour(ovf, now=wall(1))
    assert list(out.Overflow.Sources) == ["9.9.9.9"] and summary(out)["count"] == 2


def test_state_of_unknown_scenarios_is_ignored_and_bad_documents_rejected(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, SCENARIOS[0])
    scen.pour(log_event(0))
    other = scenario_set(tmp_path, SCENARIOS[0].replace("me/lk", "me/other"))
    other.restore(scen.dump())
    assert other.live_buckets() == 0
    good = scen.dump()
    doc = state.document(good)
    doc["scenarios"][0]["queue"] = ("q", (7).to_bytes(8, "little"))  # no event 7
    for bad in (
        b"{}",
        b"not json",
        b'{"format": "crowdwatch-buckets/v1", "events": [], "scenarios": [{}]}',
        good[:-10],  # truncated
        good[:5] + bytes(len(good) - 5),
        state.MAGIC + zstandard.ZstdCompressor().compress(marshal.dumps(doc)),
        state.MAGIC + zstandard.ZstdCompressor().compress(marshal.dumps({"format": state.FORMAT})),
    ):
        with pytest.raises(StateError):
            scen.restore(bad)
