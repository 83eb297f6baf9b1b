"""The ``syslog`` data source: a syslog server on UDP and/or TCP (RFC 3164 and RFC 5424).

Each message is parsed as RFC 5424 first, then as RFC 3164 (CrowdSec's order), and handed on
as the classic one-line form ``Mmm d hh:mm:ss host app[pid]: msg`` that CrowdSec's syslog
source produces, so that the ``syslog-logs`` parser splits it like a line of auth.log
(a missing host becomes ``unknownhost``, a non-numeric PROCID ``1``; a message without an
application name cannot be rebuilt and is counted as an error, as CrowdSec does).

Framing: one UDP datagram is one message; on TCP a message is either octet-counted
(``<length> <message>``, RFC 6587 §3.4.1, chosen when the first byte is a digit) or ends at a
newline (§3.4.2). Messages longer than ``max_message_len`` bytes are truncated to that
length, counted in ``errors``, and still delivered (their header usually holds what matters).

All sockets are served by one thread (a selector), so the lines of one TCP connection keep
their order. Syslog cannot resume: records carry no position.
"""

from __future__ import annotations

import contextlib
import logging
import re
import selectors
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from crowdwatch.acquisition.base import LineRecord, Resume, Sink, SourceCounters, SourceSpec
from crowdwatch.acquisition.file import AcquisitionError
from crowdwatch.acquisition.registry import AcquisitionConfigError, check_options
from crowdwatch.netutil import parse_ip

log = logging.getLogger(__name__)

DEFAULT_ADDR = "127.0.0.1"
DEFAULT_PORT = 514
DEFAULT_MAX_LEN = 2048
PROTOCOLS = ("udp", "tcp", "both")
OPTIONS = frozenset({"listen_addr", "listen_port", "protocol", "max_message_len"})
MAX_TCP_CONNECTIONS = 1024
_RCVBUF = 8 << 20  # asked for; the kernel caps it at net.core.rmem_max
_UDP_BATCH = 512  # datagrams read per wake-up before looking at the other sockets
_BOM = "\ufeff"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PRI = re.compile(r"<(\d{1,3})>")
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))"
)
_BSD_TS = re.compile(
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)"
)
_TAG = re.compile(r"([^\s\[\]:]{1,48})(?:\[([^\]]*)\])?:")


class SyslogParseError(ValueError):
    """A message that is neither RFC 5424 nor RFC 3164 (or lacks what the line needs)."""


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """The fields of one syslog message that the rebuilt line uses."""

    rfc: str  # "5424" | "3164"
    timestamp: datetime | None
    hostname: str | None
    appname: str | None
    procid: str | None
    message: str | None


# --- parsing -------------------------------------------------------------------------------


def _pri(data: str) -> int:
    m = _PRI.match(data)
    if m is None or int(m.group(1)) > 191:
        raise SyslogParseError("no valid <PRI> at the start")
    return m.end()


def _rfc3339(m: re.Match[str]) -> datetime:
    year, month, day, hh, mm, ss, frac, zulu, sign, oh, om = m.groups()
    if zulu:
        tz: timezone = UTC
    else:
        offset = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), micro, tzinfo=tz)
    except ValueError as e:
        raise SyslogParseError(f"invalid timestamp: {e}") from None


def _nil(field: str) -> str | None:
    return None if field == "-" else field


def parse_rfc5424(data: str) -> SyslogMessage:
    """``<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]``."""
    pos = _pri(data)
    head = data[pos:].split(" ", 6)
    if len(head) < 7 or not head[0].isdigit() or head[0].startswith("0") or len(head[0]) > 2:
        raise SyslogParseError("not an RFC 5424 header")
    _version, ts_text, host, app, procid, msgid, rest = head
    if not all((ts_text, host, app, procid, msgid)):
        raise SyslogParseError("empty RFC 5424 header field")
    ts = None
    if ts_text != "-":
        m = _RFC3339.fullmatch(ts_text)
        if m is None:
            raise SyslogParseError(f"invalid RFC 5424 timestamp {ts_text!r}")
        ts = _rfc3339(m)
    msg = _skip_structured_data(rest)
    if msg is not None and msg.startswith(_BOM):
        msg = msg[1:]
    return SyslogMessage("5424", ts, _nil(host), _nil(app), _nil(procid), msg)


def _skip_structured_data(rest: str) -> str | None:
    """The MSG after STRUCTURED-DATA (``-`` or ``[id k="v" ...]...``); ``None`` when absent."""
    if rest.startswith("-"):
        i = 1
    elif rest.startswith("["):
        i, n = 0, len(rest)
        while i < n and rest[i] == "[":
            i += 1
            quoted = False
            while i < n:
                c = rest[i]
                if quoted and c == "\\":
                    i += 2
                    continue
                if c == '"':
                    quoted = not quoted
                elif c == "]" and not quoted:
                    break
                i += 1
            if i >= n:
                raise SyslogParseError("unterminated STRUCTURED-DATA")
            i += 1
    else:
        raise SyslogParseError("invalid STRUCTURED-DATA")
    if i == len(rest):
        return None
    if rest[i] != " ":
        raise SyslogParseError("no space after STRUCTURED-DATA")
    return rest[i + 1 :]


def _bsd_time(m: re.Match[str], now: datetime) -> datetime:
    mon, day, year, hh, mm, ss = m.groups()
    local = now.astimezone()
    y = int(year) if year else local.year
    try:
        ts = datetime(y, _MONTHS.index(mon) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=local.tzinfo)
    except ValueError as e:
        raise SyslogParseError(f"invalid timestamp: {e}") from None
    if not year and ts - local > timedelta(days=1):  # December's message read in January
        ts = ts.replace(year=y - 1)
    return ts


def parse_rfc3164(data: str, now: datetime | None = None) -> SyslogMessage:
    """``<PRI>Mmm dd hh:mm:ss [host] tag[pid]: msg`` (an RFC 3339 timestamp is accepted too;
    a missing year is the current one, or the previous one for a date more than a day ahead)."""
    pos = _pri(data)
    m = _BSD_TS.match(data, pos) or _RFC3339.match(data, pos)
    if m is None:
        raise SyslogParseError("no RFC 3164 timestamp")
    ts = _bsd_time(m, now or datetime.now(UTC)) if m.re is _BSD_TS else _rfc3339(m)
    pos = m.end()
    if data[pos : pos + 1] != " ":
        raise SyslogParseError("no space after the timestamp")
    rest = data[pos + 1 :]
    host: str | None = None
    tag = _TAG.match(rest)
    if tag is None or (tag.end() < len(rest) and rest[tag.end()] not in " \t"):
        first, _, after = rest.partition(" ")
        if first:
            host, rest = first, after
        tag = _TAG.match(rest)
    if tag is None:
        raise SyslogParseError("no tag (program name) in RFC 3164 message")
    msg = rest[tag.end() :]
    if msg.startswith(" "):
        msg = msg[1:]
    return SyslogMessage("3164", ts, host, tag.group(1), tag.group(2), msg)


def parse_message(data: str, now: datetime | None = None) -> SyslogMessage:
    """RFC 5424 first, then RFC 3164 (CrowdSec's order)."""
    try:
        return parse_rfc5424(data)
    except SyslogParseError:
        return parse_rfc3164(data, now)


def build_line(msg: SyslogMessage, now: datetime | None = None) -> str:
    """The one-line form CrowdSec's syslog source gives its parsers."""
    if msg.message is None:
        raise SyslogParseError("no message")
    if not msg.appname:
        raise SyslogParseError("no application name")
    ts = msg.timestamp or now or datetime.now(UTC)
    host = msg.hostname or "unknownhost"
    if msg.procid is None:
        pid = ""
    else:
        pid = f"[{msg.procid}]" if msg.procid.isdigit() else "[1]"
    return f"{_MONTHS[ts.month - 1]} {ts.day} {ts:%H:%M:%S} {host} {msg.appname}{pid}: {msg.message}"


# --- configuration -------------------------------------------------------------------------


def _config_error(spec: SourceSpec, message: str) -> AcquisitionConfigError:
    return AcquisitionConfigError(f"syslog source: {message}", spec.file, spec.line)


@dataclass(frozen=True)
class SyslogOptions:
    listen_addr: str = DEFAULT_ADDR
    listen_port: int = DEFAULT_PORT
    protocol: str = "udp"
    max_message_len: int = DEFAULT_MAX_LEN


def _options(spec: SourceSpec) -> SyslogOptions:
    check_options(spec, OPTIONS)
    if spec.mode not in ("tail", ""):
        raise _config_error(spec, f"mode {spec.mode!r} is not supported (a syslog server only listens)")
    o = spec.options
    addr = o.get("listen_addr", DEFAULT_ADDR)
    if not isinstance(addr, str) or not addr:
        raise _config_error(spec, "listen_addr must be an IP address or host name")
    port = o.get("listen_port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise _config_error(spec, f"listen_port must be a port number, not {port!r}")
    proto = o.get("protocol", "udp")
    if proto not in PROTOCOLS:
        raise _config_error(spec, f"protocol must be one of {', '.join(PROTOCOLS)}, not {proto!r}")
    max_len = o.get("max_message_len", DEFAULT_MAX_LEN)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or not 16 <= max_len <= 1 << 20:
        raise _config_error(spec, f"max_message_len must be an integer in 16..1048576, not {max_len!r}")
    return SyslogOptions(addr, port, proto, max_len)


# --- the server ----------------------------------------------------------------------------


def _client_ip(addr: Any) -> str:
    host = str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
    ip = parse_ip(host)
    return str(ip) if ip is not None else host


@dataclass
class _TcpConn:
    sock: socket.socket
    src: str
    buf: bytearray
    skip: int = 0  # bytes of an over-long octet-counted frame still to discard
    skip_line: bool = False  # discarding the rest of an over-long newline-framed message


class SyslogSource:
    """A syslog server (see the module docstring). ``addresses`` gives the bound
    ``(protocol, host, port)`` once started (``listen_port: 0`` picks a free port)."""

    OPTION_KEYS = OPTIONS

    def __init__(self, spec: SourceSpec, options: SyslogOptions) -> None:
        self.spec = spec
        self.options = options
        self.truncated = 0
        self.malformed = 0
        self._counters: dict[str, SourceCounters] = {}
        self._keys: dict[socket.socket, str] = {}
        self._sel: selectors.BaseSelector | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._close_lock = threading.Lock()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._conns: dict[socket.socket, _TcpConn] = {}
        self._sink: Sink | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self.addresses: list[tuple[str, str, int]] = []

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> SyslogSource:
        return cls(spec, _options(spec))

    # -- LiveSource --

    def start(self, sink: Sink, resume: Resume) -> None:
        if self._thread is not None:
            raise RuntimeError("syslog source already started")
        self._sink = sink
        o = self.options
        try:
            infos = socket.getaddrinfo(o.listen_addr, o.listen_port, type=socket.SOCK_DGRAM)
        except OSError as e:
            raise AcquisitionError(f"syslog {o.listen_addr}:{o.listen_port}: {e}") from None
        family, _, _, _, sockaddr = infos[0]
        sel = selectors.DefaultSelector()
        opened: list[socket.socket] = []
        try:
            if o.protocol in ("udp", "both"):
                udp = socket.socket(family, socket.SOCK_DGRAM)
                opened.append(udp)
                with contextlib.suppress(OSError):  # best effort
                    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
                udp.bind(sockaddr)
                udp.setblocking(False)
                self._udp = udp
                self._register(sel, udp, "udp")
            if o.protocol in ("tcp", "both"):
                tcp = socket.socket(family, socket.SOCK_STREAM)
                opened.append(tcp)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                port = self.addresses[0][2] if self.addresses and o.listen_port == 0 else o.listen_port
                tcp.bind((sockaddr[0], port, *sockaddr[2:]))
                tcp.listen(128)
                tcp.setblocking(False)
                self._tcp = tcp
                self._register(sel, tcp, "tcp")
        except OSError as e:
            for s in opened:
                s.close()
            sel.close()
            self.addresses.clear()
            raise AcquisitionError(f"syslog {o.protocol} {o.listen_addr}:{o.listen_port}: {e}") from None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        sel.register(self._wake_r, selectors.EVENT_READ)
        self._sel = sel
        self._thread = threading.Thread(target=self._serve, name=f"syslog-{o.listen_port}", daemon=True)
        self._thread.start()

    def _register(self, sel: selectors.BaseSelector, sock: socket.socket, proto: str) -> None:
        host, port = sock.getsockname()[:2]
        key = f"syslog:{proto}:{host}:{port}"
        self.addresses.append((proto, host, port))
        self._keys[sock] = key
        self._counters[key] = SourceCounters(type=self.spec.labels.get("type", ""))
        sel.register(sock, selectors.EVENT_READ)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout)
        self._close_all()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def counters(self) -> dict[str, SourceCounters]:
        return dict(self._counters)

    # -- the selector thread --

    def _serve(self) -> None:
        sel = self._sel
        assert sel is not None
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select(timeout=1.0):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._wake_r or self._stopping.is_set():
                        continue
                    if sock is self._udp:
                        self._read_udp(sock)
                    elif sock is self._tcp:
                        self._accept(sel, sock)
                    else:
                        self._read_tcp(sel, sock)
        except Exception:  # pragma: no cover - a bug: log it rather than die silently
            log.exception("syslog server thread failed")
        finally:
            self._close_all()

    def _close_all(self) -> None:
        with self._close_lock:
            for conn in list(self._conns.values()):
                conn.sock.close()
            self._conns.clear()
            for s in (self._udp, self._tcp, self._wake_r, self._wake_w):
                if s is not None:
                    s.close()
            if self._sel is not None and self._thread is not None and not self._thread.is_alive():
                self._sel.close()

    def _read_udp(self, sock: socket.socket) -> None:
        key = self._keys[sock]
        limit = self.options.max_message_len
        for _ in range(_UDP_BATCH):
            try:
                data, addr = sock.recvfrom(limit + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. ICMP errors surfacing on the socket
                log.debug("syslog udp: %s", e)
                return
            truncated = len(data) > limit
            self._deliver(key, _client_ip(addr), data[:limit] if truncated else data, truncated)

    def _accept(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        key = self._keys[sock]
        while True:
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # pragma: no cover - e.g. EMFILE
                log.warning("syslog tcp: accept: %s", e)
                self._counters[key].errors += 1
                return
            if len(self._conns) >= MAX_TCP_CONNECTIONS:
                log.warning("syslog tcp: more than %d connections, closing one", MAX_TCP_CONNECTIONS)
                self._counters[key].errors += 1
                conn.close()
                continue
            conn.setblocking(False)
            self._conns[conn] = _TcpConn(conn, _client_ip(addr), bytearray())
            self._keys[conn] = key
            sel.register(conn, selectors.EVENT_READ)

    def _read_tcp(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        conn = self._conns[sock]
        try:
            data = sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._frame(conn, data, eof=False)
            return
        self._frame(conn, b"", eof=True)
        sel.unregister(sock)
        del self._conns[sock]
        del self._keys[sock]
        sock.close()

    def _frame(self, conn: _TcpConn, data: bytes, eof: bool) -> None:
        """Split a TCP stream into messages (octet counting or newline framing)."""
        key = self._keys[conn.sock]
        limit = self.options.max_message_len
        buf = conn.buf
        buf += data
        while buf:
            if conn.skip:
                n = min(conn.skip, len(buf))
                del buf[:n]
                conn.skip -= n
                continue
            if conn.skip_line:
                nl = buf.find(b"\n")
                if nl < 0:
                    buf.clear()
                    break
                del buf[: nl + 1]
                conn.skip_line = False
                continue
            if buf[:1].isdigit():
                sp = buf.find(b" ", 0, 12)
                if sp < 0:
                    if len(buf) < 12 and not eof:
                        break
                    self._counters[key].errors += 1  # a digit run that is no length: drop the line
                    conn.skip_line = True
                    self.malformed += 1
                    continue
                length = int(buf[:sp])
                start = sp + 1
                if len(buf) - start >= min(length, limit):
                    take = min(length, limit)
                    self._deliver(key, conn.src, bytes(buf[start : start + take]), length > limit)
                    consumed = min(len(buf), start + length)
                    conn.skip = start + length - consumed
                    del buf[:consumed]
                    continue
                if eof:
                    self._deliver(key, conn.src, bytes(buf[start:]), False)
                    buf.clear()
                break
            nl = buf.find(b"\n", 0, limit + 1)
            if nl >= 0:
                frame = bytes(buf[:nl])
                del buf[: nl + 1]
                if frame.strip(b"\r\x00 "):
                    self._deliver(key, conn.src, frame, False)
                continue
            if len(buf) > limit:
                self._deliver(key, conn.src, bytes(buf[:limit]), True)
                del buf[:limit]
                conn.skip_line = True
                continue
            if eof:
                if bytes(buf).strip(b"\r\x00 "):
                    self._deliver(key, conn.src, bytes(buf), False)
                buf.clear()
            break

    def _deliver(self, key: str, src: str, raw: bytes, truncated: bool) -> None:
        counters = self._counters[key]
        counters.read += 1
        if truncated:
            counters.errors += 1
            self.truncated += 1
        text = raw.decode("utf-8", "replace").rstrip("\r\n\x00")
        try:
            msg = parse_message(text)
            line = build_line(msg)
        except SyslogParseError as e:
            counters.errors += 1
            self.malformed += 1
            log.debug("syslog %s from %s: unparseable message (%s): %.200r", key, src, e, text)
            return
        assert self._sink is not None
        self._sink(
            LineRecord(
                key=key,
                text=line,
                labels=self.spec.labels,
                module="syslog",
                src=src,
                position=None,
                time=msg.timestamp,
            )
        )
