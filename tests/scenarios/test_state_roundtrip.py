"""Property: dump at any point of a random event stream, restore into freshly loaded scenarios,
continue → exactly the alerts and the final bucket state of the uninterrupted run."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdwatch.event import LIVE, OVFLW, TIMEMACHINE, Event, Line, Source
from crowdwatch.scenarios import ScenarioContext, ScenarioFile, ScenarioSet

from .helpers import BASE, at

SCENARIOS = [
    # leaky with distinct and blackhole, replay and live
    """\
type: leaky
name: p/leaky
description: t
filter: evt.Meta.log_type == 'p' && evt.GetType() == 'log'
groupby: evt.Meta.source_ip
distinct: evt.Meta.verb
capacity: 3
leakspeed: 10s
blackhole: 1m
""",
    # a queue smaller than the capacity
    """\
type: leaky
name: p/cache
description: t
filter: evt.Meta.log_type == 'p' && evt.GetType() == 'log'
groupby: evt.Meta.source_ip
capacity: 5
cache_size: 2
leakspeed: 5s
""",
    """\
type: counter
name: p/count
description: t
filter: evt.Meta.log_type == 'p' && evt.ExpectMode == 0
groupby: evt.Meta.source_ip
capacity: -1
duration: 30s
""",
    """\
type: bayesian
name: p/bayes
description: t
filter: evt.Meta.log_type == 'p' && evt.ExpectMode == 1
groupby: evt.Meta.source_ip
capacity: -1
leakspeed: 1m
bayesian_prior: 0.5
bayesian_threshold: 0.9
bayesian_conditions:
  - condition: evt.Meta.verb == 'v0'
    prob_given_evil: 0.8
    prob_given_benign: 0.2
    guillotine: true
  - condition: len(queue.Queue) >= 3
    prob_given_evil: 0.9
    prob_given_benign: 0.1
""",
    # reads what only the saved events hold: the raw line, the event times and their zones
    """\
type: conditional
name: p/cond
description: t
filter: evt.Meta.log_type == 'p' && evt.GetType() == 'log'
groupby: evt.Meta.source_ip
capacity: -1
leakspeed: 20s
condition: |
  len(queue.Queue) >= 3 && queue.Queue[0].Line.Raw != queue.Queue[-1].Line.Raw &&
  queue.Queue[-1].Time.Sub(queue.Queue[0].Time) > duration("2s") &&
  queue.Queue[-2].Parsed.n != '' && queue.Queue[-3].Line.Labels.type == 'p'
""",
    """\
type: trigger
name: p/trigger
description: t
filter: evt.Meta.log_type == 'p' && evt.Meta.verb == 'v4'
groupby: evt.Meta.source_ip
blackhole: 30s
""",
    # overflow events in queues (what reprocess pours)
    """\
type: leaky
name: p/reprocess
description: t
filter: evt.GetType() == 'overflow'
capacity: 2
leakspeed: 1m
""",
]

ZONES = [
    UTC,
    timezone(timedelta(hours=1), "CET"),
    timezone(timedelta(hours=-5, minutes=-30)),
    ZoneInfo("Europe/Paris"),
]
LABELS = {"type": "p"}  # shared by every line, as acquisition does

Step = tuple[str, int, int, int, int]  # (kind, ip, verb, seconds forward, zone)

steps = st.lists(
    st.tuples(
        st.sampled_from(["replay", "live", "live", "overflow", "tick"]),
        st.integers(0, 2),
        st.integers(0, 4),
        st.integers(0, 8),
        st.integers(0, len(ZONES) - 1),
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture(scope="module")
def files() -> Iterator[list[ScenarioFile]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = []
        for i, text in enumerate(SCENARIOS):
            path = Path(tmp) / f"s{i}.yaml"
            path.write_text(text)
            out.append(ScenarioFile(path, hash=f"h{i}", version="1"))
        yield out


def load(files: list[ScenarioFile]) -> ScenarioSet:
    return ScenarioSet.load(files, ScenarioContext(None))


def make_event(n: int, kind: str, ip: int, verb: int, t: float, zone: int) -> Event:
    addr = f"10.0.0.{ip + 1}"
    if kind == "overflow":
        evt = Event(type_=OVFLW)
        evt.Overflow.Sources = {addr: Source(addr, "", "Ip", addr)}
        return evt
    when = BASE + timedelta(seconds=t)
    line = Line(f"line {n} from {addr}", "/var/log/p.log", LABELS, "file", when.astimezone(ZONES[zone]))
    evt = Event(line, expect_mode=LIVE if kind == "live" else TIMEMACHINE)
    evt.Process = True
    evt.Stage = "s01-parse"
    evt.Parsed = {"n": str(n), "message": line.Raw}
    evt.Meta = {"log_type": "p", "source_ip": addr, "verb": f"v{verb}"}
    evt.Enriched = {"IsoCode": "FR"} if ip == 1 else {}
    evt.Time = when.astimezone(ZONES[(zone + 1) % len(ZONES)])
    if kind == "replay":
        evt.MarshaledTime = at(t)
        evt.StrTime = evt.MarshaledTime
    return evt


def snapshot(scen: ScenarioSet) -> list[Any]:
    """Every bucket's state, queued events included, as plain values."""
    out: list[Any] = []
    for scn in scen.scenarios:
        for b in scn.buckets.values():
            stamps = (b.first, b.last, b.ovflw, b.deadline, b.tokens, b.tlast, b.total, b.mode)
            queue = [(e.to_dict(), e.Time.tzname(), e.Line.Time.tzname()) for e in b.events]
            out.append((scn.name, b.key, stamps, b.distinct, b.guillotines, queue))
        if scn.blackhole is not None:
            out.append(sorted(scn.blackhole.until.items()))
    return out


def run(files: list[ScenarioFile], script: list[Step], split: int | None) -> tuple[list[Any], list[Any]]:
    scen = load(files)
    out: list[Any] = []
    t = 0.0
    for n, (kind, ip, verb, forward, zone) in enumerate(script):
        if n == split:
            data = scen.dump()
            scen = load(files)  # a new process
            scen.restore(data)
        t += forward
        now = BASE + timedelta(seconds=t)
        if kind == "tick":
            got = scen.tick(now)
        else:
            got = scen.pour(make_event(n, kind, ip, verb, t, zone), now=now)
        out.extend((o.MarshaledTime, o.Overflow.to_dict()) for o in got)
    out.extend((o.MarshaledTime, o.Overflow.to_dict()) for o in scen.tick(BASE + timedelta(seconds=t + 3600)))
    end = snapshot(scen)
    again = load(files)
    again.restore(scen.dump())
    assert snapshot(again) == end
    return out, end


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=steps, data=st.data())
def test_restore_anywhere_gives_the_uninterrupted_alerts(
    files: list[ScenarioFile], script: list[Step], data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(script) - 1), label="split")
    expected, end_state = run(files, script, None)
    got, end_state_restored = run(files, script, split)
    assert got == expected
    assert end_state_restored == end_state


def test_the_property_sees_alerts(files: list[ScenarioFile]) -> None:
    """The scenarios above do fire on such streams (else the property would prove little)."""
    script: list[Step] = [("replay", 0, v % 5, v % 2, v % len(ZONES)) for v in range(10)]
    script += [("live", 1, v, 1, 1) for v in range(5)] + [("overflow", 0, 0, 1, 0)] * 3
    got, _ = run(files, script, None)
    fired = {d["Alert"]["scenario"] for _, d in got}
    assert fired >= {"p/leaky", "p/cache", "p/count", "p/bayes", "p/cond", "p/trigger", "p/reprocess"}
    for split in range(1, len(script)):
        assert run(files, script, split)[0] == got


def test_zones_and_shared_objects_survive(files: list[ScenarioFile]) -> None:
    scen = load(files)
    for n in range(len(ZONES)):
        scen.pour(make_event(n, "live", 0, n % 3, n, n), now=BASE + timedelta(seconds=n))
    again = load(files)
    again.restore(scen.dump())
    (before,) = scen.scenarios[2].buckets.values()  # the counter keeps them all
    (after,) = again.scenarios[2].buckets.values()
    for a, b in zip(before.events, after.events, strict=True):
        assert (a.Time, a.Time.tzname(), a.Time.utcoffset()) == (b.Time, b.Time.tzname(), b.Time.utcoffset())
        assert (a.Line.Time.tzname(), a.Line.Raw, a.Parsed, a.Meta) == (
            b.Line.Time.tzname(),
            b.Line.Raw,
            b.Parsed,
            b.Meta,
        )
        assert b.Parsed["message"] is b.Line.Raw  # one string, as in the live event
    assert len({id(e.Line.Labels) for e in after.events}) == 1
    # the leaky bucket queues the very event objects of the counter
    assert {id(e) for e in again.scenarios[0].buckets["10.0.0.1"].events} <= {id(e) for e in after.events}
    assert isinstance(after.events[0].Time, datetime)
