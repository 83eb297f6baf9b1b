import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from crowdwatch.event import TIMEMACHINE, Event, Line
from crowdwatch.hub.loadout import bundled_content_dir, open_pipeline
from crowdwatch.parser import ParserPipeline

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipe() -> ParserPipeline:
    return open_pipeline()


def _parse(pipe: ParserPipeline, raw: str, type_: str) -> Event:
    evt = Event(Line(raw, "/var/log/x.log", {"type": type_}, "file"), expect_mode=TIMEMACHINE)
    evt.Process = pipe.process(evt)
    return evt


def test_index_is_up_to_date() -> None:
    mod = runpy.run_path(str(ROOT / "scripts" / "content_index.py"))
    assert (bundled_content_dir() / ".index.json").read_text() == mod["render"](bundled_content_dir())


def test_samples_are_reproducible(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_logs.py"), "--lines", "300", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("nginx-access.log", "auth.log"):
        assert (tmp_path / name).read_bytes() == (bundled_content_dir() / "samples" / name).read_bytes()


SSH = "Mar 10 08:00:22 web1 sshd[40089]: "


@pytest.mark.parametrize(
    ("message", "ip", "user", "log_type"),
    [
        (
            "Failed password for root from 193.157.128.156 port 40379 ssh2",
            "193.157.128.156",
            "root",
            "ssh_failed-auth",
        ),
        (
            "Failed password for invalid user admin from 1.2.3.4 port 22 ssh2",
            "1.2.3.4",
            "admin",
            "ssh_failed-auth",
        ),
        ("Invalid user oracle from 2001:db8::7 port 4242", "2001:db8::7", "oracle", "ssh_failed-auth"),
        (
            "Connection closed by authenticating user git 5.6.7.8 port 22 [preauth]",
            "5.6.7.8",
            "git",
            "ssh_failed-auth",
        ),
        ("Disconnected from invalid user pi 9.9.9.2 port 1 [preauth]", "9.9.9.2", "pi", "ssh_failed-auth"),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=8.8.8.8  user=root",
            "8.8.8.8",
            "root",
            "ssh_failed-auth",
        ),
        (
            "Unable to negotiate with 7.7.7.7 port 5: no matching key exchange method found.",
            "7.7.7.7",
            "",
            "ssh_bad_keyexchange",
        ),
        ("Timeout before authentication for 6.6.6.6 port 3", "6.6.6.6", "", "ssh_auth_timeout"),
        ("Disconnected from 4.4.4.4 port 22 [preauth]", "4.4.4.4", "", ""),
    ],
)
def test_sshd(pipe: ParserPipeline, message: str, ip: str, user: str, log_type: str) -> None:
    evt = _parse(pipe, SSH + message, "syslog")
    assert evt.Process
    assert evt.Meta["service"] == "ssh"
    assert evt.Meta["source_ip"] == ip
    assert evt.Meta.get("target_user", "") == user
    assert evt.Meta.get("log_type", "") == log_type
    assert evt.Parsed["program"] == "sshd"
    assert evt.Parsed["pid"] == "40089"
    assert evt.Meta["machine"] == "web1"
    assert evt.MarshaledTime.endswith("-03-10T08:00:22Z")


def test_sshd_other_messages_are_not_parsed(pipe: ParserPipeline) -> None:
    assert not _parse(
        pipe, SSH + "Accepted publickey for deploy from 10.0.0.8 port 31385 ssh2", "syslog"
    ).Process
    assert not _parse(
        pipe, "Mar 10 08:00:06 web1 CRON[25607]: pam_unix(cron:session): opened", "syslog"
    ).Process


def test_syslog_rfc5424(pipe: ParserPipeline) -> None:
    raw = "<38>1 2024-03-10T08:00:22.123+01:00 fw sshd 4242 - - Invalid user bob from 1.2.3.4 port 22"
    evt = _parse(pipe, raw, "syslog")
    assert evt.Process
    assert (evt.Parsed["program"], evt.Parsed["pid"], evt.Meta["machine"]) == ("sshd", "4242", "fw")
    assert evt.StrTime == "2024-03-10T08:00:22.123+01:00"
    assert evt.Meta["timestamp"] == "2024-03-10T08:00:22.123+01:00"
    assert evt.Meta["target_user"] == "bob"


NGINX = (
    '203.0.113.9 - alice [10/Mar/2024:08:00:01 +0000] "GET /wp-login.php?x=1 HTTP/1.1" 404 153 '
    '"https://ref.example/" "Mozilla/5.0 zgrab/0.x"'
)


def test_nginx_access(pipe: ParserPipeline) -> None:
    evt = _parse(pipe, NGINX, "nginx")
    assert evt.Process
    m = evt.Meta
    assert (m["log_type"], m["service"], m["source_ip"]) == ("http_access-log", "http", "203.0.113.9")
    assert (m["http_verb"], m["http_path"], m["http_status"]) == ("GET", "/wp-login.php?x=1", "404")
    assert m["http_user_agent"] == "Mozilla/5.0 zgrab/0.x"
    assert m["timestamp"] == "2024-03-10T08:00:01Z"
    assert evt.Parsed["program"] == "nginx"
    assert evt.Parsed["remote_user"] == "alice"
    vhost = _parse(pipe, "www.example.org " + NGINX, "nginx")
    assert vhost.Meta["target_fqdn"] == "www.example.org"


def test_nginx_error(pipe: ParserPipeline) -> None:
    raw = (
        '2024/03/10 08:00:01 [error] 12#12: *5 open() "/srv/x" failed (2: No such file or directory), '
        'client: 198.51.100.4, server: example.org, request: "GET /x HTTP/1.1", host: "example.org"'
    )
    evt = _parse(pipe, raw, "nginx")
    assert evt.Process
    assert (evt.Meta["log_type"], evt.Meta["source_ip"], evt.Meta["target_fqdn"]) == (
        "http_error-log",
        "198.51.100.4",
        "example.org",
    )
    assert evt.Meta["timestamp"] == "2024-03-10T08:00:01Z"


def test_apache_access_and_error(pipe: ParserPipeline) -> None:
    raw = '192.0.2.1 - - [10/Mar/2024:08:00:01 +0100] "POST /login HTTP/1.1" 401 512 "-" "curl/8.0"'
    evt = _parse(pipe, raw, "apache2")
    assert evt.Process
    m = evt.Meta
    assert (m["source_ip"], m["http_verb"], m["http_path"], m["http_status"]) == (
        "192.0.2.1",
        "POST",
        "/login",
        "401",
    )
    assert (m["http_user_agent"], m["service"], m["log_type"]) == ("curl/8.0", "http", "http_access-log")
    assert m["timestamp"] == "2024-03-10T08:00:01+01:00"
    common = _parse(pipe, '192.0.2.1 - bob [10/Mar/2024:08:00:01 +0000] "\\x16\\x03" 400 -', "apache2")
    assert common.Meta["http_path"] == "\\x16\\x03"
    err = _parse(
        pipe,
        "[Sun Mar 10 08:00:01.123456 2024] [authz_core:error] [pid 42:tid 7] [client 192.0.2.7:5555] "
        "AH01630: client denied by server configuration: /srv/www",
        "apache2",
    )
    assert err.Process
    assert (err.Meta["log_type"], err.Meta["source_ip"]) == ("http_error-log", "192.0.2.7")


def test_unknown_type_is_not_parsed(pipe: ParserPipeline) -> None:
    evt = _parse(pipe, NGINX, "mysql")
    assert not evt.Process
    assert evt.Parsed["program"] == "mysql"
