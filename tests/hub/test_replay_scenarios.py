"""Hub test replay with scenarios and postoverflows (OUTPUT_CONTRACT.md §2.2, §2.5, §3.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hub.conftest import write

from crowdwatch.hub.hubtest import Replay, replay

PARSER = """\
name: me/demo
filter: "evt.Line.Labels.type == 'demo'"
grok:
  pattern: "^%{TIMESTAMP_ISO8601:ts} %{IP:ip} %{WORD:verb}$"
  apply_on: Line.Raw
statics:
  - meta: source_ip
    expression: evt.Parsed.ip
  - meta: verb
    expression: evt.Parsed.verb
  - target: evt.StrTime
    expression: evt.Parsed.ts
  - method: ParseDate
    expression: evt.StrTime
  - target: evt.MarshaledTime
    expression: evt.Enriched.MarshaledTime
"""
SCENARIOS = """\
type: trigger
name: me/delete
description: any DELETE
filter: "evt.Meta.verb == 'DELETE'"
groupby: evt.Meta.source_ip
reprocess: true
labels:
  remediation: true
---
type: trigger
name: me/after-delete
description: sees reprocessed overflows
filter: "evt.GetType() == 'overflow'"
---
type: leaky
name: me/slow
description: never overflows in this log; must not be flushed into an alert at the end
filter: "evt.Meta.verb == 'GET'"
groupby: evt.Meta.source_ip
capacity: 5
leakspeed: 10s
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
LOG = """\
2026-04-01T10:00:00Z 1.2.3.4 GET
2026-04-01T10:00:01Z 9.9.9.9 DELETE
2026-04-01T10:00:02Z 1.2.3.4 DELETE
2026-04-01T10:00:03Z 1.2.3.4 GET
"""


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path]:
    hub = tmp_path / "hub"
    write(hub / "parsers/s01-parse/me/demo.yaml", PARSER)
    write(hub / "postoverflows/s00-enrich/me/enrich.yaml", ENRICH)
    write(hub / "postoverflows/s01-whitelist/me/po-wl.yaml", WHITELIST)
    (hub / "patterns").mkdir()
    (hub / "data").mkdir()
    test = tmp_path / "cases" / "demo"
    write(test / "scenarios/me/demo.yaml", SCENARIOS)
    write(test / "demo.log", LOG)
    write(
        test / "config.yaml",
        """\
parsers: [./parsers/s01-parse/me/demo.yaml]
scenarios: [./scenarios/me/demo.yaml]
postoverflows:
- ./postoverflows/s01-whitelist/me/po-wl.yaml
- ./postoverflows/s00-enrich/me/enrich.yaml
log_file: demo.log
log_type: demo
""",
    )
    return hub, test


def test_overflows_recorded_after_postoverflows_in_emission_order(case: tuple[Path, Path]) -> None:
    hub, test = case
    doc = replay(Replay(test, hub))
    assert doc["errors"] == []
    got = [
        (b["Overflow"]["Alert"]["scenario"], sorted(b["Overflow"]["Sources"]), b["Overflow"]["Whitelisted"])
        for b in doc["buckets"]
    ]
    assert got == [
        ("me/delete", ["9.9.9.9"], True),  # whitelisted: recorded, not reprocessed
        ("me/delete", ["1.2.3.4"], False),
        ("me/after-delete", ["1.2.3.4"], False),  # caused by the reprocessed overflow
    ]
    first = doc["buckets"][1]
    assert first["Type"] == 1 and first["Meta"] == {"enriched": "yes"}
    assert first["Overflow"]["Reprocess"] is True
    alert = first["Overflow"]["Alert"]
    assert alert["remediation"] is True and alert["events_count"] == 1
    assert alert["events"][0]["timestamp"] == "2026-04-01T10:00:02Z"
    assert {"key": "verb", "value": "DELETE"} in alert["events"][0]["meta"]
    assert first["Overflow"]["APIAlerts"][0]["scenario"] == "me/delete"
    assert doc["buckets"][0]["WhitelistReason"] == "friend"


def test_postoverflow_nodes_join_the_parser_results(case: tuple[Path, Path]) -> None:
    hub, test = case
    parsers = replay(Replay(test, hub))["parsers"]
    assert list(parsers) == ["s01-parse", "s00-enrich", "s01-whitelist", "success"]
    assert [e["Success"] for e in parsers["s00-enrich"]["me/enrich"]] == [True, True, True]
    wl = parsers["s01-whitelist"]["me/po-wl"]
    assert [e["Evt"]["Whitelisted"] for e in wl] == [True, False, False]
    assert wl[0]["Evt"]["Overflow"]["Whitelisted"] is True


def test_broken_scenario_file_is_reported_and_left_out(case: tuple[Path, Path]) -> None:
    hub, test = case
    write(
        test / "scenarios/me/demo.yaml",
        SCENARIOS.replace("groupby: evt.Meta.source_ip\nreprocess", "bogus: 1\nreprocess"),
    )
    doc = replay(Replay(test, hub))
    assert doc["buckets"] == []
    assert len(doc["errors"]) == 1 and "demo.yaml" in doc["errors"][0]
    assert doc["parsers"]["s01-parse"]["me/demo"][0]["Success"] is True
