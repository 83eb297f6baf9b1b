"""``crowdwatch lapi`` / ``machines`` / ``bouncers`` as a user runs them, and CrowdSec's own
``cscli`` 1.4.6 (when installed) driving that server with a credentials file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import free_port

CSCLI = shutil.which("cscli") or "/usr/bin/cscli"
CROWDWATCH = [sys.executable, "-m", "crowdwatch.cli.main"]


def _cw(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CROWDWATCH, "--config-dir", str(config_dir), *args], capture_output=True, text=True, timeout=60
    )


@dataclass
class Running:
    config_dir: Path
    url: str
    proc: subprocess.Popen[str]


@pytest.fixture
def lapi_process(tmp_path: Path) -> Iterator[Running]:
    cfg = tmp_path / "cw"
    r = _cw(cfg, "machines", "add", "cscli", "--password", "cscli-password-1")
    assert r.returncode == 0, r.stderr
    assert "successfully added" in r.stdout
    r = _cw(cfg, "bouncers", "add", "fw", "--key", "fw-key-0123456789")
    assert r.returncode == 0 and "fw-key-0123456789" in r.stdout
    r = _cw(cfg, "bouncers", "add", "fw", "--key", "other-key-0123456789")
    assert r.returncode == 2 and "already exists" in r.stderr
    port = free_port()
    proc = subprocess.Popen(
        [*CROWDWATCH, "--config-dir", str(cfg), "lapi", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    running = Running(cfg, url, proc)
    yield running
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_lapi_command_serves_and_stops_on_sigterm(lapi_process: Running) -> None:
    assert (lapi_process.config_dir / "data" / "crowdwatch.db").is_file()
    req = urllib.request.Request(
        lapi_process.url + "/v1/decisions/stream?startup=true", headers={"X-Api-Key": "fw-key-0123456789"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read()) == {"new": [], "deleted": []}
    lapi_process.proc.send_signal(signal.SIGTERM)
    assert lapi_process.proc.wait(10) == 0


def test_lapi_command_reports_bad_listen_and_profiles(tmp_path: Path) -> None:
    r = _cw(tmp_path / "a", "lapi", "--listen", "nowhere")
    assert r.returncode == 2 and "expected HOST:PORT" in r.stderr
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "profiles.yaml").write_text("name: x\nfilters: ['Alert.Bogus']\n")
    r = _cw(tmp_path / "b", "lapi", "--listen", f"127.0.0.1:{free_port()}")
    assert r.returncode == 2 and "profiles.yaml:2:11: filters[0]" in r.stderr.replace("\n", "")


def _cscli_config(tmp: Path, url: str) -> Path:
    (tmp / "hub").mkdir(parents=True)
    (tmp / "data").mkdir()
    (tmp / "hub" / ".index.json").write_text("{}")
    (tmp / "lapi.yaml").write_text(f"url: {url}/\nlogin: cscli\npassword: cscli-password-1\n")
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"common: {{daemonize: false, log_media: stdout, log_level: error, working_dir: .}}\n"
        f"config_paths: {{config_dir: {tmp}/, data_dir: {tmp}/data/, simulation_path: {tmp}/simulation.yaml,"
        f" hub_dir: {tmp}/hub/, index_path: {tmp}/hub/.index.json}}\n"
        f"api: {{client: {{credentials_path: {tmp}/lapi.yaml}}}}\n"
        "prometheus: {enabled: false}\n"
    )
    return cfg


@pytest.mark.skipif(not os.access(CSCLI, os.X_OK), reason="cscli (CrowdSec 1.4.6) is not installed")
def test_cscli_146_lists_adds_deletes_decisions_and_inspects_alerts(
    lapi_process: Running, tmp_path: Path
) -> None:
    cfg = _cscli_config(tmp_path / "cscli", lapi_process.url)

    def cscli(*args: str) -> str:
        r = subprocess.run([CSCLI, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    assert "No active decisions" in cscli("decisions", "list")
    cscli("decisions", "add", "--ip", "1.2.3.4", "--duration", "2h", "--reason", "manual test")
    cscli("decisions", "add", "--range", "10.0.0.0/24", "--type", "captcha")
    alerts = json.loads(cscli("decisions", "list", "-o", "json"))
    decisions = {d["value"]: d for a in alerts for d in a["decisions"]}
    assert set(decisions) == {"1.2.3.4", "10.0.0.0/24"}
    assert decisions["10.0.0.0/24"]["type"] == "captcha" and decisions["1.2.3.4"]["origin"] == "cscli"
    assert decisions["1.2.3.4"]["duration"].startswith("1h59m")
    by_ip = json.loads(cscli("decisions", "list", "--ip", "10.0.0.9", "-o", "json"))
    assert [d["value"] for a in by_ip for d in a["decisions"]] == ["10.0.0.0/24"]
    listed = json.loads(cscli("alerts", "list", "-o", "json"))
    assert sorted(a["scenario"] for a in listed) == [
        "manual 'captcha' from 'cscli'",
        "manual test",
    ]
    alert_id = str(min(a["id"] for a in listed))
    inspected = json.loads(cscli("alerts", "inspect", alert_id, "-o", "json"))
    assert inspected["source"]["value"] == "1.2.3.4" and inspected["machine_id"] == "cscli"
    req = urllib.request.Request(
        lapi_process.url + "/v1/decisions/stream?startup=true", headers={"X-Api-Key": "fw-key-0123456789"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert sorted(d["value"] for d in json.loads(resp.read())["new"]) == ["1.2.3.4", "10.0.0.0/24"]
    cscli("decisions", "delete", "--ip", "1.2.3.4")
    cscli("decisions", "delete", "--id", str(decisions["10.0.0.0/24"]["id"]))
    assert "No active decisions" in cscli("decisions", "list")
    cscli("alerts", "delete", "--all")
    assert "No active alerts" in cscli("alerts", "list")
