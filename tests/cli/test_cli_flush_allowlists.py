"""``crowdwatch alerts flush`` and ``crowdwatch allowlists`` on a local SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

from tests.lapi.helpers import make_alert
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app
from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.storage.decisions import DecisionQuery
from crowdwatch.lapi.storage.tables import DELETED
from crowdwatch.lapi.timefmt import format_time
from crowdwatch.lapi.timefmt import now as utcnow

_register_all()


def _run(cfg: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config-dir", str(cfg), *args])
    if isinstance(result.exception, CliError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


def _alerts(cfg: Path, n: int, *, message_size: int = 0) -> None:
    """``n`` alerts from the default profile (each with a 4h ban), then those bans lifted except
    for the last alert's."""
    svc = open_lapi(load_config(str(cfg)))
    try:
        svc.register_machine("agent", "agent-password", "", True)
        stamp = format_time(utcnow())
        docs = [
            make_alert(f"10.0.{i >> 8}.{i & 255}", start_at=stamp, stop_at=stamp, message="m" * message_size)
            for i in range(n)
        ]
        svc.create_alerts("agent", docs)
        for i in range(n - 1):
            svc.delete_decisions(DecisionQuery(value=f"10.0.{i >> 8}.{i & 255}"))
    finally:
        svc.db.dispose()


def _alert_values(cfg: Path) -> set[str]:
    code, out = _run(cfg, "alerts", "list", "-o", "json", "--limit", "0")
    assert code == 0, out
    return {a["source"]["value"] for a in json.loads(out)}


def test_flush_by_count_keeps_alerts_with_active_decisions_and_reclaims_space(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    _alerts(cfg, 300, message_size=20_000)
    db = cfg / "data" / "crowdwatch.db"
    code, out = _run(cfg, "alerts", "flush", "--max-items", "0", "--max-age", "0")
    assert (code, out.splitlines()[0]) == (0, "0 alert(s) deleted, 0 finished decision(s) purged")
    svc = open_lapi(load_config(str(cfg)))
    try:
        svc.create_alerts("agent", [make_alert("192.0.2.50", start_at=format_time(utcnow()))])
    finally:
        svc.db.dispose()
    before = db.stat().st_size
    code, out = _run(cfg, "alerts", "flush", "--max-items", "1", "-o", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["alerts_deleted"] == 299  # 300 + 1 alerts, newest kept, 10.0.1.43 protected
    assert doc["db_bytes_before"] >= before and doc["db_bytes_after"] < doc["db_bytes_before"] / 4
    assert db.stat().st_size < before / 4
    assert _alert_values(cfg) == {"192.0.2.50", "10.0.1.43"}


def test_flush_by_age_and_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    _alerts(cfg, 3)
    code, out = _run(cfg, "alerts", "flush", "--max-age", "7d", "--max-items", "0")
    assert code == 0 and out.startswith("0 alert(s) deleted") and "database size:" in out
    # everything is older than 1µs: the two alerts without a live decision go
    code, out = _run(cfg, "alerts", "flush", "--max-age", "1us", "--max-items", "0")
    assert code == 0 and out.startswith("2 alert(s) deleted"), out
    assert _alert_values(cfg) == {"10.0.0.2"}
    code, msg = _run(cfg, "alerts", "flush", "--max-age", "soon")
    assert code == 2 and "soon" in msg
    code, msg = _run(cfg, "alerts", "flush", "--max-items", "-1")
    assert code == 2 and "--max-items" in msg


def test_allowlists_lifecycle(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    assert _run(cfg, "decisions", "add", "--ip", "10.1.2.3")[0] == 0
    assert _run(cfg, "decisions", "add", "--range", "10.1.2.128/25")[0] == 0
    assert _run(cfg, "decisions", "add", "--ip", "10.9.9.9")[0] == 0
    assert _run(cfg, "allowlists", "create", "office", "--description", "office network") == (
        0,
        "allowlist 'office' created\n",
    )
    code, msg = _run(cfg, "allowlists", "create", "office", "-d", "again")
    assert code == 2 and "already exists" in msg
    svc = open_lapi(load_config(str(cfg)))
    try:
        _, head = svc.changes_since(0)
    finally:
        svc.db.dispose()
    code, out = _run(
        cfg, "allowlists", "add", "office", "10.1.2.0/24", "192.0.2.1", "-e", "1h", "--comment", "hq"
    )
    assert code == 0, out
    assert (
        out
        == "added 2 entries to allowlist 'office'\n2 active decision(s) covered by the new entries deleted\n"
    )
    # bouncers hear of it: both decisions inside 10.1.2.0/24 are deleted in the change feed
    svc = open_lapi(load_config(str(cfg)))
    try:
        later, _ = svc.changes_since(head)
    finally:
        svc.db.dispose()
    assert sorted((r.value, r.state) for r in later) == [("10.1.2.128/25", DELETED), ("10.1.2.3", DELETED)]
    code, out = _run(cfg, "decisions", "list", "-o", "json")
    assert [d["value"] for a in json.loads(out) for d in a["decisions"]] == ["10.9.9.9"]
    assert _run(cfg, "allowlists", "add", "office", "10.1.2.7/24") == (
        0,
        "10.1.2.0/24 is already in allowlist 'office'\n",
    )

    code, out = _run(cfg, "allowlists", "list", "-o", "json")
    (al,) = json.loads(out)
    assert (al["name"], al["description"], len(al["items"])) == ("office", "office network", 2)
    code, out = _run(cfg, "allowlists", "list")
    assert code == 0 and "office network" in out
    code, out = _run(cfg, "allowlists", "inspect", "office", "-o", "json")
    items = {it["value"]: it for it in json.loads(out)["items"]}
    assert items["10.1.2.0/24"]["description"] == "hq" and "expiration" in items["192.0.2.1"]
    code, out = _run(cfg, "allowlists", "inspect", "office")
    assert code == 0 and "description: office network" in out and "192.0.2.1" in out

    code, out = _run(cfg, "allowlists", "check", "10.1.2.200", "10.9.9.9")
    assert out == (
        "10.1.2.200 is allowlisted by: 10.1.2.0/24 from office (hq)\n10.9.9.9 is not allowlisted\n"
    )
    code, out = _run(cfg, "allowlists", "check", "192.0.2.1", "-o", "json")
    assert json.loads(out) == [
        {"value": "192.0.2.1", "allowlisted": True, "reasons": ["192.0.2.1 from office (hq)"]}
    ]
    # an allowlisted source's alerts are dropped by the LAPI: a new ban does not appear
    assert _run(cfg, "decisions", "add", "--ip", "10.1.2.3")[0] == 0
    code, out = _run(cfg, "decisions", "list", "--ip", "10.1.2.3", "-o", "json")
    assert json.loads(out) == []

    assert _run(cfg, "allowlists", "remove", "office", "10.1.2.0/24") == (
        0,
        "removed 1 entry from allowlist 'office'\n",
    )
    code, msg = _run(cfg, "allowlists", "remove", "office", "10.1.2.0/24")
    assert code == 2 and "not in allowlist 'office': 10.1.2.0/24" in msg
    assert _run(cfg, "allowlists", "check", "10.1.2.200")[1] == "10.1.2.200 is not allowlisted\n"
    assert _run(cfg, "allowlists", "delete", "office") == (0, "allowlist 'office' deleted\n")
    code, out = _run(cfg, "allowlists", "list")
    assert code == 0 and "No allowlists" in out


def test_allowlists_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    for args, expected in [
        (("allowlists", "inspect", "nope"), "allowlist 'nope' not found"),
        (("allowlists", "delete", "nope"), "allowlist 'nope' not found"),
        (("allowlists", "add", "nope", "1.2.3.4"), "allowlist 'nope' not found"),
        (("allowlists", "create", "two words", "-d", "x"), "invalid allowlist name"),
        (("allowlists", "check", "banana"), "'banana'"),
        (("allowlists", "list", "-o", "yaml"), "unknown output format"),
    ]:
        code, msg = _run(cfg, *args)
        assert code == 2 and expected in msg, (args, msg)
    assert _run(cfg, "allowlists", "create", "x", "-d", "")[0] == 0
    code, msg = _run(cfg, "allowlists", "add", "x", "1.2.3.4", "--expiration", "-5m")
    assert code == 2 and "must be positive" in msg
    code, msg = _run(cfg, "allowlists", "add", "x", "1.2.3.999")
    assert code == 2 and "1.2.3.999" in msg
