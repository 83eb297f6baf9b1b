"""profiles.yaml: strict loading and CrowdSec's evaluation rules (ENGINE.md §9)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from crowdwatch.expr.helpers.decisions import set_decision_provider
from crowdwatch.lapi.alerts import parse_alert
from crowdwatch.lapi.errors import ProfileLoadError, ProfileRuntimeError
from crowdwatch.lapi.profiles import evaluate, load_profiles, parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database
from crowdwatch.lapi.storage.alerts import AlertQuery

from .helpers import Clock, make_alert


def _alert(**over: object) -> object:
    return parse_alert(make_alert(**over))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: a\nfilters: [true]\nbogus: 1\n", "p.yaml:3:1: profile: unknown key 'bogus'"),
        ("name: a\nfilters:\n - Alert.Nope == 1\n", "p.yaml:3:4: filters[0]:"),
        (
            "name: a\ndecisions:\n - type: ban\n   duration: forever\n",
            "p.yaml:4:14: decisions[0].duration: invalid",
        ),
        ("name: a\ndecisions:\n - duration: 1h\n", "p.yaml:3:4: decisions[0].type is required"),
        ("name: a\non_success: stop\n", "p.yaml:2:13: on_success: 'stop' is not one of continue, break"),
        ("filters: [true]\n", "p.yaml:1:1: name is required"),
        (
            "name: a\ndecisions:\n - type: ban\n   until: 1h\n",
            "p.yaml:4:4: decisions[0]: unknown key 'until'",
        ),
        ("name: [a\n", "p.yaml:"),
    ],
)
def test_load_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ProfileLoadError) as info:
        parse_profiles(text, "p.yaml")
    assert str(info.value).startswith(message), str(info.value)


def test_files_local_first_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    assert [p.name for p in load_profiles(path)] == ["default_ip_remediation", "default_range_remediation"]
    path.write_text("name: main\nfilters: [true]\n")
    (tmp_path / "profiles.yaml.local").write_text("name: local\nfilters: [true]\n")
    assert [p.name for p in load_profiles(path)] == ["local", "main"]
    path.write_text("")
    (tmp_path / "profiles.yaml.local").unlink()
    with pytest.raises(ProfileLoadError, match="no profile defined"):
        load_profiles(path)


def test_default_profiles() -> None:
    profiles = parse_profiles(
        "name: ip\nfilters: ['Alert.Remediation == true && Alert.GetScope() == \"Ip\"']\n"
        "decisions: [{type: ban, duration: 4h}]\non_success: break\n",
        "p",
    )
    res = evaluate(profiles, _alert())  # type: ignore[arg-type]
    assert [(d.type, d.scope, d.value, d.origin) for d in res.decisions] == [
        ("ban", "Ip", "1.2.3.4", "crowdsec")
    ]
    assert res.decisions[0].until - res.decisions[0].until.replace(hour=0) == timedelta(hours=4)
    assert evaluate(profiles, _alert(remediation=False)).decisions == []  # type: ignore[arg-type]


TWO = """\
name: first
filters: ["true", "Alert.GetScenario() contains 'ssh'", "false"]
decisions: [{type: ban, duration: 1h}, {type: captcha, duration: 2d, origin: extra, scope: Range}]
notifications: [slack]
---
name: second
filters: ["true"]
decisions: [{type: ban, duration: 9h}]
notifications: [mail]
on_success: break
---
name: third
filters: ["true"]
notifications: [never]
"""


def test_every_true_filter_adds_a_set_and_first_profile_wins() -> None:
    res = evaluate(parse_profiles(TWO, "p"), _alert())  # type: ignore[arg-type]
    assert [(d.type, d.origin, d.scope) for d in res.decisions] == [
        ("ban", "crowdsec", "Ip"),
        ("captcha", "crowdsec/extra", "Range"),
        ("ban", "crowdsec", "Ip"),
        ("captcha", "crowdsec/extra", "Range"),
    ]
    assert res.notifications == [("first", "slack"), ("second", "mail")]  # break before third
    assert res.matched == ["first", "second"]


@pytest.mark.parametrize(
    ("on_error", "decisions", "matched"),
    [("apply", 1, ["p1", "p2"]), ("continue", 0, ["p2"]), ("ignore", 0, ["p2"]), ("break", 0, ["p2"])],
)
def test_on_error(on_error: str, decisions: int, matched: list[str]) -> None:
    text = (
        f"name: p1\nfilters: ['int(Alert.GetScenario()) > 0']\ndecisions: [{{type: ban}}]\non_error: {on_error}\n"
        "---\nname: p2\nfilters: ['true']\n"
    )
    res = evaluate(parse_profiles(text, "p"), _alert())  # type: ignore[arg-type]
    assert len(res.decisions) == decisions and res.matched == matched


def test_on_error_break_stops_after_a_matched_profile() -> None:
    text = (
        "name: p1\nfilters: ['true', 'int(Alert.GetScenario()) > 0']\ndecisions: [{type: ban}]\non_error: break\n"
        "---\nname: p2\nfilters: ['true']\nnotifications: [n]\n"
    )
    res = evaluate(parse_profiles(text, "p"), _alert())  # type: ignore[arg-type]
    assert res.matched == ["p1"] and res.notifications == []


def test_empty_on_error_fails_the_request_and_non_bool_is_an_error() -> None:
    with pytest.raises(ProfileRuntimeError):
        evaluate(parse_profiles("name: p\nfilters: ['Alert.GetScenario()']\n", "p"), _alert())  # type: ignore[arg-type]


def test_simulated_alert_gets_simulated_decisions() -> None:
    res = evaluate(
        parse_profiles("name: p\nfilters: ['true']\ndecisions: [{type: ban}]\n", "p"), _alert(simulated=True)
    )  # type: ignore[arg-type]
    assert res.decisions[0].simulated


@pytest.fixture
def provider(service: LapiService) -> Iterator[None]:
    set_decision_provider(service.count_provider())
    yield
    set_decision_provider(None)


ESCALATE = """\
name: escalate
filters: ["Alert.Remediation == true && Alert.GetScope() == 'Ip'"]
decisions: [{type: ban, duration: 4h}]
duration_expr: Sprintf('%dh', (GetDecisionsCount(Alert.GetValue()) + 1) * 4)
on_success: break
"""


def test_escalating_bans_with_duration_expr(db: Database, clock: Clock, provider: None) -> None:
    svc = LapiService(db, parse_profiles(ESCALATE, "p"), clock=clock)
    set_decision_provider(svc.count_provider())
    hours = []
    for i in range(3):
        stop = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        svc.create_alerts("m", [make_alert(stop_at=stop)])
        (alert,) = svc.search_alerts(AlertQuery(limit=1))
        hours.append(alert["decisions"][0]["duration"])
        clock.now += timedelta(days=1 + i)  # let the previous ban expire
    assert hours == ["4h0m0s", "8h0m0s", "12h0m0s"]
