"""Alert context (ENGINE.md §7.3): loading, collection rules, truncation."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from crowdwatch.scenarios import AlertContext, ContextLoadError, ScenarioContext, ScenarioFile, ScenarioSet
from crowdwatch.scenarios.context import truncate

from .helpers import log_event

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
capacity: 2
leakspeed: 1m
"""


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def scenarios(tmp: Path, text: str, ctx: AlertContext) -> ScenarioSet:
    path = write(tmp, "scn.yaml", text)
    return ScenarioSet.load([ScenarioFile(path)], ScenarioContext(None, context=ctx))


def test_meta_collects_dedups_and_orders(tmp_path: Path) -> None:
    item = write(
        tmp_path,
        "item.yaml",
        "name: me/ctx\ndescription: metadata is ignored\ncontext:\n"
        "  user:\n    - evt.Meta.user\n    - evt.Meta.alias\n"
        "  ports:\n    - Split(evt.Meta.ports, ',')\n"
        "  count:\n    - len(evt.Meta.user)\n"
        "  nothing:\n    - evt.Meta.missing\n",
    )
    console = write(
        tmp_path, "context.yaml", "user:\n  - evt.Meta.user\n  - evt.Meta.other\nmethod:\n  - evt.Meta.m\n"
    )
    ctx = AlertContext.load([item], console)
    scen = scenarios(tmp_path, LEAKY, ctx)
    assert scen.pour(log_event(0, meta={"user": "bob", "alias": "", "ports": "22,80", "m": "GET"})) == []
    assert scen.pour(log_event(1, meta={"user": "alice", "other": "bob", "ports": "80,443"})) == []
    (evt,) = scen.pour(log_event(2, meta={"user": "bob", "other": "carol", "ports": ""}))
    meta = evt.Overflow.Alert.Meta
    assert meta == [
        ("count", '["3","5"]'),
        ("method", '["GET"]'),
        ("ports", '["22","80","443"]'),
        ("user", '["bob","alice","carol"]'),
    ]
    assert all(a.Meta == meta for a in evt.Overflow.APIAlerts)
    assert orjson.loads(dict(meta)["user"]) == ["bob", "alice", "carol"]


def test_runtime_errors_and_other_types_are_skipped(tmp_path: Path) -> None:
    console = write(
        tmp_path,
        "context.yaml",
        "k:\n  - 1 / int(evt.Meta.zero)\n  - evt.Meta.user == 'x'\n  - 1.5\n  - '[evt.Meta.user, 7, true, 2.5]'\n",
    )
    scen = scenarios(tmp_path, TRIGGER, AlertContext.load(console=console))
    (evt,) = scen.pour(log_event(0, meta={"user": "bob", "zero": "0"}))
    assert evt.Overflow.Alert.Meta == [("k", '["bob","7"]')]


def test_without_context_meta_is_empty(tmp_path: Path) -> None:
    scen = scenarios(tmp_path, TRIGGER, AlertContext.load(console=tmp_path / "absent.yaml"))
    (evt,) = scen.pour(log_event(0))
    assert evt.Overflow.Alert.Meta == []


def test_truncate_drops_trailing_values() -> None:
    values = ["a" * 10, "b" * 10, "c" * 10]
    assert truncate(values, 4000) == '["aaaaaaaaaa","bbbbbbbbbb","cccccccccc"]'
    assert truncate(values, 30) == '["aaaaaaaaaa","bbbbbbbbbb"]'
    assert truncate(values, 26) == '["aaaaaaaaaa"]'


def test_truncate_halves_the_last_value() -> None:
    assert truncate(["x" * 40], 30) == '["' + "x" * 20 + '..."]'
    # 40 bytes -> 20 + "..." -> 11 + "...": halved again while too long
    assert truncate(["x" * 40, "y"], 20) == '["' + "x" * 11 + '..."]'
    assert len(truncate(["é" * 100], 50).encode()) <= 50


def test_value_length_applies_to_meta(tmp_path: Path) -> None:
    console = write(tmp_path, "context.yaml", "u:\n  - evt.Meta.user\n")
    scen = scenarios(tmp_path, TRIGGER, AlertContext.load(console=console, max_length=10))
    (evt,) = scen.pour(log_event(0, meta={"user": "abcdefghijkl"}))
    assert evt.Overflow.Alert.Meta == [("u", '["abc..."]')]


@pytest.mark.parametrize(("given", "used"), [(0, 4000), (-3, 4000), (9000, 4000), (100, 100)])
def test_value_length_default_and_maximum(given: int, used: int) -> None:
    assert AlertContext(given).max_length == used


def test_bad_expression_names_file_line(tmp_path: Path) -> None:
    item = write(tmp_path, "item.yaml", "context:\n  user:\n    - evt.Meta.user\n    - evt.Meta.user ==\n")
    with pytest.raises(ContextLoadError) as exc:
        AlertContext.load([item])
    assert str(exc.value).startswith(f"{item}:4:")
    assert "user" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("user: evt.Meta.user\n", 1),
        ("user:\n  - [evt.Meta.user]\n", 2),
        ("- evt.Meta.user\n", 1),
        ("user:\n  - evt.Nope\n", 2),
    ],
)
def test_bad_console_file(tmp_path: Path, text: str, line: int) -> None:
    console = write(tmp_path, "context.yaml", text)
    with pytest.raises(ContextLoadError, match=rf"^{console}:{line}:"):
        AlertContext.load(console=console)


def test_loadout_passes_context(tmp_path: Path) -> None:
    from crowdwatch.hub.loadout import load_scenarios

    console = write(tmp_path, "context.yaml", "u:\n  - evt.Meta.user\n")
    path = write(tmp_path, "scn.yaml", TRIGGER)
    scen = load_scenarios([ScenarioFile(path)], tmp_path, context=AlertContext.load(console=console))
    (evt,) = scen.pour(log_event(0, meta={"user": "bob"}))
    assert evt.Overflow.Alert.Meta == [("u", '["bob"]')]
