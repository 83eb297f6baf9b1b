"""``crowdwatch decisions list|add|delete`` on a local SQLite database under a tmp config dir."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app
from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.storage.tables import ACTIVE, DELETED

_register_all()


def _run(cfg: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config-dir", str(cfg), *args])
    if isinstance(result.exception, CliError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _list(cfg: Path, *args: str) -> list[dict[str, object]]:
    code, out = _run(cfg, "decisions", "list", "-o", "json", *args)
    assert code == 0, out
    return [d for a in json.loads(out) for d in a["decisions"]]


def test_add_list_delete_round_trip(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    assert _run(cfg, "decisions", "add", "--ip", "1.2.3.4", "--duration", "1h") == (
        0,
        "Decision successfully added\n",
    )
    code, _ = _run(cfg, "decisions", "add", "--range", "10.0.0.0/24", "-t", "captcha", "-R", "manual-test")
    assert code == 0
    code, _ = _run(cfg, "decisions", "add", "--scope", "username", "--value", "bob")
    assert code == 0

    all_ = _list(cfg)
    assert {(d["scope"], d["value"], d["type"]) for d in all_} == {
        ("Ip", "1.2.3.4", "ban"),
        ("Range", "10.0.0.0/24", "captcha"),
        ("username", "bob", "ban"),
    }
    assert all(d["origin"] == "cscli" for d in all_)
    assert [d["value"] for d in _list(cfg, "--ip", "1.2.3.4")] == ["1.2.3.4"]
    assert [d["value"] for d in _list(cfg, "--ip", "10.0.0.7")] == ["10.0.0.0/24"]
    assert [d["value"] for d in _list(cfg, "--type", "captcha")] == ["10.0.0.0/24"]
    assert [d["scenario"] for d in _list(cfg, "--scenario", "manual-test")] == ["manual-test"]
    assert _list(cfg, "--origin", "crowdsec") == []
    assert len(_list(cfg, "--limit", "1")) == 1

    code, out = _run(cfg, "decisions", "list")
    assert code == 0 and "1.2.3.4" in out and "captcha" in out
    code, out = _run(cfg, "decisions", "list", "-o", "raw")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["scope:value"] for r in rows} == {"Ip:1.2.3.4", "Range:10.0.0.0/24", "username:bob"}

    assert _run(cfg, "decisions", "delete", "--ip", "10.0.0.9") == (0, "1 decision(s) deleted\n")
    assert _run(cfg, "decisions", "delete", "--ip", "10.0.0.9") == (0, "0 decision(s) deleted\n")
    bob = _list(cfg, "--value", "bob")
    assert _run(cfg, "decisions", "delete", "--id", str(bob[0]["id"])) == (0, "1 decision(s) deleted\n")
    assert _run(cfg, "decisions", "delete", "--all") == (0, "1 decision(s) deleted\n")
    code, out = _run(cfg, "decisions", "list")
    assert code == 0 and "No active decisions" in out


def test_cli_changes_reach_the_stream_feed(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    assert _run(cfg, "decisions", "add", "--ip", "192.0.2.1")[0] == 0
    svc = open_lapi(load_config(str(cfg)))
    try:
        changes, head = svc.changes_since(0)
        assert [(r.value, r.state) for r in changes] == [("192.0.2.1", ACTIVE)]
        assert _run(cfg, "decisions", "delete", "--ip", "192.0.2.1")[0] == 0
        later, _ = svc.changes_since(head)
        assert [(r.value, r.state) for r in later] == [("192.0.2.1", DELETED)]
    finally:
        svc.db.dispose()


def test_errors_are_clear(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    code, msg = _run(cfg, "decisions", "add")
    assert code == 2 and "value is required" in msg
    code, msg = _run(cfg, "decisions", "add", "--ip", "not-an-ip")
    assert code == 2 and "not-an-ip" in msg
    code, msg = _run(cfg, "decisions", "add", "--ip", "1.2.3.4", "--duration", "forever")
    assert code == 2 and "forever" in msg
    code, msg = _run(cfg, "decisions", "delete")
    assert code == 2 and "--all" in msg
    code, msg = _run(cfg, "decisions", "delete", "--all", "--ip", "1.2.3.4")
    assert code == 2 and "cannot be combined" in msg
    code, msg = _run(cfg, "decisions", "delete", "--id", "x")
    assert code == 2 and "invalid --id" in msg
    code, msg = _run(cfg, "decisions", "list", "-o", "yaml")
    assert code == 2 and "unknown output format" in msg


def test_alerts_list_inspect_delete(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    assert _run(cfg, "decisions", "add", "--ip", "1.2.3.4", "-R", "first")[0] == 0
    assert _run(cfg, "decisions", "add", "--ip", "5.6.7.8", "-R", "second")[0] == 0
    code, out = _run(cfg, "alerts", "list", "-o", "json")
    alerts = json.loads(out)
    assert code == 0 and [a["scenario"] for a in alerts] == ["second", "first"]
    code, out = _run(cfg, "alerts", "list", "--ip", "1.2.3.4")
    assert code == 0 and "first" in out and "second" not in out
    code, out = _run(cfg, "alerts", "inspect", str(alerts[1]["id"]))
    assert code == 0 and "scenario: first" in out and "ban Ip:1.2.3.4" in out
    code, msg = _run(cfg, "alerts", "inspect", "999")
    assert code == 2 and "not found" in msg
    code, msg = _run(cfg, "alerts", "delete")
    assert code == 2 and "--all" in msg
    assert _run(cfg, "alerts", "delete", "--ip", "1.2.3.4") == (0, "1 alert(s) deleted\n")
    assert [d["value"] for d in _list(cfg)] == ["5.6.7.8"]
    assert _run(cfg, "alerts", "delete", "--all") == (0, "1 alert(s) deleted\n")
    assert _list(cfg) == []
