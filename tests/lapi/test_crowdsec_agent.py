"""CrowdSec's own agent (1.4.6, agent-only mode) pushing alerts to crowdwatch's LAPI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import BOUNCER_KEY, LiveServer

CROWDSEC = shutil.which("crowdsec") or "/usr/bin/crowdsec"
HUB = Path(__file__).resolve().parents[3] / "shared" / "hub"

SCENARIO = """\
type: leaky
name: test/ssh-bf
description: ssh bruteforce (1.4.6-compatible labels)
filter: "evt.Meta.log_type == 'ssh_failed-auth'"
groupby: evt.Meta.source_ip
leakspeed: 10s
capacity: 5
labels:
  remediation: true
"""

PARSERS = ("crowdsecurity/syslog-logs", "crowdsecurity/sshd-logs", "crowdsecurity/dateparse-enrich")


def _agent_config(tmp: Path, url: str) -> Path:
    index = json.loads((HUB / ".index.json").read_text())
    for name in PARSERS:
        item = index["parsers"][name]
        dest = tmp / "parsers" / item["stage"]
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(HUB / item["path"], dest / Path(item["path"]).name)
    (tmp / "scenarios").mkdir()
    (tmp / "scenarios" / "ssh-bf.yaml").write_text(SCENARIO)
    shutil.copytree(HUB / "patterns", tmp / "patterns")
    for d in ("data", "hub"):
        (tmp / d).mkdir()
    (tmp / "hub" / ".index.json").write_text(
        json.dumps({t: {} for t in ("parsers", "scenarios", "collections")})
    )
    (tmp / "simulation.yaml").write_text("simulation: off\n")
    (tmp / "acquis.yaml").write_text("")
    (tmp / "lapi.yaml").write_text(f"url: {url}/\nlogin: agent\npassword: agent-password\n")
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"common: {{daemonize: false, log_media: stdout, log_level: info, working_dir: .}}\n"
        f"config_paths: {{config_dir: {tmp}/, data_dir: {tmp}/data/, simulation_path: {tmp}/simulation.yaml,"
        f" hub_dir: {tmp}/hub/, index_path: {tmp}/hub/.index.json}}\n"
        f"crowdsec_service: {{acquisition_path: {tmp}/acquis.yaml, parser_routines: 1}}\n"
        f"db_config: {{type: sqlite, db_path: {tmp}/data/crowdsec.db}}\n"
        f"api: {{client: {{credentials_path: {tmp}/lapi.yaml}}}}\n"
        "prometheus: {enabled: false}\n"
    )
    return cfg


@pytest.mark.skipif(not os.access(CROWDSEC, os.X_OK), reason="crowdsec (1.4.6) is not installed")
@pytest.mark.skipif(not (HUB / ".index.json").is_file(), reason="shared hub not available")
@pytest.mark.parametrize("db_config", ["sqlite"], indirect=True)
def test_agent_alerts_become_decisions(live: LiveServer, tmp_path: Path) -> None:
    cfg = _agent_config(tmp_path / "agent", live.url)
    now = time.time()
    log = tmp_path / "auth.log"
    log.write_text(
        "".join(
            time.strftime("%b %d %H:%M:%S", time.gmtime(now - 60 + i))
            + f" host sshd[1234]: Failed password for invalid user u{i} from 203.0.113.7 port 4{i}000 ssh2\n"
            for i in range(8)
        )
    )
    r = subprocess.run(
        [CROWDSEC, "-c", str(cfg), "-dsn", f"file://{log}", "-type", "syslog", "-no-api"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "TZ": "UTC"},
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    stream = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).json
    assert [(d["value"], d["type"], d["origin"], d["scenario"]) for d in stream["new"]] == [
        ("203.0.113.7", "ban", "crowdsec", "test/ssh-bf")
    ]
    (alert,) = live.call("GET", "/v1/alerts", token=live.login()).json
    assert alert["machine_id"] == "agent" and alert["events_count"] == 6 and len(alert["events"]) == 6
