import gzip
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app
from crowdwatch.hub.loadout import bundled_content_dir

_register_all()

PROBES = ("/.env", "/.git/config", "/admin/", "/backup.sql", "/phpinfo.php", "/db.sql", "/.htpasswd")
PROBES += ("/server-status", "/wp-config.php.bak", "/secrets.json", "/debug.log", "/.aws/credentials")
SSH = "Mar 10 08:00:{s:02d} web1 sshd[4242]: Failed password for root from 198.51.100.7 port 5{s:04d} ssh2\n"


def _probe_lines(ip: str = "203.0.113.9", start: int = 0) -> str:
    """12 distinct 404s, one a second: crowdwatch/http-probing (10 tokens, one back every 10 s)
    grants 11 of them and overflows on the 12th."""
    return "".join(
        f'{ip} - - [10/Mar/2024:08:00:{start + i:02d} +0000] "GET {p} HTTP/1.1" 404 153 "-" "zgrab"\n'
        for i, p in enumerate(PROBES)
    )


def _run(args: list[str], tmp_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config-dir", str(tmp_path / "cfg"), *args])
    if isinstance(result.exception, CliError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _json(args: list[str], tmp_path: Path) -> dict:
    code, out = _run([*args, "-o", "json"], tmp_path)
    assert code == 0, out
    return json.loads(out)


def test_replay_json_alerts_and_summary(tmp_path: Path) -> None:
    log = tmp_path / "access.log.gz"
    log.write_bytes(gzip.compress((_probe_lines() + "garbage line\n\n" + "x" * 300 + "\n").encode()))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.yaml").write_text("crowdwatch:\n  max_line_bytes: 250\n")
    doc = _json(["replay", "--file", str(log), "--type", "nginx"], tmp_path)
    s = doc["summary"]
    assert (s["lines_read"], s["parsed"], s["unparsed"], s["too_long"]) == (14, 12, 1, 1)
    assert (s["overflows"], s["alerts"]) == (1, 1)
    assert s["whitelisted"] == 0 and s["buckets"] >= 1 and s["poured"] >= 12
    src = doc["sources"][0]
    assert (src["too_long"], src["empty_skipped"], src["parsed"], src["alerts"]) == (1, 1, 12, 1)
    [alert] = doc["alerts"]
    assert alert["scenario"] == "crowdwatch/http-probing"
    assert alert["source"] == {
        "ip": "203.0.113.9",
        "range": "",
        "scope": "Ip",
        "value": "203.0.113.9",
        "as_number": "",
        "as_name": "",
        "cn": "",
        "latitude": 0.0,
        "longitude": 0.0,
    }
    assert (alert["events_count"], alert["capacity"], alert["leakspeed"]) == (12, 10, "10s")
    assert (alert["start_at"], alert["stop_at"]) == ("2024-03-10T08:00:00Z", "2024-03-10T08:00:11Z")
    assert alert["remediation"] is True and alert["simulated"] is False
    assert alert["events"][-1]["timestamp"] == "2024-03-10T08:00:11Z"
    assert {"key": "http_path", "value": "/.aws/credentials"} in alert["events"][-1]["meta"]
    assert alert["message"].startswith(
        "Ip 203.0.113.9 performed 'crowdwatch/http-probing' (12 events over 11s)"
    )


def test_replay_is_deterministic(tmp_path: Path) -> None:
    web = tmp_path / "access.log"
    web.write_text(
        _probe_lines("203.0.113.9") + _probe_lines("198.51.100.20", 30) + _probe_lines("203.0.113.9", 45)
    )
    auth = tmp_path / "auth.log"
    auth.write_text("".join(SSH.format(s=s) for s in range(0, 30, 2)))
    args = ["replay", "-f", str(web), "-f", str(auth), "-t", "nginx", "-t", "syslog"]
    first, second = _json(args, tmp_path), _json(args, tmp_path)
    assert first["alerts"] == second["alerts"]
    assert [(a["scenario"], a["source"]["ip"]) for a in first["alerts"]] == [
        ("crowdwatch/http-probing", "203.0.113.9"),
        ("crowdwatch/http-probing", "198.51.100.20"),
        ("crowdwatch/ssh-bf", "198.51.100.7"),
    ]  # the later overflows of each source fall inside the blackhole of its first alert
    assert [s["alerts"] for s in first["sources"]] == [2, 1]


def test_replay_globs_several_files_in_order(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "b.log").write_text(_probe_lines("198.51.100.20"))
    (logs / "a.log").write_text(_probe_lines("203.0.113.9"))
    (logs / "c.txt").write_text(_probe_lines("192.0.2.1"))
    doc = _json(["replay", "-f", str(logs / "*.log"), "-f", str(logs / "a.log"), "-t", "nginx"], tmp_path)
    assert [Path(s["file"]).name for s in doc["sources"]] == ["a.log", "b.log"]  # sorted, each file once
    assert [a["source"]["ip"] for a in doc["alerts"]] == ["203.0.113.9", "198.51.100.20"]


def test_replay_human_output(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_probe_lines())
    code, out = _run(["replay", "-f", str(log), "-t", "nginx"], tmp_path)
    assert code == 0
    assert "Alerts (1)" in out
    row = next(line for line in out.splitlines() if "crowdwatch/http-probing" in line)
    assert "2024-03-10 08:00:00 → 08:00:11" in row and "203.0.113.9" in row and row.rstrip().endswith("12")
    assert "12 lines read: 12 parsed, 0 unparsed, 0 whitelisted" in out
    assert "1 overflows, 0 whitelisted by postoverflows, 1 alerts" in out


def test_replay_item_selection(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_probe_lines())
    parsers = "crowdwatch/syslog-logs,crowdwatch/nginx-logs,crowdwatch/dateparse-enrich"
    doc = _json(["replay", "-f", str(log), "-t", "nginx", "--parsers", parsers], tmp_path)
    assert doc["summary"]["parsed"] == 12 and doc["alerts"] == []  # no scenario named: none loaded
    doc = _json(
        ["replay", "-f", str(log), "-t", "nginx", "--parsers", parsers, "--scenarios", "crowdwatch/ssh-bf"],
        tmp_path,
    )
    assert doc["alerts"] == [] and doc["summary"]["poured"] == 0


def test_replay_postoverflow_whitelist(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    shutil.copytree(bundled_content_dir(), hub)
    wl = hub / "postoverflows" / "s01-whitelist" / "me" / "trusted.yaml"
    wl.parent.mkdir(parents=True)
    wl.write_text(
        'name: me/trusted\ndescription: "x"\nwhitelist:\n  reason: trusted\n  ip: ["203.0.113.9"]\n'
    )
    log = tmp_path / "access.log"
    log.write_text(_probe_lines("203.0.113.9") + _probe_lines("198.51.100.20", 20))
    args = ["replay", "-f", str(log), "-t", "nginx", "--hub", str(hub)]
    args += ["--parsers", "crowdwatch/syslog-logs,crowdwatch/nginx-logs,crowdwatch/dateparse-enrich"]
    args += [
        "--scenarios",
        "crowdwatch/http-probing",
        "--postoverflows",
        "./postoverflows/s01-whitelist/me/trusted.yaml",
    ]
    doc = _json(args, tmp_path)
    assert [a["source"]["ip"] for a in doc["alerts"]] == ["198.51.100.20"]
    s = doc["summary"]
    assert (s["overflows"], s["postoverflow_whitelisted"], s["alerts"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "--file", "x.log"], "--file needs --type"),
        (["replay", "--type", "nginx"], "--type needs --file"),
        (["replay", "-f", "/nonexistent.log", "-t", "nginx"], "/nonexistent.log: does not exist"),
        (["replay", "-f", "/nonexistent/*.log", "-t", "nginx"], "matches no file"),
        (
            ["replay", "-f", "a", "-f", "b", "-f", "c", "-t", "x", "-t", "y"],
            "once per --file (3 files, 2 types)",
        ),
        (["replay", "-o", "xml"], "unknown output format"),
        (["replay", "--parsers", "nobody/nothing"], "unknown parser 'nobody/nothing'"),
        (["replay", "--scenarios", "nobody/nothing"], "unknown scenario 'nobody/nothing'"),
        (["replay", "--collections", "nobody/nothing"], "unknown collection 'nobody/nothing'"),
        (["replay", "--hub", "/nonexistent-hub"], "hub directory /nonexistent-hub does not exist"),
    ],
)
def test_replay_user_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, msg = _run(args, tmp_path)
    assert code == 2
    assert message in msg


def test_replay_broken_item(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    shutil.copytree(bundled_content_dir(), hub)
    (hub / "scenarios" / "crowdwatch" / "ssh-bf.yaml").write_text("type: leaky\nname: x/y\n")
    code, msg = _run(["replay", "--hub", str(hub)], tmp_path)
    assert code == 2
    assert "ssh-bf.yaml" in msg and "hint:" in msg


def test_replay_unknown_type(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_probe_lines())
    code, msg = _run(["replay", "-f", str(log), "-t", "ngnix"], tmp_path)
    assert code == 2
    assert f"no line of {log} (type 'ngnix') was parsed: wrong --type?" in msg
