"""The pusher and client against CrowdSec 1.4.6's own LAPI (``crowdsec -no-cs``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_push_support import free_port, make_alert, wait_for

from crowdwatch.agent.pusher import Pusher
from crowdwatch.agent.state import AgentState
from crowdwatch.client.lapi import Credentials, LapiAuthFailed, LapiClient, LapiRejected

CROWDSEC = "/usr/bin/crowdsec"
CSCLI = "/usr/bin/cscli"
PASSWORD = "agent-password-0123456789"

pytestmark = pytest.mark.skipif(
    not (os.access(CROWDSEC, os.X_OK) and os.access(CSCLI, os.X_OK)),
    reason="CrowdSec 1.4.6 (/usr/bin/crowdsec, /usr/bin/cscli) is not installed",
)

PROFILES = """\
name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
"""


def _config(d: Path, port: int) -> Path:
    """A throwaway CrowdSec configuration: LAPI only, SQLite in ``d``."""
    for sub in ("hub", "data"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "hub" / ".index.json").write_text("{}")
    (d / "simulation.yaml").write_text("simulation: off\n")
    (d / "profiles.yaml").write_text(PROFILES)
    (d / "lapi.yaml").write_text(f"url: http://127.0.0.1:{port}/\nlogin: agent\npassword: {PASSWORD}\n")
    cfg = d / "config.yaml"
    cfg.write_text(
        "common: {daemonize: false, log_media: stdout, log_level: error, working_dir: .}\n"
        f"config_paths: {{config_dir: {d}/, data_dir: {d}/data/, simulation_path: {d}/simulation.yaml,"
        f" hub_dir: {d}/hub/, index_path: {d}/hub/.index.json}}\n"
        f"db_config: {{type: sqlite, db_path: {d}/data/crowdsec.db, use_wal: true}}\n"
        f"api:\n  client: {{credentials_path: {d}/lapi.yaml}}\n"
        f"  server: {{listen_uri: 127.0.0.1:{port}, profiles_path: {d}/profiles.yaml, log_level: error}}\n"
        "prometheus: {enabled: false}\n"
    )
    return cfg


def _cscli(cfg: Path, *args: str) -> str:
    r = subprocess.run([CSCLI, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.fixture
def crowdsec(tmp_path: Path) -> Iterator[tuple[Credentials, Path]]:
    port = free_port()
    d = tmp_path / "crowdsec"
    cfg = _config(d, port)
    _cscli(cfg, "machines", "add", "agent", "--password", PASSWORD, "-f", str(d / "unused.yaml"))
    log = (tmp_path / "crowdsec.log").open("wb")
    proc = subprocess.Popen([CROWDSEC, "-c", str(cfg), "-no-cs"], stdout=log, stderr=log, cwd=d)

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "crowdsec.log").read_text()[-2000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    try:
        wait_for(up, 60, "crowdsec's LAPI")
        yield Credentials(url=f"http://127.0.0.1:{port}/", login="agent", password=PASSWORD), cfg
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_pushed_alerts_land_in_crowdsec(crowdsec: tuple[Credentials, Path], tmp_path: Path) -> None:
    creds, cfg = crowdsec
    state = AgentState(tmp_path / "agent-state.db")
    state.checkpoint({}, {}, [make_alert(i, ip=f"192.0.2.{i + 1}") for i in range(60)], None)

    async def go() -> dict[str, int]:
        async with LapiClient(creds, scenarios=["crowdsecurity/ssh-bf"]) as client:
            pusher = Pusher(state, client, batch=25)
            task = asyncio.create_task(pusher.run())
            deadline = time.monotonic() + 30
            while state.queue_len() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await pusher.stop(2)
            assert task.done()
            assert pusher.heartbeats >= 1
            found = await client.request("GET", "/v1/alerts", params={"limit": "100"})
            assert isinstance(found, list)
            assert sorted(a["message"] for a in found) == sorted(f"alert {i}" for i in range(60))
            return pusher.stats

    assert asyncio.run(go()) == {"pushed": 60, "push_errors": 0, "rejected": 0, "queued": 0}
    decisions = json.loads(_cscli(cfg, "decisions", "list", "-o", "json") or "[]")
    banned = {d["value"] for a in decisions for d in a["decisions"]}
    assert banned == {f"192.0.2.{i + 1}" for i in range(60)}
    machines = json.loads(_cscli(cfg, "machines", "list", "-o", "json"))
    (m,) = [m for m in machines if m["machineId"] == "agent"]
    assert m["last_heartbeat"]  # (1.4.6 keeps the version cscli registered)


def test_wrong_password_and_poison_alerts_against_crowdsec(
    crowdsec: tuple[Credentials, Path], tmp_path: Path
) -> None:
    creds, _ = crowdsec
    state = AgentState(tmp_path / "agent-state.db")
    # 1.4.6 answers 400 to a type error and 500 "validation failure" to a missing field
    bad: dict[int, dict[str, Any]] = {2: {"start_at": 12}, 5: {"scenario": None}}
    state.checkpoint({}, {}, [make_alert(i, **bad.get(i, {})) for i in range(8)], None)

    async def go() -> dict[str, int]:
        async with LapiClient(Credentials(creds.url, creds.login, "not-the-password")) as wrong:
            with pytest.raises(LapiAuthFailed) as info:
                await wrong.heartbeat()
            assert info.value.status == 401 and "incorrect Username or Password" in str(info.value)
            assert "not-the-password" not in str(info.value)
        async with LapiClient(creds) as client:
            with pytest.raises(LapiRejected) as rejected:
                await client.push_alerts([make_alert(9, scenario=None)])
            assert rejected.value.invalid and rejected.value.message.startswith("validation failure")
            pusher = Pusher(state, client, batch=50)
            task = asyncio.create_task(pusher.run())
            deadline = time.monotonic() + 30
            while state.queue_len() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await pusher.stop(2)
            assert task.done()
            found = await client.request("GET", "/v1/alerts", params={"limit": "100"})
            assert sorted(a["message"] for a in found) == [f"alert {i}" for i in range(8) if i not in bad]
            return pusher.stats

    assert asyncio.run(go()) == {"pushed": 6, "push_errors": 0, "rejected": 2, "queued": 0}
