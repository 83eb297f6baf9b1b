"""DetectionEngine orchestration: drop points, postoverflows (incl. stage gating), reprocess, hooks.

The scenario set here is a scripted stand-in so each orchestration rule is tested on its
own; tests/engine/test_engine_scenarios.py runs the real scenario engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crowdwatch.engine import MAX_REPROCESS_DEPTH, DetectionEngine
from crowdwatch.event import LIVE, OVFLW, TIMEMACHINE, Alert, Event, Line, Source
from crowdwatch.grok import PatternLibrary
from crowdwatch.parser import LoadContext, ParserFile, ParserPipeline
from crowdwatch.parser.enrichers import Enrichers

PARSERS = {
    "s00-raw/raw.yaml": """
name: t/raw
filter: "evt.Line.Labels.type == 'demo'"
grok:
  pattern: "^%{IP:ip} %{WORD:verb}$"
  apply_on: Line.Raw
statics:
  - meta: source_ip
    expression: evt.Parsed.ip
  - meta: verb
    expression: evt.Parsed.verb
""",
    "s00-raw/wl.yaml": """
name: t/wl
filter: "evt.Meta.source_ip != ''"
whitelist:
  reason: local
  ip: ["10.0.0.1"]
""",
}

RDNS_LIKE = """
name: t/enrich
onsuccess: next_stage
filter: "evt.Overflow.Alert.GetScope() == 'Ip'"
statics:
  - meta: enriched
    value: "yes"
"""
NO_NEXT_STAGE = """
name: t/enrich
filter: "evt.Overflow.Alert.GetScope() == 'Ip'"
statics:
  - meta: enriched
    value: "yes"
"""
PO_WHITELIST = """
name: t/po-wl
whitelist:
  reason: friendly
  ip: ["5.6.7.8"]
"""

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def pipeline(files: dict[str, str]) -> ParserPipeline:
    ctx = LoadContext(PatternLibrary.with_base(), None, Enrichers(None))
    return ParserPipeline.load(
        [ParserFile(k.split("/")[0], Path("/cfg") / k, text) for k, text in files.items()], ctx
    )


def log_event(raw: str) -> Event:
    evt = Event(Line(raw, "/var/log/demo.log", {"type": "demo"}, "file", NOW), expect_mode=TIMEMACHINE)
    return evt


def overflow(scenario: str, ip: str, *, reprocess: bool = False) -> Event:
    evt = Event(type_=OVFLW)
    src = Source(ip, "", "Ip", ip)
    alert = Alert()
    alert.Scenario = scenario
    alert.Source = src
    evt.Overflow.Sources = {ip: src}
    evt.Overflow.Alert = alert
    evt.Overflow.APIAlerts = [alert]
    evt.Overflow.Reprocess = reprocess
    return evt


class ScriptedScenarios:
    """Duck-typed ScenarioSet: ``rule(evt)`` decides the overflows of each pour."""

    def __init__(self, rule: Callable[[Event], list[Event]]) -> None:
        self.rule = rule
        self.pours: list[tuple[Event, datetime | None]] = []
        self.flushed = False
        self.ticks: list[datetime] = []
        self.pending: list[Event] = []

    def pour(self, evt: Event, now: datetime | None = None, recorder: object = None) -> list[Event]:
        self.pours.append((evt, now))
        return self.rule(evt)

    def tick(self, now: datetime) -> list[Event]:
        self.ticks.append(now)
        out, self.pending = self.pending, []
        return out

    def flush(self) -> None:
        self.flushed = True


def trigger_per_ip(evt: Event) -> list[Event]:
    if evt.Type == OVFLW:
        return []
    return [overflow("t/trigger", evt.Meta["source_ip"])]


def engine(
    rule: Callable[[Event], list[Event]], post: dict[str, str] | None = None
) -> tuple[DetectionEngine, ScriptedScenarios, list[tuple[Event, int]]]:
    scen = ScriptedScenarios(rule)
    seen: list[tuple[Event, int]] = []
    eng = DetectionEngine(
        pipeline(PARSERS),
        scen,  # type: ignore[arg-type]
        pipeline(post) if post else None,
        on_overflow=lambda e, d: seen.append((e, d)),
        clock=lambda: NOW,
    )
    return eng, scen, seen


def test_only_parsed_not_whitelisted_events_are_poured() -> None:
    eng, scen, _ = engine(trigger_per_ip)
    assert eng.process(log_event("garbage")) == []
    assert eng.process(log_event("10.0.0.1 GET")) == []  # parser whitelist
    alerts = eng.process(log_event("1.2.3.4 GET"))
    assert [a.Overflow.Alert.Scenario for a in alerts if a.Overflow.Alert] == ["t/trigger"]
    assert [e.Meta["source_ip"] for e, _ in scen.pours] == ["1.2.3.4"]
    st = eng.stats
    assert (st.lines, st.parsed, st.unparsed, st.whitelisted, st.poured) == (3, 1, 1, 1, 1)
    assert (st.overflows, st.alerts, st.postoverflow_whitelisted) == (1, 1, 0)


def test_without_scenarios_nothing_is_poured() -> None:
    eng = DetectionEngine(pipeline(PARSERS), None, None)
    assert eng.process(log_event("1.2.3.4 GET")) == []
    assert eng.stats.parsed == 1 and eng.stats.poured == 0
    assert eng.tick(NOW) == []
    eng.finish()


def test_postoverflow_whitelist_is_recorded_then_dropped() -> None:
    post = {"s00-enrich/rdns.yaml": RDNS_LIKE, "s01-whitelist/wl.yaml": PO_WHITELIST}
    eng, _, seen = engine(trigger_per_ip, post)
    assert eng.process(log_event("5.6.7.8 GET")) == []
    alerts = eng.process(log_event("1.2.3.4 GET"))
    assert len(alerts) == 1 and alerts[0].Meta["enriched"] == "yes"
    assert [(e.Overflow.Whitelisted, e.WhitelistReason) for e, _ in seen] == [(True, "friendly"), (False, "")]
    assert eng.stats.postoverflow_whitelisted == 1 and eng.stats.overflows == 2 and eng.stats.alerts == 1


@pytest.mark.parametrize("enrich", [NO_NEXT_STAGE, RDNS_LIKE.replace("'Ip'", "'Range'")])
def test_whitelists_unreachable_without_next_stage(enrich: str) -> None:
    """EXP PO2: no s00-enrich node succeeded with next_stage, so s01-whitelist never runs."""
    post = {"s00-enrich/rdns.yaml": enrich, "s01-whitelist/wl.yaml": PO_WHITELIST}
    eng, _, seen = engine(trigger_per_ip, post)
    alerts = eng.process(log_event("5.6.7.8 GET"))
    assert len(alerts) == 1 and not alerts[0].Overflow.Whitelisted
    assert not seen[0][0].Overflow.Whitelisted and eng.stats.postoverflow_whitelisted == 0


def test_postoverflow_evaluations_reach_the_recorder() -> None:
    post = {"s00-enrich/rdns.yaml": RDNS_LIKE, "s01-whitelist/wl.yaml": PO_WHITELIST}
    eng, _, _ = engine(trigger_per_ip, post)
    calls: list[tuple[str, str, bool]] = []

    class Rec:
        def record(self, stage: str, node_name: str, success: bool, evt: Event) -> None:
            calls.append((stage, node_name, success))

    eng.process(log_event("1.2.3.4 GET"), Rec())
    assert calls == [
        ("s00-raw", "t/raw", True),
        ("s00-raw", "t/wl", True),
        ("s00-enrich", "t/enrich", True),
        ("s01-whitelist", "t/po-wl", True),
    ]


def test_reprocessed_overflow_is_poured_again_live() -> None:
    def rule(evt: Event) -> list[Event]:
        if evt.Type == OVFLW:
            assert evt.Overflow.Alert is not None
            return [overflow("t/second", evt.Overflow.Alert.Source.IP)]  # type: ignore[union-attr]
        return [overflow("t/first", evt.Meta["source_ip"], reprocess=True)]

    eng, scen, seen = engine(rule)
    alerts = eng.process(log_event("1.2.3.4 GET"))
    names = [a.Overflow.Alert.Scenario for a in alerts if a.Overflow.Alert]
    assert names == ["t/first", "t/second"]
    assert [(e.Overflow.Alert.Scenario, d) for e, d in seen if e.Overflow.Alert] == [
        ("t/first", 0),
        ("t/second", 1),
    ]
    reprocessed, now = scen.pours[1]
    assert reprocessed is alerts[0] and reprocessed.ExpectMode == LIVE and now == NOW
    assert scen.pours[0][1] is None  # a TIMEMACHINE log event keeps its own clock
    assert eng.stats.reprocessed == 1 and eng.stats.poured == 2


def test_whitelisted_overflow_is_not_reprocessed() -> None:
    post = {"s00-enrich/rdns.yaml": RDNS_LIKE, "s01-whitelist/wl.yaml": PO_WHITELIST}
    eng, scen, _ = engine(
        lambda e: [] if e.Type == OVFLW else [overflow("t/x", "5.6.7.8", reprocess=True)], post
    )
    assert eng.process(log_event("5.6.7.8 GET")) == []
    assert len(scen.pours) == 1 and eng.stats.reprocessed == 0


def test_reprocess_loop_is_cut_at_the_depth_limit() -> None:
    eng, _, seen = engine(lambda e: [overflow("t/loop", "1.2.3.4", reprocess=True)])
    alerts = eng.process(log_event("1.2.3.4 GET"))
    assert len(alerts) == MAX_REPROCESS_DEPTH + 1
    assert [d for _, d in seen] == list(range(MAX_REPROCESS_DEPTH + 1))
    assert eng.stats.reprocessed == MAX_REPROCESS_DEPTH and eng.stats.reprocess_dropped == 1


def test_tick_overflows_go_through_postoverflows_and_finish_flushes() -> None:
    post = {"s00-enrich/rdns.yaml": RDNS_LIKE, "s01-whitelist/wl.yaml": PO_WHITELIST}
    eng, scen, seen = engine(trigger_per_ip, post)
    scen.pending = [overflow("t/counter", "5.6.7.8"), overflow("t/counter", "9.9.9.9")]
    alerts = eng.tick(NOW)
    assert [a.Overflow.Alert.Source.IP for a in alerts if a.Overflow.Alert and a.Overflow.Alert.Source] == [
        "9.9.9.9"
    ]
    assert len(seen) == 2 and scen.ticks == [NOW]
    eng.finish()
    assert scen.flushed


def test_scenario_failures_are_counted_not_raised() -> None:
    def broken(evt: Event) -> list[Event]:
        raise RuntimeError("boom")

    eng, _, _ = engine(broken)
    assert eng.process(log_event("1.2.3.4 GET")) == []
    assert eng.stats.pour_errors == 1
    assert eng.stats.to_dict()["pour_errors"] == 1
