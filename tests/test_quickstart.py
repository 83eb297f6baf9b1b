"""The README quick start: replay the bundled sample attack logs through the bundled parsers."""

import json
import os
import subprocess
import sys
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
    assert (by_file["auth.log"]["lines_read"], by_file["auth.log"]["parsed"]) == (300, 290)
    assert doc["summary"]["parsed"] == 590
    metas = [e["meta"] for e in doc["events"]]
    scans = [
        m for m in metas if m.get("http_status") == "404" and m.get("http_path") in ("/.env", "/.git/config")
    ]
    ssh_failures = [m for m in metas if m.get("log_type") == "ssh_failed-auth"]
    assert scans and len(ssh_failures) > 100
    assert (tmp_path / "cw" / "config.yaml").is_file()

    human = subprocess.run(
        [sys.executable, "-m", "crowdwatch.cli.main", "replay"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert human.returncode == 0, human.stderr
    assert "600 lines read, 590 parsed, 10 unparsed, 0 whitelisted" in human.stdout
