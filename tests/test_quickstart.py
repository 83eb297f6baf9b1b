"""The README quick start.

``scripts/demo`` runs ``crowdwatch demo``: the real single-machine service (``crowdwatch run``)
follows demo logs the bundled sample attack is appended to live, and the attackers get
decisions. ``crowdwatch replay`` (forensic detection on the same samples) stays.
"""

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

# the attackers of content/samples, by scenario (what a forensic replay of them finds)
SSH_BF = {
    "37.203.206.29",
    "94.70.33.25",
    "37.129.49.105",
    "62.227.224.82",
    "89.68.250.14",
    "37.70.241.50",
    "80.142.35.8",
    "80.12.44.87",
    "46.245.182.102",
    "62.141.115.19",
    "94.37.152.34",
    "212.124.7.90",
}
HTTP_PROBING = {"62.120.245.43", "94.203.225.110", "37.244.178.49"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cw(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crowdwatch.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _demo_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A fresh configuration directory on free ports (not the default 8080/6060)."""
    cw = tmp_path / "cw"
    cw.mkdir()
    (cw / "config.yaml").write_text(
        f"api:\n  server:\n    listen_uri: 127.0.0.1:{_free_port()}\n"
        f"prometheus:\n  listen_port: {_free_port()}\n",
        encoding="utf-8",
    )
    return {**os.environ, "CROWDWATCH_CONFIG_DIR": str(cw)}, cw


def test_quickstart_demo_runs_the_service_on_live_sample_logs(tmp_path: Path) -> None:
    env, cw = _demo_env(tmp_path)
    started = datetime.now(UTC)
    proc = _cw(env, "demo", "-o", "json", "--duration", "3", timeout=150)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)

    # the demo acquisition was written (the default acquis.yaml has no source) and followed
    acquis = cw / "acquis.d" / "crowdwatch-demo.yaml"
    assert doc["acquisition"] == {"file": str(acquis), "written": True}
    assert "start_from: beginning" in acquis.read_text()
    assert doc["lines_appended"] == 600
    access = cw / "data" / "demo" / "access.log"
    lines = access.read_text().splitlines()
    assert len(lines) == 300
    # timestamps rewritten to "now": the log looks live
    stamp = lines[0].split("[", 1)[1].split("]", 1)[0]
    when = datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z")
    assert started - timedelta(seconds=2) <= when <= datetime.now(UTC)
    assert len((cw / "data" / "demo" / "auth.log").read_text().splitlines()) == 300

    # every attacker of the samples got a ban through agent → LAPI, with the right scenario
    assert set(doc["expected_attackers"]) == SSH_BF | HTTP_PROBING
    by_ip: dict[str, set[str]] = {}
    for d in doc["decisions"]:
        assert d["type"] == "ban" and d["origin"] == "crowdsec" and d["scope"] == "Ip"
        by_ip.setdefault(d["ip"], set()).add(d["scenario"])
    assert set(by_ip) >= SSH_BF | HTTP_PROBING
    assert all(by_ip[ip] == {"crowdwatch/ssh-bf"} for ip in SSH_BF)
    assert all(by_ip[ip] == {"crowdwatch/http-probing"} for ip in HTTP_PROBING)
    assert 0 < doc["seconds_to_first_decision"] <= doc["seconds_to_all_decisions"] < 60
    assert doc["lapi_url"].startswith("http://127.0.0.1:") and ":8080/" not in doc["lapi_url"]
    assert doc["service"]["exit_code"] == 0  # stopped cleanly by SIGTERM

    # the decisions are in the service's database, as the admin CLI sees them
    listed = _cw(env, "decisions", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    stored = {a["source"]["value"]: a for a in json.loads(listed.stdout)}
    assert set(stored) >= SSH_BF | HTTP_PROBING
    assert all(a["machine_id"].endswith("-crowdwatch") for a in stored.values())
    assert "agent stopped" in Path(doc["run_log"]).read_text()


@pytest.mark.slow
def test_quickstart_demo_twice_in_a_row_shows_the_decisions_again(tmp_path: Path) -> None:
    """A second demo right after the first: the first one's bucket state (blackhole windows
    of 1-5 min) must not silence the attackers: their second attack is detected and pushed."""
    env, _ = _demo_env(tmp_path)
    first = _cw(env, "demo", "-o", "json", "--duration", "1", timeout=150)
    assert first.returncode == 0, first.stderr
    second = _cw(env, "demo", "-o", "json", "--duration", "1", timeout=150)
    assert second.returncode == 0, second.stderr
    assert "reset the agent state of the previous demo" in " ".join(second.stderr.split())
    doc = json.loads(second.stdout)
    assert doc["acquisition"]["written"] is False
    assert {d["ip"] for d in doc["decisions"]} >= SSH_BF | HTTP_PROBING
    first_ids = {d["alert_id"] for d in json.loads(first.stdout)["decisions"]}
    new_alerts = {d["ip"] for d in doc["decisions"] if d["alert_id"] not in first_ids}
    assert new_alerts >= SSH_BF | HTTP_PROBING  # the second attack was detected and pushed again
    listed = _cw(env, "alerts", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    per_ip = Counter(a["source"]["value"] for a in json.loads(listed.stdout))
    assert all(per_ip[ip] == 2 for ip in SSH_BF | HTTP_PROBING)


def test_quickstart_demo_leaves_a_real_acquisition_alone(tmp_path: Path) -> None:
    env, cw = _demo_env(tmp_path)
    real = tmp_path / "real.log"
    real.write_text("")
    acquis = f"filenames:\n  - {real}\nlabels:\n  type: syslog\n"
    (cw / "acquis.yaml").write_text(acquis)
    proc = _cw(env, "demo")
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())  # Rich wraps long lines
    assert "already has data sources" in message and str(cw / "acquis.yaml") in message
    assert "--config-dir" in message and "Traceback" not in message
    assert (cw / "acquis.yaml").read_text() == acquis
    assert not (cw / "acquis.d" / "crowdwatch-demo.yaml").exists()


def test_quickstart_replay_of_bundled_samples(tmp_path: Path) -> None:
    env = {**os.environ, "CROWDWATCH_CONFIG_DIR": str(tmp_path / "cw")}
    proc = _cw(env, "replay", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    by_file = {Path(s["file"]).name: s for s in doc["sources"]}
    assert (by_file["nginx-access.log"]["lines_read"], by_file["nginx-access.log"]["parsed"]) == (300, 300)
    assert (by_file["auth.log"]["lines_read"], by_file["auth.log"]["parsed"]) == (300, 237)
    summary = doc["summary"]
    assert (summary["parsed"], summary["unparsed"], summary["alerts"]) == (537, 63, 15)
    alerts = Counter(a["scenario"] for a in doc["alerts"])
    assert alerts == {"crowdwatch/http-probing": 3, "crowdwatch/ssh-bf": 12}
    assert {a["source"]["value"] for a in doc["alerts"]} == SSH_BF | HTTP_PROBING
    probing = next(a for a in doc["alerts"] if a["scenario"] == "crowdwatch/http-probing")
    assert probing["source"]["scope"] == "Ip" and probing["events_count"] > 10
    assert {m["key"] for m in probing["events"][0]["meta"]} >= {"http_path", "http_status", "source_ip"}
    assert (tmp_path / "cw" / "config.yaml").is_file()

    human = _cw(env, "replay")
    assert human.returncode == 0, human.stderr
    assert "Alerts (15)" in human.stdout
    assert "crowdwatch/http-probing" in human.stdout and "crowdwatch/ssh-bf" in human.stdout
    assert "600 lines read: 537 parsed, 63 unparsed, 0 whitelisted" in human.stdout
    assert "15 overflows, 0 whitelisted by postoverflows, 15 alerts" in human.stdout
