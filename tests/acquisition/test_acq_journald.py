"""The journalctl source: a fake ``journalctl`` (real subprocess, real pipes) for the parsing,
resume and restart logic, and the machine's real ``journalctl`` where there is one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crowdwatch.acquisition.base import LineRecord, SourceSpec
from crowdwatch.acquisition.file import AcquisitionError
from crowdwatch.acquisition.journald import JournaldSource, format_entry
from crowdwatch.acquisition.registry import AcquisitionConfigError

# A stand-in for journalctl reading a JSON-lines "journal" next to it. It logs its arguments
# and pid, honours --after-cursor=, -n 0, --follow and FIELD=value matches, and exits with
# status 1 at an {"__EXIT_ONCE__": id} line the first time it meets it (a journal rotation).
FAKE = r"""
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
journal = os.path.join(here, "journal.jsonl")
args = sys.argv[1:]
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    f.write(json.dumps({"pid": os.getpid(), "args": args}) + "\n")
if os.path.exists(os.path.join(here, "fail")):
    sys.stderr.write("Failed to open journal: boom\n")
    sys.exit(1)
follow = "--follow" in args
after = next((a.split("=", 1)[1] for a in args if a.startswith("--after-cursor=")), None)
matches = [a.split("=", 1) for a in args if "=" in a and not a.startswith("-")]

def read():
    with open(journal) as f:
        return [json.loads(x) for x in f if x.strip()]

entries = read()
pos = 0
if after is not None:
    cursors = [e.get("__CURSOR") for e in entries]
    if after not in cursors:
        sys.stderr.write("Failed to seek to cursor\n")
        sys.exit(1)
    pos = cursors.index(after) + 1
elif "-n" in args and args[args.index("-n") + 1] == "0":
    pos = len(entries)
while True:
    for e in entries[pos:]:
        pos += 1
        if "__EXIT_ONCE__" in e:
            flag = os.path.join(here, "exited-" + str(e["__EXIT_ONCE__"]))
            if not os.path.exists(flag):
                open(flag, "w").close()
                sys.exit(1)
            continue
        if "__RAW__" in e:
            sys.stdout.write(e["__RAW__"] + "\n")
        elif all(str(e.get(k)) == v for k, v in matches):
            sys.stdout.write(json.dumps(e) + "\n")
        sys.stdout.flush()
    if not follow:
        break
    time.sleep(0.01)
    entries = read()
"""

T0 = 1_770_000_000_000_000  # µs


def entry(n: int, unit: str = "ssh.service", **fields: Any) -> dict[str, Any]:
    return {
        "__CURSOR": f"s=abc;i={n}",
        "__REALTIME_TIMESTAMP": str(T0 + n * 1_000_000),
        "_HOSTNAME": "web1",
        "SYSLOG_IDENTIFIER": "sshd",
        "_PID": str(1000 + n),
        "_SYSTEMD_UNIT": unit,
        "MESSAGE": f"Invalid user u{n} from 10.0.0.{n} port 22",
        **fields,
    }


def short(n: int, pid: int | None = None, ident: str = "sshd", msg: str | None = None) -> str:
    local = datetime.fromtimestamp((T0 + n * 1_000_000) / 1e6, UTC).astimezone()
    return f"{local:%b %d %H:%M:%S} web1 {ident}[{pid or 1000 + n}]: " + (
        msg or f"Invalid user u{n} from 10.0.0.{n} port 22"
    )


class Fake:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.exe = root / "journalctl"
        self.exe.write_text(f"#!{sys.executable}\n{FAKE}")
        self.exe.chmod(0o755)
        self.journal = root / "journal.jsonl"
        self.journal.write_text("")

    def append(self, *items: dict[str, Any]) -> None:
        with self.journal.open("a") as f:
            for e in items:
                f.write(json.dumps(e) + "\n")

    def calls(self) -> list[dict[str, Any]]:
        path = self.root / "calls.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class Collector:
    def __init__(self) -> None:
        self.records: list[LineRecord] = []
        self.cond = threading.Condition()

    def __call__(self, rec: LineRecord) -> None:
        with self.cond:
            self.records.append(rec)
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = 5.0) -> list[LineRecord]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.records) >= n, timeout)
            return list(self.records)


def spec(fake: Fake | None, mode: str = "tail", filters: list[str] | None = None) -> SourceSpec:
    options: dict[str, Any] = {"journalctl_filter": filters or ["_SYSTEMD_UNIT=ssh.service"]}
    if fake is not None:
        options["journalctl_path"] = str(fake.exe)
    return SourceSpec("journalctl", {"type": "syslog"}, "acquis.yaml", 7, mode=mode, options=options)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Fake]:
    baseline = threading.active_count()
    yield Fake(tmp_path)
    deadline = time.monotonic() + 2
    while threading.active_count() != baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == baseline


def wait_for(pred: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_format_entry_short_output() -> None:
    text, ts = format_entry(entry(1)) or ("", None)
    assert text == short(1)
    assert ts == datetime.fromtimestamp((T0 + 1_000_000) / 1e6, UTC)
    # byte-array MESSAGE, _COMM when no identifier, SYSLOG_PID when no _PID, source timestamp first
    e = entry(2, MESSAGE=list(b"bin\xc3\xa9 \xff msg\n"), _SOURCE_REALTIME_TIMESTAMP=str(T0 + 3_000_000))
    del e["SYSLOG_IDENTIFIER"], e["_PID"]
    e.update(_COMM="sshd-session", SYSLOG_PID="77")
    text, ts = format_entry(e) or ("", None)
    assert text == short(3, pid=77, ident="sshd-session", msg="biné \ufffd msg")
    assert format_entry({"__CURSOR": "x"}) is None


def test_options_are_checked() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "journalctl_filter must be a non-empty list"),
        ({"journalctl_filter": "_SYSTEMD_UNIT=ssh.service"}, "must be a non-empty list"),
        ({"journalctl_filter": ["ok", 3]}, "items must be non-empty strings"),
        ({"journalctl_filter": ["a"], "journal_filter": 1}, "unknown key journal_filter"),
    ]
    for options, message in cases:
        bad = SourceSpec("journalctl", {"type": "syslog"}, "acquis.yaml", 7, options=options)
        with pytest.raises(AcquisitionConfigError, match=r"^acquis\.yaml:7:") as err:
            JournaldSource.from_spec(bad)
        assert message in str(err.value)


def test_missing_binary_fails_at_start(tmp_path: Path) -> None:
    s = spec(None)
    s.options["journalctl_path"] = str(tmp_path / "nope")
    with pytest.raises(AcquisitionError, match="not found"):
        JournaldSource.from_spec(s).start(lambda r: None, lambda k: None)


def test_cat_mode_reads_matching_entries_then_stops(fake: Fake) -> None:
    fake.append(entry(1), entry(2, unit="cron.service"), entry(3), {"__RAW__": "not json"}, entry(4))
    fake.append({k: v for k, v in entry(5).items() if k != "MESSAGE"})  # no MESSAGE: skipped
    src = JournaldSource.from_spec(spec(fake, mode="cat"))
    sink = Collector()
    src.start(sink, lambda key: None)
    wait_for(lambda: src.done)
    got = sink.records
    assert [r.text for r in got] == [short(1), short(3), short(4)]
    assert [r.position for r in got] == ["s=abc;i=1", "s=abc;i=3", "s=abc;i=4"]
    r = got[0]
    assert (r.key, r.module, r.src) == (
        "journald:_SYSTEMD_UNIT=ssh.service",
        "journalctl",
        "journalctl-_SYSTEMD_UNIT=ssh.service",
    )
    assert r.labels == {"type": "syslog"} and r.time is not None
    [call] = fake.calls()
    assert call["args"] == ["-o", "json", "--no-pager", "_SYSTEMD_UNIT=ssh.service"]
    c = src.counters()["journald:_SYSTEMD_UNIT=ssh.service"]
    assert (c.type, c.read, c.errors) == ("syslog", 3, 1)
    src.stop()


def test_cat_mode_resumes_after_cursor(fake: Fake) -> None:
    fake.append(entry(1), entry(2), entry(3))
    src = JournaldSource.from_spec(spec(fake, mode="cat"))
    sink = Collector()
    src.start(sink, lambda key: "s=abc;i=1" if key == src.key else None)
    wait_for(lambda: src.done)
    assert [r.text for r in sink.records] == [short(2), short(3)]
    assert "--after-cursor=s=abc;i=1" in fake.calls()[0]["args"]


def test_follow_restarts_after_exit_from_the_last_cursor(fake: Fake) -> None:
    fake.append(entry(1))  # before the start: not read (-n 0)
    src = JournaldSource.from_spec(spec(fake))
    src.restart_delay = 0.05
    sink = Collector()
    src.start(sink, lambda key: None)
    wait_for(lambda: len(fake.calls()) == 1)
    assert fake.calls()[0]["args"] == [
        "--follow",
        "-o",
        "json",
        "--no-pager",
        "-n",
        "0",
        "_SYSTEMD_UNIT=ssh.service",
    ]
    time.sleep(0.1)
    fake.append(entry(2), entry(3))
    sink.wait(2)
    fake.append({"__EXIT_ONCE__": 1}, entry(4), entry(5))  # journalctl dies before entry 4
    got = sink.wait(4)
    assert [r.text for r in got] == [short(2), short(3), short(4), short(5)]  # none lost, none twice
    calls = fake.calls()
    assert len(calls) == 2 and src.restarts == 1
    assert "--after-cursor=s=abc;i=3" in calls[1]["args"] and "-n" not in calls[1]["args"]
    fake.append(entry(6))
    assert sink.wait(5)[-1].text == short(6)
    pid = calls[1]["pid"]
    assert alive(pid)
    src.stop()
    assert src.done and not alive(pid)


def test_resume_cursor_in_follow_mode(fake: Fake) -> None:
    fake.append(entry(1), entry(2), entry(3))
    src = JournaldSource.from_spec(spec(fake))
    sink = Collector()
    src.start(sink, lambda key: "s=abc;i=2")
    assert [r.text for r in sink.wait(1)] == [short(3)]
    src.stop()
    assert "--after-cursor=s=abc;i=2" in fake.calls()[0]["args"]


def test_failing_journalctl_backs_off(fake: Fake) -> None:
    (fake.root / "fail").touch()
    src = JournaldSource.from_spec(spec(fake))
    src.restart_delay = 0.05
    src.max_restart_delay = 0.4
    src.start(Collector(), lambda key: None)
    time.sleep(1.2)
    n = len(fake.calls())
    # delays 0.05, 0.1, 0.2, 0.4, 0.4 ... (+ process start-up): a handful of runs, not a busy loop
    assert 2 <= n <= 7, n
    t0 = time.monotonic()
    src.stop()
    assert time.monotonic() - t0 < 1.0 and src.done


# --- the real journalctl ------------------------------------------------------------------

JOURNALCTL = shutil.which("journalctl")


def _real_entries(n: int) -> list[dict[str, Any]]:
    assert JOURNALCTL is not None
    out = subprocess.run(
        [JOURNALCTL, "-o", "json", "--no-pager", "-n", str(n)], capture_output=True, timeout=20
    ).stdout
    return [json.loads(x) for x in out.splitlines() if x.strip()]


@pytest.mark.skipif(JOURNALCTL is None, reason="no journalctl binary on this machine")
def test_real_journalctl_accepts_the_follow_command() -> None:
    """The command line the source builds is accepted by the real journalctl: it keeps
    following (no usage error) until stopped, and dies with the source."""
    baseline = threading.active_count()
    s = spec(None, filters=["_SYSTEMD_UNIT=crowdwatch-test-nonexistent.service"])
    src = JournaldSource.from_spec(s)
    src.start(Collector(), lambda key: None)
    time.sleep(1.0)
    assert src.restarts == 0 and not src.done, "real journalctl exited: see the log warnings"
    src.stop()
    assert src.done and threading.active_count() == baseline


@pytest.mark.skipif(JOURNALCTL is None, reason="no journalctl binary on this machine")
def test_real_journal_entries_after_a_cursor() -> None:
    entries = _real_entries(6)
    if len(entries) < 2:
        pytest.skip("journalctl is present but no journal entries are readable on this machine")
    first = entries[0]["__CURSOR"]
    src = JournaldSource.from_spec(spec(None, mode="cat", filters=["--quiet"]))  # no match: all entries
    sink = Collector()
    src.start(sink, lambda key: first)
    wait_for(lambda: src.done, timeout=20)
    cursors = [r.position for r in sink.records][: len(entries) - 1]
    assert cursors == [e["__CURSOR"] for e in entries[1:]]


HUB = Path(__file__).resolve().parents[3] / "shared" / "hub"


@pytest.mark.skipif(not (HUB / "parsers").is_dir(), reason="../shared/hub snapshot absent")
def test_short_lines_parse_with_syslog_logs_and_sshd() -> None:
    from crowdwatch.event import LIVE, Event, Line
    from crowdwatch.grok import PatternLibrary
    from crowdwatch.parser import LoadContext, ParserFile, ParserPipeline
    from crowdwatch.parser.enrichers import Enrichers

    patterns = PatternLibrary.with_base()
    patterns.load_dir(HUB / "patterns")
    files = [
        ParserFile("s00-raw", HUB / "parsers/s00-raw/crowdsecurity/syslog-logs.yaml"),
        ParserFile("s01-parse", HUB / "parsers/s01-parse/crowdsecurity/sshd-logs.yaml"),
    ]
    pipe = ParserPipeline.load(files, LoadContext(patterns, HUB / "data", Enrichers(HUB / "data")))
    text, _ = format_entry(entry(7)) or ("", None)
    evt = Event(
        Line(raw=text, src="journalctl-x", labels={"type": "syslog"}, module="journalctl"), expect_mode=LIVE
    )
    assert pipe.process(evt), text
    assert (evt.Parsed["program"], evt.Parsed["pid"], evt.Meta["source_ip"]) == ("sshd", "1007", "10.0.0.7")
