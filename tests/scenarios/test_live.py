"""LIVE mode: wall-clock timestamps, expiry and counter timers, tick, bounded memory (ENGINE.md §6.6)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from crowdwatch.event import LIVE, Event, Line

from .helpers import BASE, log_event, scenario_set, summary, wall

LEAKY = """\
type: leaky
name: me/lk
description: test
filter: evt.Meta.log_type == 'test'
groupby: evt.Meta.source_ip
capacity: 3
leakspeed: 10s
"""
COUNTER = """\
type: counter
name: me/count
description: test
filter: evt.Meta.log_type == 'test'
groupby: evt.Meta.source_ip
capacity: -1
duration: 5s
"""


def live(ip: str = "1.2.3.4") -> Event:
    return log_event(ip=ip, live=True)


def test_live_buckets_use_the_wall_clock(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, LEAKY)
    for s in (0, 1, 2):
        assert scen.pour(live(), now=wall(s)) == []
    (out,) = scen.pour(live(), now=wall(2.5))
    assert summary(out)["start"] == "2024-01-01T00:00:00Z"
    assert summary(out)["stop"] == "2024-01-01T00:00:02.5Z"
    assert (
        out.Overflow.Alert is not None and out.Overflow.Alert.Events[0].Timestamp == ""
    )  # no time on the event


def test_idle_bucket_expires_lifetime_after_last_pour(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, LEAKY)  # lifetime (3+1) * 10s = 40s
    scen.pour(live(), now=wall(0))
    scen.pour(live(), now=wall(30))  # re-arms: deadline 70
    assert scen.tick(wall(60)) == [] and scen.stats["me/lk"].current == 1
    assert scen.tick(wall(70)) == [] and scen.stats["me/lk"].current == 1  # not after the deadline yet
    assert scen.tick(wall(70.001)) == []  # underflow: no alert
    st = scen.stats["me/lk"]
    assert (st.current, st.underflowed, st.overflowed) == (0, 1, 0)


def test_expired_bucket_is_replaced_on_the_next_pour_without_tick(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, LEAKY)
    for _ in range(3):
        scen.pour(live(), now=wall(0))
    assert scen.pour(live(), now=wall(41)) == []  # a fresh bucket (full tokens), not an overflow
    st = scen.stats["me/lk"]
    assert (st.instantiated, st.underflowed) == (2, 1)


def test_discarded_event_does_not_rearm_the_timer(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, LEAKY + "distinct: evt.Meta.verb\n")
    scen.pour(log_event(ip="1.2.3.4", meta={"verb": "a"}, live=True), now=wall(0))
    scen.pour(log_event(ip="1.2.3.4", meta={"verb": "a"}, live=True), now=wall(30))  # dropped by distinct
    scen.tick(wall(41))
    assert scen.stats["me/lk"].underflowed == 1


def test_counter_fires_duration_after_first_pour(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, COUNTER)
    for sec in (0, 1, 3):
        assert scen.pour(live(), now=wall(sec)) == []
    assert scen.tick(wall(5)) == []
    (out,) = scen.tick(wall(6))
    s = summary(out)
    assert (s["count"], s["start"], s["stop"], s["events"]) == (
        3,
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:05Z",
        3,
    )
    assert (
        s["message"] == "Ip 1.2.3.4 performed 'me/count' (3 events over 5s) at 2024-01-01 00:00:03 +0000 UTC"
    )
    assert out.MarshaledTime == ""  # a timed overflow carries no time
    alert = out.Overflow.Alert
    assert alert is not None and alert.Capacity == -1


def test_counter_fires_on_the_next_pour_when_not_ticked(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, COUNTER)
    scen.pour(live(), now=wall(0))
    scen.pour(live(), now=wall(4))
    (out,) = scen.pour(live(), now=wall(7))  # the old bucket's timer fired at 5
    assert summary(out)["count"] == 2 and summary(out)["stop"] == "2024-01-01T00:00:05Z"
    assert scen.stats["me/count"].current == 1  # the event at 7 started a new counter


def test_counter_blackhole_uses_the_timer_time(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, COUNTER + "blackhole: 10s\n")
    scen.pour(live(), now=wall(0))
    assert len(scen.tick(wall(6))) == 1  # fired at 5: window until 15
    scen.pour(live(), now=wall(7))
    assert scen.tick(wall(13)) == []  # fired at 12: silenced
    scen.pour(live(), now=wall(14))
    assert len(scen.tick(wall(20))) == 1  # fired at 19


def test_tick_never_touches_replay_buckets(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, LEAKY, COUNTER.replace("me/count", "me/count2"))
    scen.pour(log_event(0))
    assert scen.tick(wall(10_000)) == []
    assert scen.stats["me/lk"].current == 1 and scen.stats["me/count2"].current == 1


def test_live_trigger_and_conditional(tmp_path: Path) -> None:
    cond = """\
type: conditional
name: me/cond
description: test
filter: evt.Meta.log_type == 'test'
capacity: -1
leakspeed: 10s
condition: len(queue.Queue) == 3
"""
    trig = "type: trigger\nname: me/trig\ndescription: t\nfilter: evt.Meta.log_type == 'test'\n"
    scen = scenario_set(tmp_path, cond, trig)
    (t0,) = scen.pour(live(), now=wall(0))
    assert summary(t0)["start"] == "2024-01-01T00:00:00Z" and t0.ExpectMode == LIVE
    scen.pour(live(), now=wall(5))
    scen.tick(wall(15.5))  # lifetime = leakspeed = 10s after the last pour (5)
    assert scen.stats["me/cond"].underflowed == 1
    outs = [o for s in (20, 21, 22) for o in scen.pour(live(), now=wall(s))]
    assert [summary(o)["scenario"] for o in outs] == ["me/trig", "me/trig", "me/cond", "me/trig"]


def test_blackhole_windows_are_forgotten_by_tick(tmp_path: Path) -> None:
    trig = "type: trigger\nname: me/trig\ndescription: t\nfilter: evt.Meta.log_type == 'test'\n"
    scen = scenario_set(tmp_path, trig + "groupby: evt.Meta.source_ip\nblackhole: 1m\n")
    for i in range(100):
        scen.pour(live(f"10.0.0.{i}"), now=wall(i))
    hole = scen.scenarios[0].blackhole
    # each overflow forgets the windows that ended before it: those opened at 40..99 remain
    assert hole is not None and sorted(hole.until) == sorted(f"10.0.0.{i}" for i in range(40, 100))
    scen.tick(wall(130))  # the windows opened at 40..70 end by 130
    assert sorted(hole.until) == sorted(f"10.0.0.{i}" for i in range(71, 100))


def test_memory_is_bounded_by_active_keys(tmp_path: Path) -> None:
    """1 M LIVE events, one new IP each, 1 ms apart, a tick every simulated second: the bucket
    table levels off at the keys active within a lifetime ((5+1) x 10 s = 60 000 events), and
    so does the process's allocated memory (sampled with ``sys.getallocatedblocks``)."""
    n = 1_000_000
    scen = scenario_set(tmp_path, LEAKY.replace("capacity: 3", "capacity: 5") + "blackhole: 1m\n")
    labels = {"type": "test"}
    live_peak = 0
    plateau = blocks_peak = 0
    for i in range(n):
        evt = Event(Line("line", "src", labels, "file"), expect_mode=LIVE)
        evt.Meta = {"log_type": "test", "source_ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"}
        now = BASE + timedelta(milliseconds=i)
        scen.pour(evt, now=now)
        if i % 1000 == 999:
            scen.tick(now)
            live_peak = max(live_peak, scen.live_buckets())
            if i == 69_999:
                plateau = sys.getallocatedblocks()
            elif i > 69_999:
                blocks_peak = max(blocks_peak, sys.getallocatedblocks())
    st = scen.stats["me/lk"]
    assert st.instantiated == n and st.underflowed == n - st.current
    assert 60_000 <= live_peak <= 61_000 < 100_000
    assert blocks_peak < plateau * 1.2, f"allocated blocks grew from {plateau} to {blocks_peak}"


def test_expire_replay_forgets_buckets_later_events_would_replace(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, LEAKY, COUNTER)  # leaky lifetime 40 s, counter 5 s
    scen.pour(log_event(0, ip="1.1.1.1"))
    scen.pour(log_event(10, ip="2.2.2.2"))
    scen.pour(log_event(30, ip="2.2.2.2"))  # 2.2.2.2 lives until 70
    scen.expire_replay(wall(45))
    assert sorted(scen.scenarios[0].buckets) == ["2.2.2.2"]  # 1.1.1.1 ended at 40
    assert scen.scenarios[1].buckets == {}  # counters are forgotten, never fired
    assert scen.stats["me/lk"].underflowed == 1 and scen.stats["me/count"].overflowed == 0
    scen.expire_replay(wall(70))  # 2.2.2.2 ends at 70, which is not before 70
    assert sorted(scen.scenarios[0].buckets) == ["2.2.2.2"]
    scen.tick(wall(10_000))  # the wall clock never touches replay buckets
    assert sorted(scen.scenarios[0].buckets) == ["2.2.2.2"]
    scen.expire_replay(wall(70.5))
    assert scen.live_buckets() == 0
