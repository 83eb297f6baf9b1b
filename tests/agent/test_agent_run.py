"""``crowdwatch run``: first run creates the configuration and a local machine; the agent
pushes over loopback HTTP to its own LAPI; a decision appears for the attacker."""

from __future__ import annotations

import signal
import stat
import subprocess
import urllib.request
from pathlib import Path

import orjson
from agent_support import CROWDWATCH, attack_line, wait_for
from lapi_thread import free_port

from crowdwatch.client.lapi import load_credentials
from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.storage.alerts import AlertQuery


def _start(config_dir: Path, port: int, out: Path) -> subprocess.Popen[bytes]:
    with open(out, "ab") as f:
        return subprocess.Popen(
            [CROWDWATCH, "--config-dir", str(config_dir), "run", "--listen", f"127.0.0.1:{port}"],
            stdout=f,
            stderr=subprocess.STDOUT,
        )


def _login(url: str, login: str, password: str) -> int:
    body = orjson.dumps({"machine_id": login, "password": password})
    req = urllib.request.Request(
        url.rstrip("/") + "/v1/watchers/login", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except OSError:
        return 0


def test_run_first_use_then_detects(tmp_path: Path) -> None:
    config_dir = tmp_path / "cw"
    out = tmp_path / "run.log"
    port = free_port()
    proc = _start(config_dir, port, out)
    try:
        cred_path = config_dir / "local_api_credentials.yaml"
        wait_for(cred_path.exists, 30, f"the credentials file\n{out.read_text()}")
        assert stat.S_IMODE(cred_path.stat().st_mode) == 0o600
        creds = load_credentials(cred_path)
        assert creds.url == f"http://127.0.0.1:{port}/"
        wait_for(lambda: _login(creds.url, creds.login, creds.password) == 200, 30, "a login to the LAPI")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, out.read_text()

        # watch a log, start again: the same credentials are kept
        log = tmp_path / "auth.log"
        log.touch()
        (config_dir / "acquis.yaml").write_text(
            f"source: file\nfilenames: [{log}]\nlabels:\n  type: syslog\nstart_from: beginning\n"
        )
        (config_dir / "config.yaml").write_text(
            (config_dir / "config.yaml").read_text() + "prometheus:\n  enabled: false\n"
        )
        proc = _start(config_dir, port, out)
        with open(log, "a") as f:
            f.writelines(attack_line(k, "192.0.2.200") for k in range(6))
        cfg = load_config(config_dir, create=False)
        service = open_lapi(cfg)
        try:

            def decided() -> bool:
                rows = service.search_alerts(AlertQuery(value="192.0.2.200"))
                return any(r.get("decisions") for r in rows)

            wait_for(decided, 30, f"a decision for the attacker\n{out.read_text()}")
        finally:
            service.db.dispose()
        assert load_credentials(cred_path) == creds
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
