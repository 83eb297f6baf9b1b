import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app

_register_all()

NGINX = '203.0.113.9 - - [10/Mar/2024:08:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "zgrab"\n'


def _run(args: list[str], tmp_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config-dir", str(tmp_path / "cfg"), *args])
    if isinstance(result.exception, CliError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_replay_file_json(tmp_path: Path) -> None:
    log = tmp_path / "access.log.gz"
    log.write_bytes(gzip.compress((NGINX * 3 + "garbage line\n\n" + "x" * 100 + "\n").encode()))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.yaml").write_text("crowdwatch:\n  max_line_bytes: 99\n")
    code, out = _run(["replay", "--file", str(log), "--type", "nginx", "-o", "json"], tmp_path)
    assert code == 0
    doc = json.loads(out)
    s = doc["summary"]
    assert (s["lines_read"], s["parsed"], s["unparsed"], s["too_long"]) == (5, 3, 1, 1)
    assert doc["sources"][0]["empty_skipped"] == 1
    ev = doc["events"][0]
    assert ev["line"] == 1
    assert ev["meta"]["http_path"] == "/.env"
    assert ev["time"] == "2024-03-10T08:00:01Z"


def test_replay_human_table(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(NGINX)
    code, out = _run(
        [
            "replay",
            "-f",
            str(log),
            "-t",
            "nginx",
            "--parsers",
            "crowdwatch/syslog-logs,crowdwatch/nginx-logs",
        ],
        tmp_path,
    )
    assert code == 0
    assert "203.0.113.9" in out
    assert "1 lines read, 1 parsed, 0 unparsed" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "--file", "x.log"], "--file needs --type"),
        (["replay", "--type", "nginx"], "--type needs --file"),
        (["replay", "-f", "/nonexistent.log", "-t", "nginx"], "does not exist"),
        (["replay", "-o", "xml"], "unknown output format"),
        (["replay", "--parsers", "nobody/nothing"], "hint: check --hub and --parsers"),
    ],
)
def test_replay_user_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, msg = _run(args, tmp_path)
    assert code == 2
    assert message in msg
