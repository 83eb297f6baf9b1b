"""Alert building (ENGINE.md §7.1–§7.2): fields, sources per scope, reprocessed overflows."""

from __future__ import annotations

from pathlib import Path

import orjson

from crowdwatch.event import LIVE, OVFLW, Event, Source

from .helpers import log_event, scenario_set, wall

TRIGGER = """\
type: trigger
name: me/trig
description: test
filter: evt.Meta.log_type == 'test'
"""
LEAKY = """\
type: leaky
name: me/lk
description: test
filter: evt.Meta.log_type == 'test'
groupby: evt.Meta.source_ip
capacity: 1
leakspeed: 1m
labels:
  remediation: true
"""


def test_alert_fields(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, LEAKY, simulated=frozenset({"me/lk"}))
    assert scen.pour(log_event(0, meta={"b": "2", "a": "1"})) == []
    (evt,) = scen.pour(log_event(1.5, meta={"a": "x"}))
    assert evt.Type == OVFLW and evt.ExpectMode == LIVE
    assert evt.MarshaledTime == "2024-01-01T00:00:01.5Z"
    ra = evt.Overflow
    assert ra.Alert is ra.APIAlerts[0] and len(ra.APIAlerts) == 1
    assert len(ra.Mapkey) == 40 and ra.Reprocess is False
    d = ra.Alert.to_dict()
    assert {k: d[k] for k in d if k not in ("events", "source")} == {
        "scenario": "me/lk",
        "scenario_hash": "hash0",
        "scenario_version": "0.1",
        "message": "Ip 1.2.3.4 performed 'me/lk' (2 events over 1.5s) at 2024-01-01 00:00:01.5 +0000 UTC",
        "events_count": 2,
        "capacity": 1,
        "leakspeed": "1m0s",
        "start_at": "2024-01-01T00:00:00Z",
        "stop_at": "2024-01-01T00:00:01.5Z",
        "remediation": True,
        "simulated": True,
        "meta": [],
        "labels": None,
        "decisions": None,
    }
    assert d["source"]["scope"] == "Ip" and d["source"]["value"] == "1.2.3.4"
    assert d["events"] == [
        {
            "timestamp": "2024-01-01T00:00:00Z",
            "meta": [
                {"key": "a", "value": "1"},
                {"key": "b", "value": "2"},
                {"key": "log_type", "value": "test"},
                {"key": "source_ip", "value": "1.2.3.4"},
            ],
        },
        {
            "timestamp": "2024-01-01T00:00:01.5Z",
            "meta": [
                {"key": "a", "value": "x"},
                {"key": "log_type", "value": "test"},
                {"key": "source_ip", "value": "1.2.3.4"},
            ],
        },
    ]


def test_trigger_and_counter_capacity_and_leakspeed_text(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, TRIGGER)
    (evt,) = scen.pour(log_event(0))
    alert = evt.Overflow.Alert
    assert alert is not None
    assert (alert.Capacity, alert.Leakspeed, alert.EventsCount) == (0, "0s", 1)
    assert alert.Remediation is False and alert.Simulated is False


def test_timestamps_keep_the_log_offset(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, TRIGGER)
    (evt,) = scen.pour(log_event(marshaled="2024-03-04T10:20:30.000000001+01:00"))
    alert = evt.Overflow.Alert
    assert alert is not None
    assert alert.StartAt == alert.StopAt == "2024-03-04T10:20:30.000000001+01:00"
    assert alert.Message.endswith("(1 events over 0s) at 2024-03-04 10:20:30.000000001 +0100 +0100")
    assert alert.Events[0].Timestamp == "2024-03-04T10:20:30.000000001+01:00"


def test_ip_source_from_enrichment(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, TRIGGER)
    enriched = {
        "ASNNumber": "15169",
        "IsoCode": "US",
        "ASNOrg": "Google",
        "Latitude": "37.751",
        "Longitude": "-97.822",
    }
    (evt,) = scen.pour(log_event(0, ip="8.8.8.8", meta={"SourceRange": "8.8.8.17/24"}, enriched=enriched))
    src = evt.Overflow.Sources["8.8.8.8"]
    assert src.to_dict() == {
        "ip": "8.8.8.8",
        "range": "8.8.8.0/24",
        "scope": "Ip",
        "value": "8.8.8.8",
        "as_number": "15169",
        "as_name": "Google",
        "cn": "US",
        "latitude": 37.751,  # float32, printed with the shortest float32 digits like Go's JSON
        "longitude": -97.822,
    }
    assert orjson.dumps(src.Latitude) == b"37.751"
    assert evt.Overflow.Alert is not None and evt.Overflow.Alert.Source is src


def test_as_number_prefers_asnumber(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, TRIGGER)
    (evt,) = scen.pour(log_event(0, enriched={"ASNumber": "1", "ASNNumber": "2"}))
    assert evt.Overflow.Sources["1.2.3.4"].AsNumber == "1"


def test_bad_sources_lose_the_alert(tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, TRIGGER)
    assert scen.pour(log_event(0, ip=None)) == []  # no Meta.source_ip
    assert scen.pour(log_event(0, ip="1.2.3.256")) == []
    assert scen.pour(log_event(0, ip="fe80::1%eth0")) == []  # Go's ParseIP takes no zone
    assert scen.pour(log_event(0, meta={"SourceRange": "not/a/range"})) == []
    assert scen.stats["me/trig"].alert_errors == 4
    assert len(scen.pour(log_event(0, ip="::ffff:1.2.3.4"))) == 1


def test_out_of_scope_overflow_sources_are_dropped(tmp_path: Path) -> None:
    text = LEAKY.replace("evt.Meta.log_type == 'test'", "evt.GetType() in ['log', 'overflow']")
    text = text.replace("groupby: evt.Meta.source_ip\n", "")
    scen = scenario_set(tmp_path, text)
    scen.pour(log_event(0))
    (out,) = scen.pour(overflow_event("Range", "1.2.3.0/24"))
    assert list(out.Overflow.Sources) == ["1.2.3.4"]  # the Range source cannot serve an Ip scenario
    alert = out.Overflow.Alert
    assert alert is not None and alert.EventsCount == 2 and len(alert.Events) == 1


def overflow_event(scope: str, value: str, ip: str = "", range_: str = "") -> Event:
    evt = Event(type_=OVFLW)
    src = Source(ip, range_, scope, value)
    evt.Overflow.Sources = {value if scope != "Ip" else ip: src}
    evt.MarshaledTime = "2024-01-01T00:00:00Z"
    return evt


def test_reprocessed_overflows_into_a_range_scenario(tmp_path: Path) -> None:
    text = """\
type: trigger
name: me/range
description: test
filter: evt.GetType() == 'overflow'
scope:
  type: Range
"""
    scen = scenario_set(tmp_path, text)
    # an Ip source becomes a Range source valued with its range
    (out,) = scen.pour(overflow_event("Ip", "1.2.3.4", ip="1.2.3.4", range_="1.2.3.0/24"), now=wall(5))
    assert list(out.Overflow.Sources) == ["1.2.3.0/24"]
    src = out.Overflow.Sources["1.2.3.0/24"]
    assert (src.IP, src.Range, src.Scope, src.Value) == ("", "1.2.3.0/24", "Range", "1.2.3.0/24")
    assert out.Overflow.Alert is not None and out.Overflow.Alert.Events == []  # an overflow has no Meta
    assert out.Overflow.Alert.StartAt == "2024-01-01T00:00:05Z"  # a LIVE bucket: wall clock
    # a Range source is kept as is
    (out,) = scen.pour(overflow_event("Range", "5.6.0.0/16"), now=wall(6))
    assert list(out.Overflow.Sources) == ["5.6.0.0/16"]
    # an Ip source without range, and a source of another scope, are dropped: no source, no alert
    assert scen.pour(overflow_event("Ip", "9.9.9.9", ip="9.9.9.9"), now=wall(7)) == []
    assert scen.pour(overflow_event("username", "bob"), now=wall(8)) == []


def test_range_scope_expression_on_reprocessed_overflow(tmp_path: Path) -> None:
    text = """\
type: trigger
name: me/range
description: test
filter: evt.GetType() == 'overflow'
scope:
  type: Range
  expression: IpToRange(evt.Overflow.Alert.Source.IP, '/16')
"""
    scen = scenario_set(tmp_path, text)
    ovf = overflow_event("Ip", "1.2.3.4", ip="1.2.3.4")
    from crowdwatch.event import Alert

    ovf.Overflow.Alert = Alert()
    ovf.Overflow.Alert.Source = ovf.Overflow.Sources["1.2.3.4"]
    (out,) = scen.pour(ovf, now=wall(0))
    assert list(out.Overflow.Sources) == ["1.2.0.0/16"]


def test_custom_scope_non_string_value(tmp_path: Path) -> None:
    text = TRIGGER + "scope:\n  type: pid\n  expression: len(evt.Meta.source_ip)\n"
    scen = scenario_set(tmp_path, text)
    (out,) = scen.pour(log_event(0))
    assert list(out.Overflow.Sources) == [""]
    assert out.Overflow.Sources[""].Scope == "pid"


def test_multi_source_alert_has_one_api_alert_per_source(tmp_path: Path) -> None:
    text = LEAKY.replace("groupby: evt.Meta.source_ip\n", "").replace("capacity: 1", "capacity: 2")
    scen = scenario_set(tmp_path, text)
    scen.pour(log_event(0, ip="1.1.1.1"))
    scen.pour(log_event(1, ip="2.2.2.2"))
    (out,) = scen.pour(log_event(2, ip="1.1.1.1"))
    ra = out.Overflow
    assert list(ra.Sources) == ["1.1.1.1", "2.2.2.2"]
    assert [a.Source.Value for a in ra.APIAlerts if a.Source] == ["1.1.1.1", "2.2.2.2"]
    assert ra.Alert is ra.APIAlerts[0]
    a, b = ra.APIAlerts
    assert a.to_dict() | {"source": None} == b.to_dict() | {"source": None}
    assert a.Message.startswith("Ip 2 sources performed 'me/lk' (3 events over 2s)")
