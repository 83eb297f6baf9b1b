"""``lapi status`` and the remote mode of ``decisions``/``alerts`` against a real LAPI server
(started here on a free port, its own SQLite database), with a cscli-format credentials file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.lapi.helpers import LiveServer, free_port, make_alert
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app
from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage.alerts import AlertQuery

_register_all()


@dataclass
class Remote:
    server: LiveServer
    service: LapiService
    client_dir: Path  # the CLI's configuration: no LAPI of its own is used


def _run(cfg: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config-dir", str(cfg), *args])
    if isinstance(result.exception, CliError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


def _credentials(cfg: Path, url: str, password: str = "admin-password-1") -> None:
    load_config(str(cfg))
    (cfg / "local_api_credentials.yaml").write_text(f"url: {url}/\nlogin: admin\npassword: {password}\n")


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    svc = open_lapi(load_config(str(tmp_path / "server")))
    svc.register_machine("admin", "admin-password-1", "", True)
    server = LiveServer(svc)
    client_dir = tmp_path / "client"
    _credentials(client_dir, server.url)
    try:
        yield Remote(server, svc, client_dir)
    finally:
        server.stop()
        svc.db.dispose()


def _server_decisions(svc: LapiService) -> set[tuple[str, str]]:
    return {
        (d["value"], d["type"])
        for a in svc.search_alerts(AlertQuery(has_active_decision=True))
        for d in a["decisions"]
    }


def test_lapi_status(remote: Remote) -> None:
    cfg = remote.client_dir
    code, out = _run(cfg, "lapi", "status")
    assert code == 0, out
    assert f"username admin on {remote.server.url}" in out
    assert "You can successfully interact with Local API (LAPI)" in out and "health: up" in out
    code, out = _run(cfg, "lapi", "status", "-o", "json")
    doc = json.loads(out)
    assert (doc["url"], doc["login"], doc["authenticated"], doc["health"]) == (
        remote.server.url,
        "admin",
        True,
        "up",
    )
    assert remote.service.get_machine("admin")["updated_at"] is not None  # it did log in


def test_lapi_status_errors(remote: Remote, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    _credentials(wrong, remote.server.url, password="not-the-password")
    code, msg = _run(wrong, "lapi", "status")
    assert code == 2 and "login as 'admin' refused" in msg and "not-the-password" not in msg
    down = tmp_path / "down"
    _credentials(down, f"http://127.0.0.1:{free_port()}")
    code, msg = _run(down, "lapi", "status")
    assert code == 2 and "cannot connect" in msg and "is the LAPI (`crowdwatch lapi`) running" in msg
    missing = tmp_path / "missing"
    code, msg = _run(missing, "lapi", "status")
    assert code == 2 and "local_api_credentials.yaml" in msg and "machines add" in msg
    code, msg = _run(remote.client_dir, "lapi", "status", "--listen", "127.0.0.1:1")
    assert code == 2  # --listen belongs to the server, not to a subcommand


def test_remote_decisions_and_alerts(remote: Remote) -> None:
    cfg = remote.client_dir
    assert _run(cfg, "decisions", "add", "--ip", "1.2.3.4", "-d", "2h", "--remote") == (
        0,
        "Decision successfully added\n",
    )
    assert _run(cfg, "decisions", "add", "--range", "10.0.0.0/24", "-t", "captcha", "--remote")[0] == 0
    assert _server_decisions(remote.service) == {("1.2.3.4", "ban"), ("10.0.0.0/24", "captcha")}
    remote.service.create_alerts("admin", [make_alert("192.0.2.9", simulated=True)])

    code, out = _run(cfg, "decisions", "list", "--remote", "-o", "json")
    listed = {d["value"]: d for a in json.loads(out) for d in a["decisions"]}
    assert code == 0 and set(listed) == {"1.2.3.4", "10.0.0.0/24", "192.0.2.9"}
    assert str(listed["1.2.3.4"]["duration"]).startswith("1h59m")
    code, out = _run(cfg, "decisions", "list", "--remote", "--no-simu", "--ip", "10.0.0.7", "-o", "json")
    assert [d["value"] for a in json.loads(out) for d in a["decisions"]] == ["10.0.0.0/24"]
    code, out = _run(cfg, "decisions", "list", "--remote", "--type", "captcha")
    assert code == 0 and "10.0.0.0/24" in out and "1.2.3.4" not in out

    code, out = _run(cfg, "alerts", "list", "--remote", "-o", "json")
    alerts = json.loads(out)
    assert sorted(a["source"]["value"] for a in alerts) == ["1.2.3.4", "10.0.0.0/24", "192.0.2.9"]
    assert {a["machine_id"] for a in alerts} == {"admin"}
    code, out = _run(cfg, "alerts", "list", "--remote", "--ip", "10.0.0.5", "-o", "raw")
    assert code == 0 and "Range:10.0.0.0/24" in out and "1.2.3.4" not in out
    first = min(a["id"] for a in alerts)
    code, out = _run(cfg, "alerts", "inspect", str(first), "--remote")
    assert code == 0 and "source.value: 1.2.3.4" in out and "ban Ip:1.2.3.4" in out
    code, msg = _run(cfg, "alerts", "inspect", "9999", "--remote")
    assert code == 2 and "alert 9999 not found" in msg

    assert _run(cfg, "decisions", "delete", "--ip", "1.2.3.4", "--remote") == (0, "1 decision(s) deleted\n")
    did = listed["10.0.0.0/24"]["id"]
    assert _run(cfg, "decisions", "delete", "--id", str(did), "--remote") == (0, "1 decision(s) deleted\n")
    assert _run(cfg, "decisions", "delete", "--id", str(did), "--remote") == (0, "0 decision(s) deleted\n")
    assert _server_decisions(remote.service) == {("192.0.2.9", "ban")}
    assert _run(cfg, "alerts", "delete", "--id", str(first), "--remote") == (0, "1 alert(s) deleted\n")
    assert _run(cfg, "alerts", "delete", "--ip", "10.0.0.0/24", "--remote") == (0, "1 alert(s) deleted\n")
    assert _run(cfg, "alerts", "delete", "--all", "--remote") == (0, "1 alert(s) deleted\n")
    assert remote.service.search_alerts(AlertQuery()) == []
    assert not (cfg / "data" / "crowdwatch.db").exists()  # the client never opened a database


def test_server_disabled_in_config_means_remote(remote: Remote) -> None:
    cfg = remote.client_dir
    conf = cfg / "config.yaml"
    conf.write_text(conf.read_text().replace("    enable: true", "    enable: false"))
    assert _run(cfg, "decisions", "add", "--ip", "198.51.100.1")[0] == 0
    assert _server_decisions(remote.service) == {("198.51.100.1", "ban")}
    code, out = _run(cfg, "alerts", "list")
    assert code == 0 and "198.51.100.1" in out
    assert _run(cfg, "decisions", "delete", "--all") == (0, "1 decision(s) deleted\n")
    assert not (cfg / "data" / "crowdwatch.db").exists()
