"""Routing skips only scenarios whose filter is certainly false; explain's pour recorder."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from crowdwatch.scenarios.routing import precheck

from .helpers import log_event, scenario_set


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evt.Meta.log_type == 'ssh'", ((("Meta",), "log_type"), {"ssh"})),
        ("'ssh' == evt.Meta.log_type && x()", ((("Meta",), "log_type"), {"ssh"})),
        ("evt.Meta['service'] == 'http' and evt.Meta.x == 'y'", ((("Meta",), "service"), {"http"})),
        ("evt.Meta.log_type in ['a', 'b'] && evt.Parsed.x == '1'", ((("Meta",), "log_type"), {"a", "b"})),
        ("evt.Line.Labels.type == 'nginx'", ((("Line", "Labels"), "type"), {"nginx"})),
        ("evt.Parsed.program == 'sshd' && true && false", ((("Parsed",), "program"), {"sshd"})),
        # not provably equivalent: not the leftmost operand of a top-level && chain
        ("evt.Meta.x == 'a' || evt.Meta.x == 'b'", None),
        ("UnmarshalJSON(evt.Line.Raw, evt.Unmarshaled, 'x') in ['', nil] && evt.Meta.x == 'a'", None),
        ("evt.Meta.x != 'a'", None),
        ("evt.Meta?.x == 'a'", None),
        ("evt.Meta.x in ['a', 1]", None),
        ("evt.Meta.x in []", None),
        ("Lower(evt.Meta.x) == 'a'", None),
        ("evt.Unmarshaled.x == 'a'", None),
        ("let a = 1; evt.Meta.x == 'a'", None),
    ],
)
def test_precheck(text: str, expected: object) -> None:
    got = precheck(text)
    assert (None if got is None else (got[0], set(got[1]))) == expected


FILTERS = [
    "evt.Meta.log_type == 'a'",
    "evt.Meta.log_type == 'b' && evt.Meta.service == 'x'",
    "evt.Meta.service in ['x', 'y'] && evt.Meta.log_type != 'a'",
    "evt.Meta.log_type == 'a' || evt.Meta.service == 'y'",
    "evt.Meta.nothing == '' && evt.SetMeta('seen', 'yes')",
    "evt.Meta.seen == 'yes'",
    "evt.Line.Labels.type == 'test'",
]


def test_routing_is_equivalent_to_evaluating_every_filter(tmp_path: Path) -> None:
    texts = [
        f'type: trigger\nname: s/{i}\ndescription: t\nfilter: "{f}"\ngroupby: evt.Meta.log_type\n'
        for i, f in enumerate(FILTERS)
    ]
    scen = scenario_set(tmp_path, *texts)
    rng = random.Random(7)
    for _ in range(300):
        meta = {
            k: rng.choice(["a", "b", "x", "y", ""]) for k in ("log_type", "service") if rng.random() < 0.8
        }
        evt, twin = log_event(0, meta=meta), log_event(0, meta=meta)
        # every filter evaluated in order on one event (SetMeta in s/4 is seen by s/5)
        expected = [f"s/{i}" for i, scn in enumerate(scen.scenarios) if scn.filter(twin) is True]
        got = [o.Overflow.Alert.Scenario for o in scen.pour(evt) if o.Overflow.Alert]
        assert got == expected, meta
        assert "s/5" in got and evt.Meta == twin.Meta


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def poured(self, scenario: str, bucket_key: str) -> None:
        self.calls.append((scenario, bucket_key))


def test_pour_recorder(tmp_path: Path) -> None:
    leaky = "type: leaky\nname: me/a\ndescription: t\nfilter: evt.Meta.log_type == 'test'\n"
    leaky += "groupby: evt.Meta.source_ip\ncapacity: 5\nleakspeed: 1s\n"
    other = leaky.replace("me/a", "me/b").replace("'test'", "'other'")
    scen = scenario_set(tmp_path, leaky, other)
    rec = Recorder()
    scen.pour(log_event(0), recorder=rec)
    scen.pour(log_event(1, ip="5.6.7.8"), recorder=rec)
    assert [name for name, _ in rec.calls] == ["me/a", "me/a"]
    key1, key2 = (key for _, key in rec.calls)
    assert key1 != key2 and len(key1) == 40
    assert key1 == scen.scenarios[0].mapkey("1.2.3.4")
