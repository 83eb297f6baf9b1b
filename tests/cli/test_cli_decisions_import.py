"""``crowdwatch decisions import`` from CSV, JSON and plain lists, on SQLite and (when their
servers answer on 127.0.0.1) PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app
from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.storage.tables import ACTIVE, MERGED
from crowdwatch.lapi.timefmt import now as utcnow

_register_all()

_ADMIN = {
    "postgresql": ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "user: postgres\n  port: 5432"),
    "mysql": ("mysql+pymysql://root@127.0.0.1:3306/test", "user: root\n  port: 3306"),
}


def _run(cfg: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config-dir", str(cfg), *args])
    if isinstance(result.exception, CliError):
        return 2, result.stdout, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def cfg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A configuration directory whose database is a fresh one of each engine."""
    cfg_dir = tmp_path / "cw"
    load_config(str(cfg_dir))  # writes the default config.yaml
    if request.param == "sqlite":
        yield cfg_dir
        return
    url, settings = _ADMIN[request.param]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"{request.param} not reachable on 127.0.0.1 ({type(exc).__name__})")
    name = f"cw_cli_{secrets.token_hex(4)}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    conf = cfg_dir / "config.yaml"
    body = conf.read_text()
    head, _, _ = body.partition("db_config:")
    conf.write_text(
        head + f"db_config:\n  type: {request.param}\n  host: 127.0.0.1\n  {settings}\n  db_name: {name}\n"
    )
    try:
        yield cfg_dir
    finally:
        with admin.connect() as c:
            force = " WITH (FORCE)" if request.param == "postgresql" else ""
            c.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def _decisions(cfg: Path) -> dict[str, dict[str, object]]:
    code, out, err = _run(cfg, "decisions", "list", "-o", "json", "--limit", "0")
    assert code == 0, err
    return {d["value"]: d for a in json.loads(out) for d in a["decisions"]}


def test_csv_with_cscli_columns_defaults_and_bad_lines(cfg: Path, tmp_path: Path) -> None:
    f = tmp_path / "list.csv"
    f.write_text(
        "duration,scope,value,type,reason\n"
        "24h,ip,1.2.3.4,,\n"
        ",range,10.0.0.0/24,captcha,my-list\n"
        "2h,ip,not-an-ip,,\n"
        "\n"
        "1h,ip,,,\n"
        "forever,ip,5.6.7.8,,\n"
        "1h,username,bob,,\n"
    )
    code, out, err = _run(cfg, "decisions", "import", "-i", str(f), "--duration", "3h", "-R", "imported")
    assert code == 0, err
    assert out.startswith("3 decision(s) imported (3 invalid entries skipped")
    assert "list.csv:line 4: invalid IP address 'not-an-ip'" in err
    assert "line 6: missing value" in err
    assert "line 7: invalid duration 'forever'" in err
    got = _decisions(cfg)
    assert set(got) == {"1.2.3.4", "10.0.0.0/24", "bob"}
    assert str(got["1.2.3.4"]["duration"]).startswith("23h59m")
    assert str(got["10.0.0.0/24"]["duration"]).startswith("2h59m")  # --duration fills the gap
    assert got["10.0.0.0/24"]["type"] == "captcha" and got["10.0.0.0/24"]["scenario"] == "my-list"
    assert got["1.2.3.4"]["scenario"] == "imported" and got["1.2.3.4"]["origin"] == "cscli"
    assert (got["bob"]["scope"], got["1.2.3.4"]["scope"]) == ("username", "Ip")


def test_json_and_plain_values(cfg: Path, tmp_path: Path) -> None:
    j = tmp_path / "d.json"
    j.write_text(
        json.dumps(
            [
                {"duration": "4h", "scope": "ip", "type": "ban", "value": "192.0.2.1"},
                {"value": "2001:db8::1", "origin": "my-feed"},
                {"value": 12},
                "oops",
            ]
        )
    )
    code, out, err = _run(cfg, "decisions", "import", "-i", str(j), "-o", "json")
    assert code == 0, err
    assert json.loads(out) == {"imported": 2, "invalid": 2, "duplicates_merged": 0, "allowlisted": 0}
    assert "item 3: value: expected a string" in err and "item 4: expected an object" in err
    plain = tmp_path / "ips.txt"
    plain.write_text("# blocklist\n198.51.100.7\n\n198.51.100.0/28\n::ffff:203.0.113.5\nbad\n198.51.100.7\n")
    code, out, err = _run(cfg, "decisions", "import", "-i", str(plain), "-t", "captcha", "-d", "1h")
    assert code == 0, err
    assert "3 decision(s) imported (1 invalid entries skipped, 1 duplicates merged" in out
    assert "ips.txt:line 6: invalid IP address 'bad'" in err
    got = _decisions(cfg)
    assert got["2001:db8::1"]["origin"] == "my-feed"
    assert got["198.51.100.0/28"]["scope"] == "Range"  # a CIDR in an IP list becomes a range
    assert got["203.0.113.5"]["type"] == "captcha"  # IPv4-mapped IPv6 normalised
    # --format overrides the extension
    other = tmp_path / "x.data"
    other.write_text("value\n203.0.113.77\n")
    code, out, _ = _run(cfg, "decisions", "import", "-i", str(other), "--format", "csv")
    assert code == 0 and "1 decision(s) imported" in out


def test_reimport_merges_with_live_decisions(cfg: Path, tmp_path: Path) -> None:
    f = tmp_path / "ips.txt"
    f.write_text("".join(f"10.9.0.{i}\n" for i in range(1, 51)))
    assert _run(cfg, "decisions", "import", "-i", str(f), "--batch", "7")[0] == 0
    code, out, _ = _run(cfg, "alerts", "list", "-o", "json")
    assert code == 0 and len(json.loads(out)) == 8  # ceil(50 / 7) alerts
    assert _run(cfg, "decisions", "import", "-i", str(f), "-d", "8h")[0] == 0
    svc = open_lapi(load_config(str(cfg)))
    try:
        changes, _ = svc.changes_since(0)
    finally:
        svc.db.dispose()
    live = [r for r in changes if r.state == ACTIVE]
    assert len(live) == 50 and sum(r.state == MERGED for r in changes) == 50  # merged, not piled up
    soon = utcnow() + timedelta(hours=7, minutes=58)
    assert all(r.until > soon for r in live)  # the live decisions were extended to 8h
    assert all(str(d["duration"]).startswith("7h59m") for d in _decisions(cfg).values())


def test_allowlisted_values_are_skipped(cfg: Path, tmp_path: Path) -> None:
    assert _run(cfg, "allowlists", "create", "office", "-d", "office")[0] == 0
    assert _run(cfg, "allowlists", "add", "office", "10.1.0.0/16")[0] == 0
    f = tmp_path / "ips.txt"
    f.write_text("10.1.2.3\n10.2.0.1\n")
    code, out, err = _run(cfg, "decisions", "import", "-i", str(f))
    assert code == 0 and "1 decision(s) imported" in out and "1 allowlisted" in out
    assert "10.1.2.3: allowlisted" in err
    assert set(_decisions(cfg)) == {"10.2.0.1"}


def test_nothing_imported_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    bad = tmp_path / "bad.txt"
    bad.write_text("nope\n")
    code, out, msg = _run(cfg, "decisions", "import", "-i", str(bad))
    assert code == 2 and "no decision imported" in msg and "1 invalid" in out
    code, _, msg = _run(cfg, "decisions", "import", "-i", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in msg
    nocol = tmp_path / "c.csv"
    nocol.write_text("ip,duration\n1.2.3.4,1h\n")
    code, _, msg = _run(cfg, "decisions", "import", "-i", str(nocol))
    assert code == 2 and "no 'value' column" in msg
    j = tmp_path / "d.json"
    j.write_text('{"value": "1.2.3.4"}')
    code, _, msg = _run(cfg, "decisions", "import", "-i", str(j))
    assert code == 2 and "JSON array" in msg
    code, _, msg = _run(cfg, "decisions", "import", "-i", str(j), "--format", "xml")
    assert code == 2 and "unknown --format" in msg
    code, _, msg = _run(cfg, "decisions", "import", "-i", str(j), "--duration", "-1h")
    assert code == 2 and "must be positive" in msg


def test_100k_values_import_quickly(tmp_path: Path) -> None:
    """The figure: 100 000 plain values into a fresh SQLite database, as a user runs it."""
    cfg = tmp_path / "cw"
    f = tmp_path / "big.txt"
    f.write_text("".join(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}\n" for i in range(100_000)))
    cmd = [sys.executable, "-m", "crowdwatch.cli.main", "--config-dir", str(cfg)]
    assert subprocess.run([*cmd, "config", "show"], capture_output=True, timeout=60).returncode in (0, 2)
    t0 = time.perf_counter()
    r = subprocess.run(
        [*cmd, "decisions", "import", "-i", str(f)], capture_output=True, text=True, timeout=120
    )
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("100000 decision(s) imported")
    print(f"\n100k decisions imported in {elapsed:.1f} s ({100_000 / elapsed:,.0f}/s)")
    assert elapsed < 60
    svc = open_lapi(load_config(str(cfg)))
    try:
        changes, _ = svc.changes_since(0)
        assert len(changes) == 100_000
    finally:
        svc.db.dispose()
