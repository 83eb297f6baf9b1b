"""The syslog server source: RFC 3164/5424 parsing, real UDP and TCP sockets, limits, stop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from crowdwatch.acquisition.base import LineRecord, SourceSpec
from crowdwatch.acquisition.file import AcquisitionError
from crowdwatch.acquisition.registry import AcquisitionConfigError
from crowdwatch.acquisition.syslog import (
    SyslogParseError,
    SyslogSource,
    build_line,
    parse_message,
    parse_rfc3164,
    parse_rfc5424,
)
from crowdwatch.event import LIVE, Event, Line
from crowdwatch.grok import PatternLibrary
from crowdwatch.parser import LoadContext, ParserFile, ParserPipeline
from crowdwatch.parser.enrichers import Enrichers

SHARED = Path(__file__).resolve().parents[3] / "shared"
HUB = SHARED / "hub"
BUNDLED = Path(__file__).resolve().parents[2] / "src" / "crowdwatch" / "content"

SSHD_3164 = "<38>Feb 12 14:10:21 web1 sshd[123]: Invalid user admin from 192.168.1.2 port 4444"
SSHD_5424 = (
    '<38>1 2026-02-12T14:10:21.123456+01:00 web1 sshd 123 - [origin ip="10.0.0.1" x="a\\]b"] '
    "\ufeffInvalid user admin from 192.168.1.2 port 4444"
)


def spec(**options: Any) -> SourceSpec:
    return SourceSpec(source="syslog", labels={"type": "syslog"}, file="acquis.yaml", line=3, options=options)


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


@pytest.fixture
def server() -> Iterator[Callable[..., tuple[SyslogSource, Collector]]]:
    baseline = threading.active_count()
    started: list[SyslogSource] = []

    def make(**options: Any) -> tuple[SyslogSource, Collector]:
        src = SyslogSource.from_spec(spec(listen_port=0, **options))
        sink = Collector()
        src.start(sink, lambda key: None)
        started.append(src)
        return src, sink

    yield make
    for src in started:
        src.stop()
        assert src.done
    assert threading.active_count() == baseline


# --- parsing -------------------------------------------------------------------------------


def test_rfc3164_with_and_without_host() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    m = parse_rfc3164(SSHD_3164, now)
    assert (m.hostname, m.appname, m.procid) == ("web1", "sshd", "123")
    assert m.message == "Invalid user admin from 192.168.1.2 port 4444"
    assert m.timestamp is not None and (m.timestamp.year, m.timestamp.month, m.timestamp.day) == (2026, 2, 12)
    m = parse_rfc3164("<13>Feb  2 01:02:03 cron: job done", now)
    assert (m.hostname, m.appname, m.procid, m.message) == (None, "cron", None, "job done")
    assert build_line(m) == "Feb 2 01:02:03 unknownhost cron: job done"
    m = parse_rfc3164("<13>2026-01-05T10:00:00Z fw kernel: DROP IN=eth0", now)
    assert m.timestamp == datetime(2026, 1, 5, 10, tzinfo=UTC) and m.hostname == "fw"


def test_rfc3164_december_message_read_in_january() -> None:
    m = parse_rfc3164("<13>Dec 31 23:59:59 h app: x", datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC))
    assert m.timestamp is not None and m.timestamp.year == 2025


def test_rfc5424_fields_structured_data_and_bom() -> None:
    m = parse_rfc5424(SSHD_5424)
    assert (m.hostname, m.appname, m.procid) == ("web1", "sshd", "123")
    assert m.message == "Invalid user admin from 192.168.1.2 port 4444"
    assert m.timestamp == datetime(2026, 2, 12, 14, 10, 21, 123456, tzinfo=timezone(timedelta(hours=1)))
    # the line keeps the sender's wall clock (CrowdSec formats the time in its own zone)
    assert build_line(m) == "Feb 12 14:10:21 web1 sshd[123]: Invalid user admin from 192.168.1.2 port 4444"
    m = parse_rfc5424("<14>1 - - app worker-7 ID1 -")
    assert (m.timestamp, m.hostname, m.procid, m.message) == (None, None, "worker-7", None)
    m = parse_rfc5424("<14>1 - - app worker-7 ID1 - hello")
    assert (
        build_line(m, datetime(2026, 7, 4, 5, 6, 7, tzinfo=UTC)) == "Jul 4 05:06:07 unknownhost app[1]: hello"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "no pri at all",
        "<999>Feb 12 14:10:21 h app: x",
        "<13>yesterday h app: x",
        "<13>Feb 12 14:10:21 h has no tag",
        "<13>1 2026-13-45T00:00:00Z h app - - - x",
        '<13>1 2026-01-01T00:00:00Z h app - - [unterminated x="1" msg',
    ],
)
def test_malformed_messages_raise(bad: str) -> None:
    with pytest.raises(SyslogParseError):
        build_line(parse_message(bad))


def test_no_appname_is_an_error_like_crowdsec() -> None:
    with pytest.raises(SyslogParseError, match="application name"):
        build_line(parse_message("<14>1 2026-01-01T00:00:00Z host - - - - msg"))


@pytest.mark.skipif(not (HUB / "parsers").is_dir(), reason="../shared/hub snapshot absent")
@pytest.mark.parametrize("content", ["hub", "bundled"])
@pytest.mark.parametrize("raw", [SSHD_3164, SSHD_5424], ids=["rfc3164", "rfc5424"])
def test_rebuilt_lines_parse_with_syslog_logs_and_sshd(content: str, raw: str) -> None:
    patterns = PatternLibrary.with_base()
    patterns.load_dir(HUB / "patterns")
    if content == "hub":
        syslog = HUB / "parsers/s00-raw/crowdsecurity/syslog-logs.yaml"
    else:
        syslog = BUNDLED / "parsers/s00-raw/crowdwatch/syslog-logs.yaml"
    files = [
        ParserFile("s00-raw", syslog),
        ParserFile("s01-parse", HUB / "parsers/s01-parse/crowdsecurity/sshd-logs.yaml"),
    ]
    pipe = ParserPipeline.load(files, LoadContext(patterns, HUB / "data", Enrichers(HUB / "data")))
    text = build_line(parse_message(raw))
    evt = Event(Line(raw=text, src="127.0.0.1", labels={"type": "syslog"}, module="syslog"), expect_mode=LIVE)
    assert pipe.process(evt), text
    assert evt.Parsed["program"] == "sshd"
    assert evt.Parsed["pid"] == "123"
    assert evt.Meta["source_ip"] == "192.168.1.2"
    assert evt.Meta["log_type"] == "ssh_failed-auth"


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"listen_prot": 1}, "unknown key listen_prot"),
        ({"protocol": "sctp"}, "protocol must be one of udp, tcp, both"),
        ({"listen_port": 70000}, "listen_port must be a port number"),
        ({"listen_port": "514"}, "listen_port must be a port number"),
        ({"max_message_len": 0}, "max_message_len must be an integer"),
        ({"listen_addr": ""}, "listen_addr must be"),
    ],
)
def test_bad_options_name_the_file(options: dict[str, Any], message: str) -> None:
    with pytest.raises(AcquisitionConfigError, match=r"^acquis\.yaml:3:") as err:
        SyslogSource.from_spec(spec(**options))
    assert message in str(err.value)


def test_defaults() -> None:
    o = SyslogSource.from_spec(spec()).options
    assert (o.listen_addr, o.listen_port, o.protocol, o.max_message_len) == ("127.0.0.1", 514, "udp", 2048)


def test_port_in_use_is_an_acquisition_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        src = SyslogSource.from_spec(spec(listen_port=busy.getsockname()[1]))
        with pytest.raises(AcquisitionError, match=r"syslog udp 127\.0\.0\.1:"):
            src.start(lambda rec: None, lambda key: None)


# --- live sockets --------------------------------------------------------------------------


def test_udp_both_formats(server: Callable[..., tuple[SyslogSource, Collector]]) -> None:
    src, sink = server()
    [(proto, host, port)] = src.addresses
    assert (proto, host) == ("udp", "127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for msg in (SSHD_3164, SSHD_5424 + "\n", "garbage", "<13>Mar  3 03:03:03 h app[x9]: odd pid"):
            tx.sendto(msg.encode(), (host, port))
        got = sink.wait(3)
    assert [r.text for r in got] == [
        "Feb 12 14:10:21 web1 sshd[123]: Invalid user admin from 192.168.1.2 port 4444",
        "Feb 12 14:10:21 web1 sshd[123]: Invalid user admin from 192.168.1.2 port 4444",
        "Mar 3 03:03:03 h app[1]: odd pid",
    ]
    key = f"syslog:udp:127.0.0.1:{port}"
    assert {(r.key, r.src, r.module, r.position) for r in got} == {(key, "127.0.0.1", "syslog", None)}
    assert got[0].labels == {"type": "syslog"}
    assert got[1].time == datetime(2026, 2, 12, 13, 10, 21, 123456, tzinfo=UTC)
    c = src.counters()[key]
    assert (c.type, c.read, c.errors) == ("syslog", 4, 1)
    assert src.malformed == 1


def test_udp_burst_of_10000_datagrams(server: Callable[..., tuple[SyslogSource, Collector]]) -> None:
    src, sink = server()
    [(_, host, port)] = src.addresses
    n = 10_000
    t0 = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(n):
            tx.sendto(f"<38>Feb 12 14:10:21 web1 sshd[{i}]: burst line {i}".encode(), (host, port))
            if i % 100 == 99:  # a fast sender; loopback drops only when the receiver's buffer fills
                time.sleep(0.0005)
        got = sink.wait(n, timeout=10)
    elapsed = time.perf_counter() - t0
    print(f"\nsyslog UDP: {len(got)}/{n} datagrams received in {elapsed:.2f} s")
    assert len(got) == n
    assert [r.text.rsplit(" ", 1)[1] for r in got] == [str(i) for i in range(n)]
    assert src.counters()[f"syslog:udp:127.0.0.1:{port}"].read == n


def test_udp_oversized_message_is_truncated_and_counted(
    server: Callable[..., tuple[SyslogSource, Collector]],
) -> None:
    src, sink = server(max_message_len=100)
    [(_, host, port)] = src.addresses
    long = "<38>Feb 12 14:10:21 web1 sshd[1]: " + "A" * 500
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(long.encode(), (host, port))
        tx.sendto(b"<38>Feb 12 14:10:21 web1 sshd[2]: short", (host, port))
        got = sink.wait(2)
    assert len(got) == 2
    assert got[0].text == "Feb 12 14:10:21 web1 sshd[1]: " + "A" * (100 - 34)
    assert got[1].text.endswith("sshd[2]: short")
    c = src.counters()[f"syslog:udp:127.0.0.1:{port}"]
    assert (c.read, c.errors, src.truncated) == (2, 1, 1)


def _frames() -> bytes:
    a = SSHD_3164.encode()
    b = SSHD_5424.encode()
    c = b"<13>Jan  5 00:00:01 h app: newline framed\r\n"
    return (
        b"%d %s" % (len(a), a) + b"%d %s" % (len(b), b) + c + b"<13>Jan  5 00:00:02 h app: last, no newline"
    )


def test_tcp_octet_counting_and_newline_framing(
    server: Callable[..., tuple[SyslogSource, Collector]],
) -> None:
    src, sink = server(protocol="tcp")
    [(proto, host, port)] = src.addresses
    assert proto == "tcp"
    data = _frames()
    with socket.create_connection((host, port)) as tx:
        for i in range(0, len(data), 7):  # split frames across many segments
            tx.sendall(data[i : i + 7])
            time.sleep(0.0005)
    got = sink.wait(4)
    assert [r.text for r in got] == [
        "Feb 12 14:10:21 web1 sshd[123]: Invalid user admin from 192.168.1.2 port 4444",
        "Feb 12 14:10:21 web1 sshd[123]: Invalid user admin from 192.168.1.2 port 4444",
        "Jan 5 00:00:01 h app: newline framed",
        "Jan 5 00:00:02 h app: last, no newline",
    ]
    assert {r.key for r in got} == {f"syslog:tcp:127.0.0.1:{port}"}
    assert src.counters()[f"syslog:tcp:127.0.0.1:{port}"].read == 4


def test_tcp_oversized_frames_and_many_connections(
    server: Callable[..., tuple[SyslogSource, Collector]],
) -> None:
    src, sink = server(protocol="both", max_message_len=64)
    ports = {p for _, _, p in src.addresses}
    assert [a[0] for a in src.addresses] == ["udp", "tcp"] and len(ports) == 1
    port = ports.pop()
    big = b"<13>Jan  5 00:00:01 h app: " + b"B" * 300
    with socket.create_connection(("127.0.0.1", port)) as tx:
        tx.sendall(b"%d %s" % (len(big), big))  # octet-counted, too long: truncated, rest skipped
        tx.sendall(big + b"\n")  # newline-framed, too long: truncated, rest of line skipped
        tx.sendall(b"<13>Jan  5 00:00:02 h app: after\n")
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for i, c in enumerate(conns):
        c.sendall(b"<13>Jan  5 00:00:03 h app: conn %d\n" % i)
    for c in conns:
        c.close()
    got = sink.wait(23)
    texts = [r.text for r in got]
    first = [t for t in texts if "conn " not in t]  # order is kept per connection only
    assert first == [
        "Jan 5 00:00:01 h app: " + "B" * (64 - 27),
        "Jan 5 00:00:01 h app: " + "B" * (64 - 27),
        "Jan 5 00:00:02 h app: after",
    ]
    assert sorted(t for t in texts if "conn " in t) == sorted(
        f"Jan 5 00:00:03 h app: conn {i}" for i in range(20)
    )
    tcp = src.counters()[f"syslog:tcp:127.0.0.1:{port}"]
    assert (tcp.read, tcp.errors, src.truncated) == (23, 2, 2)
    assert src.counters()[f"syslog:udp:127.0.0.1:{port}"].read == 0


def test_ipv6_listener_normalises_nothing_but_mapped_addresses(
    server: Callable[..., tuple[SyslogSource, Collector]],
) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        src, sink = server(listen_addr="::", protocol="tcp")
    except AcquisitionError as e:
        pytest.skip(f"cannot listen on [::]: {e}")
    [(_, _, port)] = src.addresses
    with socket.create_connection(("127.0.0.1", port)) as tx:  # arrives as ::ffff:127.0.0.1
        tx.sendall(b"<13>Jan  5 00:00:02 h app: v4 via v6 socket\n")
    with socket.create_connection(("::1", port)) as tx:
        tx.sendall(b"<13>Jan  5 00:00:02 h app: v6\n")
    got = sink.wait(2)
    assert sorted(r.src for r in got) == ["127.0.0.1", "::1"]


def test_stop_is_prompt_and_releases_the_port() -> None:
    baseline = threading.active_count()
    src = SyslogSource.from_spec(spec(listen_port=0, protocol="both"))
    src.start(lambda rec: None, lambda key: None)
    port = src.addresses[0][2]
    held = socket.create_connection(("127.0.0.1", port))  # an idle client must not block stop
    t0 = time.perf_counter()
    src.stop()
    assert time.perf_counter() - t0 < 1.0
    assert src.done and threading.active_count() == baseline
    held.close()
    again = SyslogSource.from_spec(spec(listen_port=port, protocol="both"))
    again.start(lambda rec: None, lambda key: None)
    again.stop()
