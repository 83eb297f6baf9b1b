"""The README quick start: replay the bundled sample attack logs through the bundled content."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path


def test_quickstart_replay_of_bundled_samples(tmp_path: Path) -> None:
    env = {**os.environ, "CROWDWATCH_CONFIG_DIR": str(tmp_path / "cw")}
    proc = subprocess.run(
        [sys.executable, "-m", "crowdwatch.cli.main", "replay", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    by_file = {Path(s["file"]).name: s for s in doc["sources"]}
    assert (by_file["nginx-access.log"]["lines_read"], by_file["nginx-access.log"]["parsed"]) == (300, 300)
    assert (by_file["auth.log"]["lines_read"], by_file["auth.log"]["parsed"]) == (300, 237)
    summary = doc["summary"]
    assert (summary["parsed"], summary["unparsed"], summary["alerts"]) == (537, 63, 15)
    alerts = Counter(a["scenario"] for a in doc["alerts"])
    assert alerts == {"crowdwatch/http-probing": 3, "crowdwatch/ssh-bf": 12}
    probing = next(a for a in doc["alerts"] if a["scenario"] == "crowdwatch/http-probing")
    assert probing["source"]["scope"] == "Ip" and probing["events_count"] > 10
    assert {m["key"] for m in probing["events"][0]["meta"]} >= {"http_path", "http_status", "source_ip"}
    assert (tmp_path / "cw" / "config.yaml").is_file()

    human = subprocess.run(
        [sys.executable, "-m", "crowdwatch.cli.main", "replay"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert human.returncode == 0, human.stderr
    assert "Alerts (15)" in human.stdout
    assert "crowdwatch/http-probing" in human.stdout and "crowdwatch/ssh-bf" in human.stdout
    assert "600 lines read: 537 parsed, 63 unparsed, 0 whitelisted" in human.stdout
    assert "15 overflows, 0 whitelisted by postoverflows, 15 alerts" in human.stdout
