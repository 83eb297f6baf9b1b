"""`crowdwatch explain` on nginx and sshd lines with the shared hub snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app

HUB = Path(__file__).resolve().parents[3] / "shared" / "hub"
PARSERS = "crowdsecurity/syslog-logs,crowdsecurity/nginx-logs,crowdsecurity/sshd-logs,crowdsecurity/dateparse-enrich"
NGINX = '1.2.3.4 - - [10/Jan/2026:10:00:00 +0000] "GET /x HTTP/1.1" 200 12 "-" "curl"'
SSHD = "Feb 12 14:10:21 host sshd[123]: Invalid user admin from 192.168.1.2 port 4444"

pytestmark = pytest.mark.skipif(not (HUB / ".index.json").is_file(), reason="../shared/hub absent")
_register_all()
runner = CliRunner()


def explain(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["explain", "--hub", str(HUB), "--parsers", PARSERS, *args])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout


def test_nginx_line_json_verbose() -> None:
    code, out = explain("--type", "nginx", "--log", NGINX, "-o", "json", "-v")
    assert code == 0
    [line] = json.loads(out)
    assert line["verdict"] == "parsed"
    stages = {s["stage"]: s["nodes"] for s in line["stages"]}
    assert [n["name"] for n in stages["s00-raw"]] == ["crowdsecurity/syslog-logs", "crowdsecurity/non-syslog"]
    assert [n["success"] for n in stages["s00-raw"]] == [False, True]
    nginx = stages["s01-parse"][0]
    assert nginx["name"] == "crowdsecurity/nginx-logs" and nginx["success"]
    assert nginx["changes"]["Meta"]["source_ip"] == {"before": None, "after": "1.2.3.4"}
    assert nginx["changes"]["StrTime"][""]["after"] == "10/Jan/2026:10:00:00 +0000"
    assert stages["s02-enrich"][0]["changes"]["Meta"]["timestamp"]["after"] == "2026-01-10T10:00:00Z"
    assert line["final"]["Parsed"]["verb"] == "GET"


def test_sshd_file_human(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(f"{SSHD}\n\nnot a syslog line\n")
    code, out = explain("--type", "syslog", "--file", str(log))
    assert code == 0
    assert "line 1:" in out and "line 3:" in out and "line 2:" not in out
    assert "✓ crowdsecurity/sshd-logs" in out and "✗ crowdsecurity/nginx-logs" in out
    assert out.count("└ parsed") == 1 and out.count("└ unparsed") == 1


def test_unknown_type_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = explain("--type", "nope", "--log", "hello", "-o", "json")
    assert code == 0
    assert json.loads(out)[0]["verdict"] == "unparsed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "nginx", "--file", "/no/such.log"], "does not exist"),
        (["--type", "nginx"], "exactly one of --file"),
        (["--type", "nginx", "--log", "x", "-o", "yaml"], "unknown output format"),
    ],
)
def test_bad_inputs(args: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        explain(*args)


def test_unknown_parser() -> None:
    res = runner.invoke(app, ["explain", "--hub", str(HUB), "--parsers", "x/y", "--type", "t", "--log", "l"])
    assert isinstance(res.exception, CliError)
    assert "unknown parser 'x/y'" in str(res.exception) and "hint" in str(res.exception)


def test_scenarios_poured_and_overflow(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("".join(SSHD.replace("admin", f"user{i}") + "\n" for i in range(6)))
    code, out = explain(
        "--type", "syslog", "--file", str(log), "--scenarios", "crowdsecurity/ssh-bf", "-o", "json"
    )
    assert code == 0
    lines = json.loads(out)
    first = lines[0]
    assert [s["scenario"] for s in first["scenarios"]] == [
        "crowdsecurity/ssh-bf",
        "crowdsecurity/ssh-bf_user-enum",
    ]
    assert all(len(s["bucket_key"]) == 40 for s in first["scenarios"])
    assert {
        s["bucket_key"] for ln in lines for s in ln["scenarios"] if s["scenario"] == "crowdsecurity/ssh-bf"
    } == {first["scenarios"][0]["bucket_key"]}  # one bucket per source IP
    assert [ln["overflows"] for ln in lines[:4]] == [[], [], [], []]
    overflows = [o for ln in lines for o in ln["overflows"]]
    assert {(o["scenario"], tuple(o["sources"]), o["events_count"], o["whitelisted"]) for o in overflows} == {
        ("crowdsecurity/ssh-bf", ("192.168.1.2",), 6, False),
        ("crowdsecurity/ssh-bf_user-enum", ("192.168.1.2",), 6, False),
    }


def test_scenarios_human_output(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(f"{SSHD}\n" * 6)
    code, out = explain("--type", "syslog", "--file", str(log), "--scenarios", "crowdsecurity/ssh-bf")
    assert code == 0
    assert out.count("→ crowdsecurity/ssh-bf ") == 6
    assert out.count("⚡ overflow crowdsecurity/ssh-bf: 192.168.1.2, 6 events") == 1
    assert out.count("└ parsed") == 6
