"""(c) crowdsec-custom-bouncer (Debian package, unchanged) against crowdwatch's LAPI in stream
mode: its script is called with ``add`` for a new decision and ``del`` once it is deleted."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .int_support import Lapi, require_binary, stop_process, wait_for

SCRIPT = """\
#!/bin/sh
# Append one line per call: the arguments, tab-separated.
printf '%s\\t' "$@" >> "{log}"
printf '\\n' >> "{log}"
"""


def _calls(log: Path) -> list[list[str]]:
    if not log.is_file():
        return []
    return [line.rstrip("\t").split("\t") for line in log.read_text().splitlines() if line]


def test_custom_bouncer_sees_added_and_deleted_decisions(lapi: Lapi, tmp_path: Path) -> None:
    binary = require_binary("crowdsec-custom-bouncer", "crowdsec-custom-bouncer")
    calls = tmp_path / "calls.log"
    script = tmp_path / "record.sh"
    script.write_text(SCRIPT.format(log=calls))
    script.chmod(0o755)
    cfg = tmp_path / "custom-bouncer.yaml"
    cfg.write_text(
        json.dumps(
            {
                "bin_path": str(script),
                "feed_via_stdin": False,
                "total_retries": 0,
                "scenarios_containing": [],
                "scenarios_not_containing": [],
                "origins": [],
                "piddir": str(tmp_path),
                "update_frequency": "1s",
                "cache_retention_duration": "10s",
                "daemonize": False,
                "log_mode": "stdout",
                "log_level": "info",
                "api_url": lapi.url + "/",
                "api_key": lapi.key,
                "prometheus": {"enabled": False},
            }
        )
    )
    lapi.ban("198.51.100.7", "2h", "integration custom")
    out = tmp_path / "bouncer.log"
    with out.open("w") as sink:
        proc = subprocess.Popen([binary, "-c", str(cfg)], stdout=sink, stderr=subprocess.STDOUT)
    try:

        def seen(verb: str, ip: str) -> list[str] | None:
            if proc.poll() is not None:
                raise AssertionError(f"bouncer exited {proc.returncode}:\n{out.read_text()[-2000:]}")
            return next((c for c in _calls(calls) if c[:2] == [verb, ip]), None)

        # the decision present at startup, then one added while the bouncer runs
        add = wait_for(lambda: seen("add", "198.51.100.7"), "add 198.51.100.7 (startup stream)", log=out)
        _, _, duration, reason, doc = add
        assert reason == "integration custom"
        assert 7000 <= int(duration) <= 7200  # seconds left, as the bouncer passes them
        decision = json.loads(doc)
        assert (decision["value"], decision["type"], decision["scope"]) == ("198.51.100.7", "ban", "Ip")
        assert decision["origin"] == "cscli"

        lapi.ban("2001:db8::42", "30m", "integration v6")
        wait_for(lambda: seen("add", "2001:db8::42"), "add 2001:db8::42 (delta stream)", log=out)
        assert not seen("del", "198.51.100.7")

        lapi.unban("198.51.100.7")
        delete = wait_for(lambda: seen("del", "198.51.100.7"), "del 198.51.100.7 (delta stream)", log=out)
        assert json.loads(delete[-1])["value"] == "198.51.100.7"
        assert not seen("del", "2001:db8::42")
        lapi.unban("2001:db8::42")
        wait_for(lambda: seen("del", "2001:db8::42"), "del 2001:db8::42 (delta stream)", log=out)
        # each decision was announced exactly once each way
        verbs = sorted((c[0], c[1]) for c in _calls(calls))
        assert verbs == [
            ("add", "198.51.100.7"),
            ("add", "2001:db8::42"),
            ("del", "198.51.100.7"),
            ("del", "2001:db8::42"),
        ]
    finally:
        stop_process(proc)
