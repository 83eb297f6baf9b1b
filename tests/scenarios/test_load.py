"""Loading scenario files: strictness, per-type rules (ENGINE.md §6.1, §6.5), the hub snapshot."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from crowdwatch.scenarios import ScenarioContext, ScenarioFile, ScenarioLoadError, ScenarioSet

from .helpers import log_event, scenario_set

BASE = """\
type: leaky
name: me/t
description: test
filter: evt.Meta.log_type == 'test'
capacity: 3
leakspeed: 10s
"""


def _load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioLoadError) as info:
        scenario_set(tmp_path, text)
    assert info.value.file == str(tmp_path / "s00.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (BASE + "colour: blue\n", ":7:1:", "unknown key 'colour'"),
        (BASE.replace("name: me/t\n", ""), ":1:", "scenario has no name"),
        (BASE.replace("description: test\n", ""), ":1:", "description is mandatory"),
        (BASE.replace("filter: evt.Meta.log_type == 'test'\n", ""), ":1:", "without filter"),
        (BASE.replace("type: leaky", "type: leaking"), ":1:7:", "unknown bucket type 'leaking'"),
        (BASE.replace("capacity: 3", "capacity: -2"), ":1:", "negative capacity -2"),
        (BASE.replace("capacity: 3", "capacity: 0"), ":1:", "bad capacity for leaky"),
        (BASE.replace("capacity: 3", "capacity: '3'"), ":5:11:", "expected an integer"),
        (BASE.replace("leakspeed: 10s\n", ""), ":1:", "leakspeed can't be empty"),
        (BASE.replace("10s", "10"), ":6:12:", "missing unit"),
        (BASE.replace("10s", "-1s"), ":1:", "bad leakspeed"),
        (BASE + "blackhole: 1x\n", ":7:12:", "bad blackhole"),
        (BASE.replace("type: leaky", "type: trigger"), ":1:", "trigger bucket must have 0 capacity"),
        (BASE.replace("type: leaky", "type: counter"), ":1:", "duration can't be empty for counter"),
        (
            BASE.replace("type: leaky", "type: counter") + "duration: 5s\n",
            ":1:",
            "counter bucket must have -1",
        ),
        (BASE.replace("type: leaky", "type: conditional"), ":1:", "conditional bucket must have a condition"),
        (
            BASE.replace("type: leaky", "type: bayesian"),
            ":1:",
            "bayesian bucket must have bayesian conditions",
        ),
        (BASE + "scope:\n  type: username\n", ":8:9:", "scope 'username' needs an 'expression'"),
        (BASE + "scope:\n  type: ip\n", ":8:9:", "scope 'ip' needs an 'expression'"),  # E13c: case-sensitive
        (BASE + "scope:\n  kind: Ip\n", ":8:3:", "scope: unknown key 'kind'"),
        (BASE + "labels: [a]\n", ":7:9:", "labels: expected a mapping"),
        (BASE + "reprocess: maybe\n", ":7:12:", "expected true or false"),
    ],
)
def test_load_errors(tmp_path: Path, text: str, where: str, message: str) -> None:
    err = _load_error(tmp_path, text)
    assert where in err and message in err, err


def test_expression_error_names_file_line_and_expression_position(tmp_path: Path) -> None:
    err = _load_error(tmp_path, BASE + "groupby: evt.Meta.source_ip + nope\n")
    assert err.startswith(f"{tmp_path / 's00.yaml'}:7:10: me/t: invalid groupby expression: 1:")
    assert "nope" in err
    err = _load_error(tmp_path, BASE.replace("evt.Meta.log_type", "evt.Nope"))
    assert ":4:9:" in err and "invalid filter expression" in err and "Nope" in err
    for field in ("distinct", "cancel_on", "overflow_filter", "condition"):
        assert f"invalid {field} expression" in _load_error(tmp_path, BASE + f"{field}: evt.Nope\n")
    # the overflow_filter environment has no evt; condition has evt, queue and leaky
    assert "invalid overflow_filter expression" in _load_error(
        tmp_path, BASE + "overflow_filter: evt != nil\n"
    )
    assert "invalid condition expression" in _load_error(tmp_path, BASE + "condition: leaky.Nope == 1\n")


def test_bayesian_rules(tmp_path: Path) -> None:
    good = """\
type: bayesian
name: me/b
description: test
filter: "true"
capacity: -1
leakspeed: 30s
bayesian_prior: 0.5
bayesian_threshold: 0.8
bayesian_conditions:
  - condition: evt.Meta.x == 'y'
    prob_given_evil: 0.9
    prob_given_benign: 0.1
    guillotine: true
"""
    assert scenario_set(tmp_path, good).names == ["me/b"]
    for bad, message in [
        (good.replace("bayesian_prior: 0.5", "bayesian_prior: 0"), "prior"),
        (good.replace("bayesian_prior: 0.5", "bayesian_prior: 1.5"), "prior"),
        (good.replace("bayesian_threshold: 0.8", "bayesian_threshold: 0"), "threshold"),
        (good.replace("capacity: -1", "capacity: 3"), "capacity -1"),
        (good.replace("guillotine: true", "guillotine: true\n    extra: 1"), "unknown key 'extra'"),
        (good.replace("evt.Meta.x", "evt.Meta.x +"), "invalid bayesian condition expression"),
    ]:
        assert message in _load_error(tmp_path, bad)


def test_unsupported_format_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other = BASE.replace("me/t", "me/new") + "format: 4.0\n"
    with caplog.at_level(logging.ERROR, logger="crowdwatch.scenarios"):
        scen = scenario_set(tmp_path, BASE + "format: 3.0\n---\n" + other)
    assert scen.names == ["me/t"]
    assert "format '4.0' is not supported" in caplog.text


def test_documents_and_files_keep_order(tmp_path: Path) -> None:
    a = BASE.replace("me/t", "me/a") + "---\n" + BASE.replace("me/t", "me/b") + "---\n"
    scen = scenario_set(tmp_path, a, BASE.replace("me/t", "me/c"))
    assert scen.names == ["me/a", "me/b", "me/c"]


@pytest.mark.parametrize(
    ("labels", "remediation"),
    [
        ("labels:\n  remediation: true\n", True),
        ("labels:\n  remediation: True\n", True),
        ("labels:\n  remediation: 'true'\n", False),  # a string, not the YAML boolean
        ("labels:\n  remediation: yes\n", False),  # yaml.v3 keeps `yes` a string in a map of any
        ("labels:\n  remediation: false\n", False),
        ("", False),
    ],
)
def test_remediation_label(tmp_path: Path, labels: str, remediation: bool) -> None:
    text = BASE.replace("type: leaky", "type: trigger").replace("capacity: 3\n", "") + labels
    scen = scenario_set(tmp_path, text)
    (out,) = scen.pour(log_event(0))
    assert out.Overflow.Alert is not None and out.Overflow.Alert.Remediation is remediation


def test_data_files_are_loaded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bad_uas.txt").write_text("evil-bot\n")
    path = tmp_path / "s.yaml"
    path.write_text(
        BASE.replace("type: leaky", "type: trigger").replace("capacity: 3\n", "")
        + "data:\n  - source_url: https://example.invalid/x\n    dest_file: bad_uas.txt\n    type: string\n"
    )
    path.write_text(
        path.read_text().replace("evt.Meta.log_type == 'test'", "evt.Meta.ua in File('bad_uas.txt')")
    )
    scen = ScenarioSet.load([ScenarioFile(path)], ScenarioContext(data))
    assert len(scen.pour(log_event(0, meta={"ua": "evil-bot"}))) == 1
    assert scen.pour(log_event(0, meta={"ua": "browser"})) == []


HUB_SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "hub" / "scenarios"


@pytest.mark.skipif(not HUB_SCENARIOS.is_dir(), reason="hub snapshot not available")
def test_every_hub_scenario_loads() -> None:
    files = sorted(p for p in HUB_SCENARIOS.rglob("*") if p.suffix in (".yaml", ".yml"))
    scen = ScenarioSet.load([ScenarioFile(p) for p in files], ScenarioContext(HUB_SCENARIOS.parent / "data"))
    assert len(files) == 783
    assert len(scen.names) == 846
