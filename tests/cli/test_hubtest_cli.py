"""`crowdwatch hubtest replay|run` end to end on visible hub test cases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app

SHARED = Path(__file__).resolve().parents[3] / "shared"  # ../shared beside the checkout
HUB = SHARED / "hub"
CASES = SHARED / "hubtest" / "cases"

pytestmark = pytest.mark.skipif(
    not (HUB / ".index.json").is_file() or not CASES.is_dir(), reason="../shared absent"
)
_register_all()
runner = CliRunner()


def test_replay_writes_document_check_py_accepts(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "hubtest",
            "replay",
            "--hub",
            str(HUB),
            "--test",
            str(CASES / "iis-xml-logs"),
            "--out",
            str(out),
            "--tests-root",
            str(CASES),
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["format"] == "crowdsec-hubtest-results/v1"
    assert doc["parsers"]["s00-raw"]["overrides"][0]["Success"] is True
    chk = subprocess.run(
        [sys.executable, str(SHARED / "hubtest/check.py"), str(CASES / "iis-xml-logs"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert chk.returncode == 0, chk.stdout


def test_replay_to_stdout() -> None:
    res = runner.invoke(app, ["hubtest", "replay", "--hub", str(HUB), "--test", str(CASES / "ombi-logs")])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["buckets"] == []


def test_run_json_and_statuses() -> None:
    res = runner.invoke(
        app,
        [
            "hubtest",
            "run",
            str(CASES / "ombi-logs"),
            str(CASES / "ssh-bf"),
            "--hub",
            str(HUB),
            "-o",
            "json",
            "-j",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    out = {o["name"]: o for o in json.loads(res.stdout)}
    assert out["ombi-logs"]["status"] == "pass"
    assert out["ombi-logs"]["parser"]["passed"] == out["ombi-logs"]["parser"]["total"] == 11
    ssh = out["ssh-bf"]
    assert ssh["status"] == "pass"
    assert ssh["parser"]["checked"] is False  # ignore_parsers
    assert ssh["scenario"]["checked"] and ssh["scenario"]["passed"] == ssh["scenario"]["total"] == 113


def test_run_human_failure_exit_code(tmp_path: Path) -> None:
    case = tmp_path / "ombi-logs"
    shutil.copytree(CASES / "ombi-logs", case)
    with (case / "parser.assert").open("a") as fh:
        fh.write('\nresults["s01-parse"]["crowdsecurity/ombi-logs"][0].Evt.Meta.source_ip == "0.0.0.0"\n')
    res = runner.invoke(app, ["hubtest", "run", str(case), "--hub", str(HUB), "-v"])
    assert res.exit_code == 1
    assert "fail" in res.stdout and "11/12" in res.stdout


def test_bad_inputs(tmp_path: Path) -> None:
    res = runner.invoke(app, ["hubtest", "run", str(tmp_path), "--hub", str(HUB)])
    assert isinstance(res.exception, CliError) and "config.yaml is missing" in str(res.exception)
    res = runner.invoke(
        app, ["hubtest", "replay", "--hub", str(tmp_path / "x"), "--test", str(CASES / "ombi-logs")]
    )
    assert isinstance(res.exception, CliError) and "is not a directory" in str(res.exception)
    res = runner.invoke(
        app,
        ["hubtest", "replay", "--hub", str(HUB), "--test", str(CASES / "ombi-logs"), "--now", "yesterday"],
    )
    assert isinstance(res.exception, CliError) and "invalid replay clock" in str(res.exception)


def test_run_reports_failing_scenario_assert(tmp_path: Path) -> None:
    case = tmp_path / "ssh-bf"
    shutil.copytree(CASES / "ssh-bf", case)
    with (case / "scenario.assert").open("a") as fh:
        fh.write("\nresults[0].Overflow.Alert.GetEventsCount() == 99\n")
    res = runner.invoke(app, ["hubtest", "run", str(case), "--hub", str(HUB), "-v", "-j", "1"])
    assert res.exit_code == 1
    assert "113/114" in res.stdout
    assert "scenario.assert:115: FAIL" in res.stdout and "left side is 6" in res.stdout


def test_replay_process_imports_only_what_it_needs(tmp_path: Path) -> None:
    """`crowdwatch hubtest replay` runs once per test: other commands and Rich stay unimported."""
    out = tmp_path / "r.json"
    code = (
        "import sys; from crowdwatch.cli.main import main; "
        f"sys.argv = ['crowdwatch', 'hubtest', 'replay', '--hub', {str(HUB)!r}, '--test', "
        f"{str(CASES / 'ssh-bf')!r}, '--out', {str(out)!r}]; "
        "main()"
    )
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if "import time:" in line}
    assert "crowdwatch.scenarios" in imported and "crowdwatch.engine" in imported
    assert (
        not {"rich", "crowdwatch.cli.replay_cmd", "crowdwatch.cli.explain_cmd", "crowdwatch.cli.config_cmd"}
        & imported
    )
    assert json.loads(out.read_text())["buckets"]


def test_command_name_skips_global_options() -> None:
    from crowdwatch.cli.commands import command_name

    assert command_name(["hubtest", "replay"]) == "hubtest"
    assert command_name(["--config-dir", "/x", "explain", "-t", "a"]) == "explain"
    assert command_name(["--version"]) is None
