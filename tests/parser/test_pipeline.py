"""Pipeline API: recorder calls, stats, event entry, postoverflow (OVFLW) events, data files."""

from __future__ import annotations

from pathlib import Path

from crowdwatch.event import OVFLW, ZERO_TIME, Alert, Event, Source
from crowdwatch.expr.helpers import datafiles

from .helpers import build, event

TWO_STAGES = {
    "s00-raw/a.yaml": """
name: t/raw
onsuccess: next_stage
filter: "evt.Line.Labels.type == 'syslog'"
statics:
  - parsed: message
    expression: evt.Line.Raw
---
name: t/other
onsuccess: next_stage
statics:
  - meta: other
    value: x
""",
    "s01-parse/b.yaml": """
name: t/parent
grok:
  pattern: "^%{WORD:verb}"
  apply_on: message
nodes:
  - grok:
      pattern: "%{INT:n}"
      apply_on: message
""",
}


class ListRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool, dict[str, str]]] = []

    def record(self, stage: str, node_name: str, success: bool, evt: Event) -> None:
        self.calls.append((stage, node_name, success, dict(evt.Parsed)))


def test_recorder_sees_every_top_level_evaluation() -> None:
    pipe = build(TWO_STAGES)
    rec = ListRecorder()
    evt = event("get 42")
    assert pipe.process(evt, rec)
    assert rec.calls == [
        ("s00-raw", "t/raw", True, {"message": "get 42"}),
        ("s01-parse", "t/parent", True, {"message": "get 42", "verb": "get", "n": "42"}),
    ]
    rec.calls.clear()
    evt = event("get 42", type_="nginx")  # t/raw's filter fails: recorded as a failure
    assert not pipe.process(evt, rec)
    assert [c[:3] for c in rec.calls] == [
        ("s00-raw", "t/raw", False),
        ("s00-raw", "t/other", True),
        ("s01-parse", "t/parent", False),  # no Parsed["message"]: grok fails
    ]


def test_process_results_are_the_same_with_and_without_recorder() -> None:
    pipe = build(TWO_STAGES)
    for raw in ("get 42", "get", "42"):
        a, b = event(raw), event(raw)
        assert pipe.process(a) == pipe.process(b, ListRecorder())
        assert (a.Parsed, a.Meta, a.Stage, a.Process) == (b.Parsed, b.Meta, b.Stage, b.Process)


def test_stats_and_child_names() -> None:
    pipe = build(TWO_STAGES)
    assert pipe.stages == ["s00-raw", "s01-parse"]
    for raw in ("get 42", "get x", "   "):
        pipe.process(event(raw))
    stats = {(s.stage, s.name): (s.hits, s.ok, s.ko) for s in pipe.stats}
    assert stats == {
        ("s00-raw", "t/raw"): (3, 3, 0),
        ("s00-raw", "t/other"): (0, 0, 0),
        ("s01-parse", "t/parent"): (3, 2, 1),
        ("s01-parse", "child-t/parent"): (3, 1, 2),
    }


def test_entry_sets_stage_and_time() -> None:
    pipe = build(TWO_STAGES)
    evt = event("get")
    assert evt.Time == ZERO_TIME and evt.Stage == ""
    pipe.process(evt)
    assert evt.Time != ZERO_TIME and evt.Time.tzinfo is not None
    assert evt.Process is True


def test_empty_pipeline_keeps_everything() -> None:
    pipe = build({})
    assert pipe.stages == []
    assert pipe.process(event("x"))


def _overflow(*ips: str) -> Event:
    evt = Event(type_=OVFLW)
    alert = Alert()
    alert.Source = Source(ip=ips[0], scope="Ip", value=ips[0])
    evt.Overflow.Alert = alert
    for ip in ips:
        evt.Overflow.Sources[ip] = Source(ip=ip, scope="Ip", value=ip)
    return evt


POSTOVERFLOWS = {
    "s00-enrich/rdns.yaml": """
name: t/gate
filter: "evt.Overflow.Alert.GetScope() == 'Ip'"
onsuccess: next_stage
statics:
  - target: evt.Overflow.Alert.Source.Value
    expression: evt.Overflow.Alert.Source.IP + '/32'
""",
    "s01-whitelist/wl.yaml": """
name: t/wl
whitelist:
  reason: trusted overflow
  cidr: ["192.168.0.0/16"]
  expression: ["evt.Overflow.Alert.Source.IP == '5.5.5.5'"]
""",
}


def test_postoverflow_whitelist_uses_sources_and_sets_overflow_flag() -> None:
    pipe = build(POSTOVERFLOWS)
    evt = _overflow("8.8.8.8", "192.168.1.1")
    assert not pipe.process(evt)
    assert evt.Overflow.Whitelisted and evt.Whitelisted
    assert evt.WhitelistReason == "trusted overflow"
    assert evt.Overflow.Alert is not None and evt.Overflow.Alert.Source is not None
    assert evt.Overflow.Alert.Source.Value == "8.8.8.8/32"

    evt = _overflow("5.5.5.5")
    pipe.process(evt)
    assert evt.Overflow.Whitelisted

    evt = _overflow("8.8.8.8")
    assert pipe.process(evt)
    assert not evt.Overflow.Whitelisted


def test_postoverflow_stage_gate_skips_whitelists() -> None:
    pipe = build(POSTOVERFLOWS)
    evt = _overflow("192.168.1.1")
    assert evt.Overflow.Alert is not None and evt.Overflow.Alert.Source is not None
    evt.Overflow.Alert.Source.Scope = "Range"
    assert not pipe.process(evt)
    assert not evt.Overflow.Whitelisted  # s01-whitelist never ran


def test_data_files_are_loaded_for_top_level_nodes(tmp_path: Path) -> None:
    datafiles.reset()
    (tmp_path / "words.txt").write_text("alpha\n# comment\nbeta\n")
    pipe = build(
        {
            "s01-parse/a.yaml": """
name: t/data
data:
  - source_url: https://example.invalid/words.txt
    dest_file: words.txt
    type: string
statics:
  - meta: known
    expression: "evt.Line.Raw in File('words.txt') ? 'yes' : 'no'"
"""
        },
        data_dir=tmp_path,
    )
    evt = event("beta")
    pipe.process(evt)
    assert evt.Meta["known"] == "yes"
    evt = event("# comment")
    pipe.process(evt)
    assert evt.Meta["known"] == "no"
