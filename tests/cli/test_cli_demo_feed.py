"""The demo's live feed: sample lines merged by time, restamped to "now", appended on pace."""

import time
from datetime import UTC, datetime
from pathlib import Path

from crowdwatch.cli.demo_feed import DemoLog, Feeder, restamp, schedule

NGINX = (
    '1.2.3.4 - - [10/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n'
    '1.2.3.4 - - [10/Mar/2024:08:00:04 +0000] "GET /a HTTP/1.1" 404 1 "-" "x"\n'
)
SYSLOG = (
    "Mar  9 23:59:58 web1 sshd[1]: Invalid user pi from 5.6.7.8 port 1\n"
    "    continuation without a timestamp\n"
    "Mar 10 00:00:00 web1 sshd[1]: Invalid user pi from 5.6.7.8 port 2\n"
)


def _logs(tmp_path: Path) -> list[DemoLog]:
    (tmp_path / "n.log").write_text(NGINX)
    (tmp_path / "s.log").write_text(SYSLOG)
    return [
        DemoLog(tmp_path / "n.log", "nginx", tmp_path / "out" / "access.log"),
        DemoLog(tmp_path / "s.log", "syslog", tmp_path / "out" / "auth.log"),
    ]


def test_demo_schedule_merges_samples_by_offset(tmp_path: Path) -> None:
    lines = schedule(_logs(tmp_path))
    assert [(ln.offset, ln.log.type) for ln in lines] == [
        (0.0, "nginx"),
        (0.0, "syslog"),
        (0.0, "syslog"),  # no timestamp: the time of the line before (file order kept)
        (2.0, "syslog"),  # across midnight
        (4.0, "nginx"),
    ]


def test_demo_restamp_writes_each_format_as_its_daemon_does(tmp_path: Path) -> None:
    nginx, syslog, cont, *_ = schedule(_logs(tmp_path))
    when = datetime(2025, 1, 5, 7, 8, 9, tzinfo=UTC)
    assert restamp(nginx, when).startswith('1.2.3.4 - - [05/Jan/2025:07:08:09 +0000] "GET / ')
    local = when.astimezone()
    assert restamp(syslog, when) == (
        f"Jan {local.day:2d} {local:%H:%M:%S} web1 sshd[1]: Invalid user pi from 5.6.7.8 port 1"
    )
    assert restamp(cont, when) == cont.text


def test_demo_feeder_appends_every_line_on_pace(tmp_path: Path) -> None:
    feeder = Feeder(schedule(_logs(tmp_path)), duration=0.4)
    feeder.open()
    t0 = time.monotonic()
    first_wait = feeder.feed_due()
    assert feeder.written == 3 and 0.1 < first_wait <= 0.2  # offset 2 of 4 s → 0.2 s
    assert len((tmp_path / "out" / "auth.log").read_text().splitlines()) == 2  # flushed
    while not feeder.done:
        time.sleep(feeder.feed_due())
    feeder.close()
    assert 0.35 < time.monotonic() - t0 < 2
    access = (tmp_path / "out" / "access.log").read_text().splitlines()
    assert len(access) == 2 and "2024" not in access[1]
    assert len((tmp_path / "out" / "auth.log").read_text().splitlines()) == 3
