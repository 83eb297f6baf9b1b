"""Assert evaluation with crowdwatch's expr engine, and agreement with the independent check.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from tests.hub.conftest import CHECK_PY

from crowdwatch.expr import ExprSyntaxError, compile_expr, registry
from crowdwatch.hub.hubtest import Replay, replay
from crowdwatch.hub.hubtest.asserts import (
    evaluate_parser_asserts,
    evaluate_scenario_asserts,
    go_basename,
    hubtest_source,
    read_assert_lines,
)
from crowdwatch.hub.hubtest.replay import dumps_document

DOC: dict[str, Any] = {
    "s00-raw": {
        "crowdsecurity/syslog-logs": [
            {
                "Idx": 1,
                "Success": True,
                "Evt": {
                    "Parsed": {"program": "sshd"},
                    "Meta": {"datasource_path": "/var/log/ssh.log", "timestamp": "2026-01-27T11:02:49Z"},
                    "Unmarshaled": {"a": {"n": 12, "f": 0.5, "b": False}},
                    "Whitelisted": False,
                },
            }
        ]
    },
}
R = 'results["s00-raw"]["crowdsecurity/syslog-logs"]'


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("len(results) == 2", "PASS"),
        ('len(results["success"][""]) == 0', "PASS"),
        ('len(results["s01-parse"]["nope"]) == 0', "PASS"),
        ('len(results["s00-raw"]["nope"]) == 0', "PASS"),
        (f"{R}[0].Success == true", "PASS"),
        (f"{R}[1].Success == true", "ERROR"),
        (f'{R}[0].Evt.Parsed["program"] == "sshd"', "PASS"),
        (f"{R}[0].Evt.Parsed.program == 'sshd'", "PASS"),
        (f'{R}[0].Evt.Parsed["missing"] == ""', "PASS"),
        (f'{R}[0].Evt.Meta["datasource_path"] == "ssh.log"', "PASS"),  # basename shim
        (f'basename({R}[0].Evt.Meta["datasource_path"]) == "ssh.log"', "PASS"),
        (f'{R}[0].Evt.Meta["timestamp"][4:] == "-01-27T11:02:49Z"', "PASS"),
        (f"{R}[0].Evt.Whitelisted == false", "PASS"),
        (f'{R}[0].Evt.Unmarshaled["a"]["n"] == 12', "PASS"),
        (f'FloatApproxEqual({R}[0].Evt.Unmarshaled["a"]["f"], 0.500000)', "PASS"),
        (f'{R}[0].Evt.Unmarshaled["a"]["b"] == 0', "FAIL"),
        (f'{R}[0].Evt.Unmarshaled["zz"]["b"] == 0', "ERROR"),
        (f'{R}[0].Evt.Parsed["program"] == "nginx"', "FAIL"),
        (f'{R}[0].Evt.Parsed["program"]', "ERROR"),  # not a condition
        ('results["s00-raw" == 0', "ERROR"),
    ],
)
def test_assert_line(line: str, status: str) -> None:
    [res] = evaluate_parser_asserts([(1, line)], DOC)
    assert res.status == status, res.detail


def test_failure_shows_left_side() -> None:
    [res] = evaluate_parser_asserts([(3, f'{R}[0].Evt.Parsed["program"] == "nginx"')], DOC)
    assert (res.line, res.detail) == (3, 'left side is "sshd"')


def test_no_document() -> None:
    assert [r.status for r in evaluate_parser_asserts([(1, "true")], None)] == ["ERROR"]


def test_basename_does_not_leak_into_hub_expressions() -> None:
    evaluate_parser_asserts([(1, f'basename({R}[0].Evt.Meta["datasource_path"]) == "x"')], DOC)
    assert "basename" not in registry.BUILTINS and "basename" not in registry.HELPERS
    with pytest.raises(ExprSyntaxError, match="unknown function basename"):
        compile_expr("basename(evt.Line.Src) == 'x'")


def test_shim_and_basename() -> None:
    assert hubtest_source('x.Meta["datasource_path"] == "a"') == 'basename(x.Meta["datasource_path"]) == "a"'
    assert (
        hubtest_source('basename(x.Meta["datasource_path"]) == "a"')
        == 'basename(x.Meta["datasource_path"]) == "a"'
    )
    assert hubtest_source('x.Meta["datasource_path"] != "a"') == 'x.Meta["datasource_path"] != "a"'
    assert [go_basename(p) for p in ("", "/", "a/b/", "/x/y.log", "y")] == [".", "/", "b", "y.log", "y"]


def test_read_assert_lines(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"one\r\n\n two\n\r\n")
    assert read_assert_lines(tmp_path / "a") == [(1, "one"), (3, " two")]
    assert read_assert_lines(tmp_path / "missing") == []


def _load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hubtest_check", CHECK_PY)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("hubtest_check", mod)
    spec.loader.exec_module(mod)
    return mod


AGREEMENT_CASES = [
    "iis-xml-logs",
    "nginx_http-catch-npm",
    "actual-budget-whitelist",
    "traefik_json",
    "pf-logs",
]


@pytest.mark.parametrize("name", AGREEMENT_CASES)
def test_agrees_with_check_py(name: str, shared_cases: Path, shared_hub: Path) -> None:
    """Same verdict per assert line (PASS / FAIL / other) as the independent checker."""
    check = _load_check()
    test_dir = shared_cases / name
    doc = orjson.loads(dumps_document(replay(Replay(test_dir, shared_hub))))
    theirs = check.check_test(str(test_dir), doc)["parser"]
    mine = evaluate_parser_asserts(read_assert_lines(test_dir / "parser.assert"), doc["parsers"])
    assert theirs["total"] == len(mine)
    their_bad = {ln["line"]: ln["status"] == "FAIL" for ln in theirs["lines"]}
    my_bad = {r.line: r.status == "FAIL" for r in mine if r.status != "PASS"}
    assert my_bad == their_bad


SCENARIO_AGREEMENT_CASES = [
    "ssh-bf",
    "ipv6-postoverflow",
    "http-dos-switching-ua",
    "iptables-scan-multi-port",
    "dovecot-slow-bf",
]


@pytest.mark.parametrize("name", SCENARIO_AGREEMENT_CASES)
def test_scenario_asserts_agree_with_check_py(name: str, shared_cases: Path, shared_hub: Path) -> None:
    """Same verdict per scenario assert line as the independent checker (incl. its bucket sort)."""
    check = _load_check()
    test_dir = shared_cases / name
    doc = orjson.loads(dumps_document(replay(Replay(test_dir, shared_hub, tests_root=shared_cases))))
    theirs = check.check_test(str(test_dir), doc)["scenario"]
    mine = evaluate_scenario_asserts(read_assert_lines(test_dir / "scenario.assert"), doc["buckets"])
    assert theirs["checked"] and theirs["total"] == len(mine) > 0
    their_bad = {ln["line"]: ln["status"] == "FAIL" for ln in theirs["lines"]}
    my_bad = {r.line: r.status == "FAIL" for r in mine if r.status != "PASS"}
    assert my_bad == their_bad
