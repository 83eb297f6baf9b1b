"""scenario.assert evaluation: hubtest's overflow order and the OUTPUT_CONTRACT §4 translations."""

from __future__ import annotations

from typing import Any

import pytest

from crowdwatch.hub.hubtest.asserts import (
    bucket_sort_key,
    evaluate_scenario_asserts,
    typed_buckets,
)


def bucket(scenario: str | None, sources: dict[str, Any], **alert: Any) -> dict[str, Any]:
    a: dict[str, Any] | None = None
    if scenario is not None:
        first = next(iter(sources.values()), None)
        a = {"scenario": scenario, "source": first, **alert}
    return {"Type": 1, "Overflow": {"Sources": sources, "Alert": a, "APIAlerts": [a] if a else []}}


def ip(addr: str, **extra: Any) -> dict[str, Any]:
    return {"ip": addr, "range": "", "scope": "Ip", "value": addr, **extra}


EVENTS = [
    {
        "timestamp": "2026-01-01T00:00:00Z",
        "meta": [{"key": "source_ip", "value": "1.2.3.4"}, {"key": "user", "value": "root"}],
    },
    {"timestamp": "2026-01-01T00:00:01Z", "meta": {"user": "admin"}},
]
BUCKETS = [
    bucket(
        "a/first",
        {"1.2.3.4": ip("1.2.3.4", range="1.2.3.0/24")},
        events_count=2,
        remediation=True,
        events=EVENTS,
    ),
    bucket("b/second", {"5.6.7.8": ip("5.6.7.8"), "1.1.1.1": ip("1.1.1.1")}, events_count=1),
    bucket("a/first", {"9.9.9.9": {"ip": "9.9.9.9", "scope": None, "value": None}}, events_count=3),
    bucket(None, {}),
]


def test_sort_is_descending_by_scenario_and_sources_stable() -> None:
    keys = [bucket_sort_key(b) for b in BUCKETS]
    assert keys == ["a/first1.2.3.4", "b/second1.1.1.1@5.6.7.8", "a/first9.9.9.9", ""]
    ordered = typed_buckets([*BUCKETS, bucket("a/first", {"1.2.3.4": ip("1.2.3.4")}, events_count=7)])
    counts = [e.Overflow.Alert.EventsCount if e.Overflow.Alert else None for e in ordered]
    assert counts == [1, 3, 2, 7, None]  # the two "a/first1.2.3.4" keep their emission order


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("len(results) == 4", "PASS"),
        ('results[0].Overflow.Alert.GetScenario() == "b/second"', "PASS"),
        ('"5.6.7.8" in results[0].Overflow.GetSources()', "PASS"),
        ('"1.1.1.1" in results[0].Overflow.GetSources()', "PASS"),
        ('"1.2.3.4" in results[0].Overflow.GetSources()', "FAIL"),
        ("len(results[0].Overflow.GetSources()) == 2", "PASS"),
        ('results[2].Overflow.Sources["1.2.3.4"].IP == "1.2.3.4"', "PASS"),
        ('results[2].Overflow.Sources["1.2.3.4"].Range == "1.2.3.0/24"', "PASS"),
        ('results[2].Overflow.Sources["1.2.3.4"].GetScope() == "Ip"', "PASS"),
        ('results[2].Overflow.Sources["1.2.3.4"].GetValue() == "1.2.3.4"', "PASS"),
        ('results[2].Overflow.Sources["4.4.4.4"].GetScope() == ""', "PASS"),
        ('results[1].Overflow.Sources["9.9.9.9"].GetScope() == ""', "PASS"),
        ('results[1].Overflow.Sources["9.9.9.9"].GetValue() == ""', "PASS"),
        ("results[2].Overflow.Alert.Remediation == true", "PASS"),
        ("results[0].Overflow.Alert.Remediation == false", "PASS"),
        ("results[2].Overflow.Alert.GetEventsCount() == 2", "PASS"),
        ("results[2].Overflow.Alert.GetEventsCount() == 2.0", "PASS"),
        ('results[2].Overflow.Alert.Events[0].GetMeta("user") == "root"', "PASS"),
        ('results[2].Overflow.Alert.Events[1].GetMeta("user") == "admin"', "PASS"),
        ('results[2].Overflow.Alert.Events[1].GetMeta("nope") == ""', "PASS"),
        ('results[2].Overflow.Alert.Events[2].GetMeta("user") == ""', "ERROR"),
        ('results[2].Overflow.Alert.Source.IP == "1.2.3.4"', "PASS"),
        ('results[3].Overflow.Alert.Source.IP == ""', "ERROR"),
        ('results[3].Overflow.Alert.GetScenario() == ""', "ERROR"),
        ('results[4].Overflow.Alert.GetScenario() == ""', "ERROR"),
        ("results[0].Overflow.Alert.GetEventsCount()", "ERROR"),
    ],
)
def test_scenario_assert_line(line: str, status: str) -> None:
    (result,) = evaluate_scenario_asserts([(1, line)], BUCKETS)
    assert result.status == status, result.detail


def test_no_buckets_in_document() -> None:
    (result,) = evaluate_scenario_asserts([(3, "len(results) == 0")], None)
    assert result.status == "ERROR" and result.line == 3
    assert evaluate_scenario_asserts([(1, "len(results) == 0")], [])[0].status == "PASS"
