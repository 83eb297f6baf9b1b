"""``crowdwatch machines|bouncers list|inspect|prune`` on a local SQLite database."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app
from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.storage.machines import BouncerSeen
from crowdwatch.lapi.timefmt import now as utcnow

_register_all()


def _run(cfg: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config-dir", str(cfg), *args])
    if isinstance(result.exception, CliError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _age(cfg: Path, machine: str, bouncer: str, by: timedelta) -> None:
    """Give ``machine`` a heartbeat and ``bouncer`` a pull ``by`` ago."""
    svc = open_lapi(load_config(str(cfg)))
    try:
        old = utcnow() - by
        svc.clock = lambda: old
        svc.heartbeat(machine)
        bid = svc.bouncer_for_key("old-bouncer-key-1")
        assert bid is not None and bid.name == bouncer
        svc.record_pulls({bid.id: BouncerSeen(old, None, "192.0.2.9", "cs-firewall-bouncer/v0.0.25")})
    finally:
        svc.db.dispose()


def test_machines_list_inspect_prune(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    assert _run(cfg, "machines", "add", "fresh", "--password", "pw-fresh-123")[0] == 0
    assert _run(cfg, "machines", "add", "old", "--password", "pw-old-123")[0] == 0
    assert _run(cfg, "bouncers", "add", "oldb", "--key", "old-bouncer-key-1")[0] == 0
    _age(cfg, "old", "oldb", timedelta(hours=2))

    code, out = _run(cfg, "machines", "list", "-o", "json")
    assert code == 0
    assert [(m["machineId"], m["isValidated"]) for m in json.loads(out)] == [("fresh", True), ("old", True)]
    code, out = _run(cfg, "machines", "list")
    assert code == 0 and "fresh" in out and "Last Heartbeat" in out
    code, out = _run(cfg, "machines", "list", "-o", "raw")
    assert [r["name"] for r in csv.DictReader(io.StringIO(out))] == ["fresh", "old"]

    code, out = _run(cfg, "machines", "inspect", "old", "-o", "json")
    assert code == 0 and json.loads(out)["last_heartbeat"] is not None
    code, msg = _run(cfg, "machines", "inspect", "nobody")
    assert code == 2 and "not found" in msg

    assert _run(cfg, "machines", "prune", "--duration", "3h", "--force") == (0, "No machines to prune.\n")
    code, out = _run(cfg, "machines", "prune", "--duration", "1h", "--force")
    assert code == 0 and "old" in out and "1 machine(s) pruned" in out
    code, out = _run(cfg, "machines", "list", "-o", "json")
    assert [m["machineId"] for m in json.loads(out)] == ["fresh"]
    code, msg = _run(cfg, "machines", "prune", "--duration", "soon")
    assert code == 2 and "soon" in msg


def test_machines_prune_asks_and_not_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    assert _run(cfg, "machines", "add", "ok", "--password", "pw-ok-12345")[0] == 0
    svc = open_lapi(load_config(str(cfg)))
    try:
        svc.register_machine("pending", "pw-pending-1")
    finally:
        svc.db.dispose()
    result = CliRunner().invoke(
        app, ["--config-dir", str(cfg), "machines", "prune", "--not-validated"], input="n\n"
    )
    assert result.exit_code == 0 and "pending" in result.output and "pruned" not in result.output
    code, out = _run(cfg, "machines", "prune", "--not-validated", "--force")
    assert code == 0 and "1 machine(s) pruned" in out
    code, out = _run(cfg, "machines", "list", "-o", "json")
    assert [m["machineId"] for m in json.loads(out)] == ["ok"]


def test_bouncers_list_inspect_prune(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    assert _run(cfg, "machines", "add", "m", "--password", "pw-m-123456")[0] == 0
    assert _run(cfg, "bouncers", "add", "oldb", "--key", "old-bouncer-key-1")[0] == 0
    assert _run(cfg, "bouncers", "add", "newb", "--key", "new-bouncer-key-1")[0] == 0
    _age(cfg, "m", "oldb", timedelta(hours=3))

    code, out = _run(cfg, "bouncers", "list", "-o", "json")
    listed = {b["name"]: b for b in json.loads(out)}
    assert set(listed) == {"oldb", "newb"}
    assert listed["oldb"]["type"] == "cs-firewall-bouncer" and listed["oldb"]["ip_address"] == "192.0.2.9"
    code, out = _run(cfg, "bouncers", "list")
    assert code == 0 and "cs-firewall-bouncer" in out
    code, out = _run(cfg, "bouncers", "inspect", "newb", "-o", "json")
    assert code == 0 and json.loads(out)["last_pull"] is None
    code, out = _run(cfg, "bouncers", "inspect", "newb")
    assert code == 0 and "name: newb" in out
    code, msg = _run(cfg, "bouncers", "inspect", "ghost")
    assert code == 2 and "not found" in msg

    code, out = _run(cfg, "bouncers", "prune", "--duration", "2h", "--force")
    assert code == 0 and "1 bouncer(s) pruned" in out
    code, out = _run(cfg, "bouncers", "list", "-o", "json")
    assert [b["name"] for b in json.loads(out)] == ["newb"]
