"""Hub test cases end to end through a minimal driver of their own: parse the case log,
pour into a ScenarioSet, run postoverflows and reprocess, then evaluate ``scenario.assert``
with the shared checker (check.py). Independent of the orchestrator (crowdwatch.engine)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crowdwatch.acquisition.file import read_lines
from crowdwatch.event import Event
from crowdwatch.expr.helpers import stash
from crowdwatch.hub.hubtest.config import OVERRIDES_FILE, OVERRIDES_STAGE, load_test_config
from crowdwatch.hub.hubtest.replay import make_event
from crowdwatch.hub.index import Hub
from crowdwatch.hub.loadout import install_order, make_context, sort_files
from crowdwatch.parser import ParserFile, ParserPipeline
from crowdwatch.scenarios import ScenarioContext, ScenarioFile, ScenarioSet

SHARED = Path(__file__).resolve().parents[3] / "shared"  # ../shared beside the checkout
HUB = SHARED / "hub"
CASES = SHARED / "hubtest" / "cases"
CHECK_PY = SHARED / "hubtest" / "check.py"
NOW = datetime(2026, 8, 22, tzinfo=UTC)  # the replay clock hubtest asserts were generated with

pytestmark = pytest.mark.skipif(not CHECK_PY.is_file(), reason="shared hub test cases not available")


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hubtest_check", CHECK_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drive(test_dir: Path) -> list[dict[str, Any]]:
    """The overflows of one hub test (after postoverflows), in emission order."""
    cfg = load_test_config(test_dir)
    hub = Hub(HUB)
    stash.reset()
    items = {
        kind: [hub.resolve(kind, ref, test_dir=cfg.dir, tests_root=CASES) for ref in refs if ref]
        for kind, refs in (
            ("parsers", cfg.parsers),
            ("scenarios", cfg.scenarios),
            ("postoverflows", cfg.postoverflows),
        )
    }

    def staged(kind: str) -> list[ParserFile]:
        return [ParserFile(i.stage, i.path) for i in install_order(items[kind])]

    def context() -> Any:
        return make_context(HUB / "patterns", HUB / "data", clock=lambda: NOW)

    parser_files = staged("parsers")
    overrides = cfg.overrides_yaml()
    if overrides is not None:
        parser_files.append(ParserFile(OVERRIDES_STAGE, cfg.dir / OVERRIDES_FILE, text=overrides))
    parsers = ParserPipeline.load(sort_files(parser_files), context())
    post = (
        ParserPipeline.load(sort_files(staged("postoverflows")), context())
        if items["postoverflows"]
        else None
    )
    scen = ScenarioSet.load(
        [ScenarioFile(i.path) for i in install_order(items["scenarios"])], ScenarioContext(HUB / "data")
    )
    buckets: list[dict[str, Any]] = []

    def handle(overflows: list[Event]) -> None:
        for ovf in overflows:
            if post is not None:
                post.process(ovf)
            buckets.append(ovf.to_dict())
            if ovf.Overflow.Reprocess and not ovf.Overflow.Whitelisted:
                handle(scen.pour(ovf, now=NOW))

    labels = {"type": cfg.log_type, **cfg.labels}
    for line in read_lines(cfg.log_path):
        evt = make_event(line.text, str(cfg.log_path), labels, NOW)
        if parsers.process(evt):
            handle(scen.pour(evt))
    scen.flush()
    return buckets


def _scenario_cases() -> list[Path]:
    if not CASES.is_dir():
        return []
    check = _checker()
    return [
        d
        for d in sorted(CASES.iterdir())
        if (d / "config.yaml").is_file() and check.checked_kinds(check.load_config(str(d)))[1]
    ]


def _report(test_dir: Path) -> dict[str, Any]:
    check = _checker()
    doc = {"format": "crowdsec-hubtest-results/v1", "parsers": None, "buckets": drive(test_dir)}
    rep: dict[str, Any] = check.check_test(str(test_dir), doc)["scenario"]
    rep["buckets"] = doc["buckets"]
    return rep


@pytest.mark.parametrize("name", ["ssh-bf", "http-technology-probing", "CVE-2017-9841", "ipv6-postoverflow"])
def test_selected_case(name: str) -> None:
    rep = _report(CASES / name)
    failed = [f"{line['assert']} -> {line['detail']}" for line in rep["lines"]]
    assert rep["total"] > 0 and rep["pass"] == rep["total"], "\n".join(failed[:10])


def test_ssh_bf_overflows() -> None:
    """ssh-bf: six failed logins within 3 s overflow both scenarios of the file (capacity 5)."""
    buckets = _report(CASES / "ssh-bf")["buckets"]
    alerts = [b["Overflow"]["Alert"] for b in buckets]
    assert [a["scenario"] for a in alerts] == ["crowdsecurity/ssh-bf", "crowdsecurity/ssh-bf_user-enum"]
    assert [list(b["Overflow"]["Sources"]) for b in buckets] == [["35.188.49.176"]] * 2
    for a in alerts:
        assert (a["events_count"], len(a["events"]), a["capacity"], a["leakspeed"]) == (6, 6, 5, "10s")
        assert (a["start_at"], a["stop_at"], a["remediation"]) == (
            "2026-02-12T14:10:21Z",
            "2026-02-12T14:10:24Z",
            True,
        )
        assert a["message"] == (
            f"Ip 35.188.49.176 performed '{a['scenario']}' (6 events over 3s) at 2026-02-12 14:10:24 +0000 UTC"
        )


def test_all_scenario_asserts_pass() -> None:
    failing = {}
    for test_dir in _scenario_cases():
        rep = _report(test_dir)
        if rep["total"] == 0 or rep["pass"] != rep["total"]:
            failing[test_dir.name] = [f"{x['assert']} -> {x['detail']}" for x in rep["lines"][:3]]
    assert not failing, failing
