"""The ``docker`` data source: container logs read through the Docker Engine API.

The API is spoken over the daemon's socket (``docker_host``: ``unix:///var/run/docker.sock``
by default, ``$DOCKER_HOST`` when set; ``tcp://host:port`` works too) with plain HTTP/1.1.
Running containers (``GET /containers/json``) are matched by exact ``container_name`` /
``container_id`` lists and ``container_name_regexp`` / ``container_id_regexp`` (searched, as
Go's ``MatchString``); with ``use_container_labels`` the containers labelled
``crowdsec.enable=true`` are taken and their ``crowdsec.labels.<key>`` labels become the
lines' labels. The list is polled every ``check_interval`` (default 1 s) to pick up new
containers.

Each followed container gets a thread reading
``GET /containers/{id}/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=...``: for a
container without a TTY the body is multiplexed (8-byte frame headers: stream, 0, 0, 0,
big-endian length), with a TTY it is the raw terminal output. Every line starts with its
RFC 3339 timestamp, which gives the record's time and position: ``{"ts": <timestamp>, "n":
<lines already delivered with exactly that timestamp>}``. Docker's ``since`` is inclusive,
so a resumed stream skips those ``n`` lines and nothing is read twice.

Where a container's stream starts without a saved position: containers already running
when the source starts are tailed from that moment; containers that appear later are read
from their first line (their lines written before the next poll are not lost). ``cat`` mode
reads the matching containers' logs up to now, once.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from crowdwatch.acquisition.base import LineRecord, Resume, Sink, SourceCounters, SourceSpec
from crowdwatch.acquisition.registry import AcquisitionConfigError, check_options

log = logging.getLogger(__name__)

DEFAULT_HOST = "unix:///var/run/docker.sock"
OPTIONS = frozenset(
    {
        "container_name",
        "container_id",
        "container_name_regexp",
        "container_id_regexp",
        "docker_host",
        "use_container_labels",
        "check_interval",
        "follow_stdout",
        "follow_stderr",
    }
)
_API_TIMEOUT = 10.0
_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class DockerError(Exception):
    """The Docker API could not be reached or answered with an error."""


def _config_error(spec: SourceSpec, message: str) -> AcquisitionConfigError:
    return AcquisitionConfigError(f"docker source: {message}", spec.file, spec.line)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a Go duration string (``1s``, ``500ms``, ``1m30s``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        parts = _DURATION.findall(value)
        if parts and "".join(n + u for n, u in parts) == value:
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ValueError(f"invalid duration {value!r}")


# --- timestamps ----------------------------------------------------------------------------


def ts_key(text: str) -> tuple[int, int]:
    """(UNIX seconds, nanoseconds) of an RFC 3339 timestamp with up to 9 fraction digits."""
    m = _TS.fullmatch(text)
    if m is None:
        raise ValueError(f"not a timestamp: {text!r}")
    base, frac, zone = m.groups()
    dt = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(dt.timestamp()), int((frac or "0").ljust(9, "0"))


def _ts_datetime(key: tuple[int, int]) -> datetime:
    return datetime.fromtimestamp(key[0], UTC).replace(microsecond=key[1] // 1000)


# --- the Docker API client -----------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DockerClient:
    """The few Engine API calls the source needs, one HTTP connection per call."""

    def __init__(self, host: str) -> None:
        url = urlsplit(host)
        if url.scheme == "unix":
            self._unix: str | None = url.path
            self._addr = ("", 0)
        elif url.scheme in ("tcp", "http"):
            self._unix = None
            self._addr = (url.hostname or "localhost", url.port or 2375)
        else:
            raise ValueError(f"unsupported docker_host {host!r} (unix:///path or tcp://host:port)")
        self.host = host

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._unix is not None:
            return _UnixConnection(self._unix, timeout)
        return http.client.HTTPConnection(*self._addr, timeout=timeout)

    def open(self, path: str) -> _Response:
        """GET ``path``; the caller reads and closes. Raises :class:`DockerError`."""
        conn = self._connection(_API_TIMEOUT)
        try:
            conn.request("GET", path, headers={"Host": "docker"})
            sock = conn.sock  # http.client drops it from conn when the response will close
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise DockerError(f"{self.host}: {e}") from None
        if resp.status != 200:
            body = resp.read(2000).decode("utf-8", "replace")
            conn.close()
            resp.close()
            raise DockerError(f"{self.host}: GET {path}: HTTP {resp.status} {body.strip()}")
        return _Response(conn, resp, sock)

    def get_json(self, path: str) -> Any:
        r = self.open(path)
        try:
            return json.loads(r.resp.read())
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise DockerError(f"{self.host}: GET {path}: {e}") from None
        finally:
            r.close()


@dataclass
class _Response:
    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    sock: socket.socket | None

    def close(self) -> None:
        self.resp.close()
        self.conn.close()

    def shutdown(self) -> None:
        """Unblock a thread reading this response (from another thread)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


# --- log stream decoding -------------------------------------------------------------------


class LogDecoder:
    """Splits a logs body into ``(stream, line)`` pairs: multiplexed frames (no TTY) or raw
    bytes (TTY, stream 1). A line split over frames (Docker's partial messages) is joined;
    the timestamp that starts a continuation frame is dropped."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self._buf = bytearray()
        self._partial: dict[int, bytearray] = {}

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._buf += data
        if self.tty:
            yield from self._lines(1, self._take(len(self._buf)))
            return
        buf = self._buf
        while len(buf) >= 8:
            stream, size = buf[0], struct.unpack_from(">I", buf, 4)[0]
            if len(buf) < 8 + size:
                break
            payload = bytes(buf[8 : 8 + size])
            del buf[: 8 + size]
            yield from self._lines(stream, payload)

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _lines(self, stream: int, payload: bytes) -> Iterator[tuple[int, bytes]]:
        pending = self._partial.get(stream)
        if pending is not None and payload:
            # continuation of a partial line: drop this chunk's own timestamp
            sp = payload.find(b" ")
            if sp > 0 and _TS.fullmatch(payload[:sp].decode("ascii", "replace")):
                payload = payload[sp + 1 :]
        parts = payload.split(b"\n")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if pending is not None:
                pending += part
                if last:
                    break
                part = bytes(pending)
                pending = None
            if last:
                if part:
                    pending = bytearray(part)
                break
            yield stream, part
        if pending is None:
            self._partial.pop(stream, None)
        else:
            self._partial[stream] = pending

    def flush(self) -> Iterator[tuple[int, bytes]]:
        """The unterminated lines left at the end of the stream."""
        for stream, pending in sorted(self._partial.items()):
            if pending:
                yield stream, bytes(pending)
        self._partial.clear()


# --- the source ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DockerOptions:
    host: str = DEFAULT_HOST
    names: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    name_res: tuple[re.Pattern[str], ...] = ()
    id_res: tuple[re.Pattern[str], ...] = ()
    use_labels: bool = False
    check_interval: float = 1.0
    stdout: bool = True
    stderr: bool = True


def _str_list(spec: SourceSpec, key: str) -> list[str]:
    value = spec.options.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _config_error(spec, f"{key} must be a list of strings")
    return list(value)


def _bool(spec: SourceSpec, key: str, default: bool) -> bool:
    value = spec.options.get(key, default)
    if not isinstance(value, bool):
        raise _config_error(spec, f"{key} must be true or false, not {value!r}")
    return value


def _options(spec: SourceSpec) -> DockerOptions:
    check_options(spec, OPTIONS)
    host = spec.options.get("docker_host") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    if not isinstance(host, str):
        raise _config_error(spec, "docker_host must be a string")
    try:
        DockerClient(host)
    except ValueError as e:
        raise _config_error(spec, str(e)) from None
    patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
    for key in ("container_name_regexp", "container_id_regexp"):
        try:
            patterns[key] = tuple(re.compile(p) for p in _str_list(spec, key))
        except re.error as e:
            raise _config_error(spec, f"{key}: invalid regular expression: {e}") from None
    names = frozenset(n.lstrip("/") for n in _str_list(spec, "container_name"))
    ids = frozenset(_str_list(spec, "container_id"))
    use_labels = _bool(spec, "use_container_labels", False)
    if not (names or ids or any(patterns.values()) or use_labels):
        raise _config_error(
            spec,
            "no container selected: give container_name, container_id, container_name_regexp, "
            "container_id_regexp or use_container_labels",
        )
    try:
        interval = parse_duration(spec.options.get("check_interval", 1.0))
    except ValueError as e:
        raise _config_error(spec, f"check_interval: {e}") from None
    if interval <= 0:
        raise _config_error(spec, "check_interval must be positive")
    stdout, stderr = _bool(spec, "follow_stdout", True), _bool(spec, "follow_stderr", True)
    if not (stdout or stderr):
        raise _config_error(spec, "follow_stdout and follow_stderr are both false")
    return DockerOptions(
        host,
        names,
        ids,
        patterns["container_name_regexp"],
        patterns["container_id_regexp"],
        use_labels,
        interval,
        stdout,
        stderr,
    )


@dataclass
class _Follower:
    cid: str
    name: str
    labels: dict[str, str]
    key: str
    thread: threading.Thread | None = None
    stream: _Response | None = None
    skip_ts: tuple[int, int] | None = None  # resuming: lines at or before this timestamp...
    skip_n: int = 0  # ...of which this many at exactly it were delivered already
    last_ts: tuple[int, int] = (0, 0)
    last_n: int = 0
    since: str = "0"


class DockerSource:
    """Follows the logs of matching containers (see the module docstring)."""

    OPTION_KEYS = OPTIONS

    def __init__(self, spec: SourceSpec, options: DockerOptions) -> None:
        self.spec = spec
        self.options = options
        self.client = DockerClient(options.host)
        self._counters: dict[str, SourceCounters] = {}
        self._followers: dict[str, _Follower] = {}
        self._positions: dict[str, tuple[str, int]] = {}  # container id -> (ts, n) delivered
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink: Sink | None = None
        self._resume: Resume | None = None
        self._started_at = "0"
        self._api_ok: bool | None = None
        self.api_errors = 0

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> DockerSource:
        return cls(spec, _options(spec))

    # -- LiveSource --

    def start(self, sink: Sink, resume: Resume) -> None:
        if self._thread is not None:
            raise RuntimeError("docker source already started")
        self._sink, self._resume = sink, resume
        self._started_at = f"{time.time():.9f}"
        self._thread = threading.Thread(target=self._discover, name="docker-discovery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            followers = list(self._followers.values())
        for f in followers:
            if f.stream is not None:
                f.stream.shutdown()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        for f in followers:
            if f.thread is not None:
                f.thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def done(self) -> bool:
        if self._thread is None or self._thread.is_alive():
            return False
        with self._lock:
            return not any(f.thread is not None and f.thread.is_alive() for f in self._followers.values())

    def counters(self) -> dict[str, SourceCounters]:
        with self._lock:
            return dict(self._counters)

    def followed(self) -> list[str]:
        """Ids of the containers whose logs are being read now."""
        with self._lock:
            return [cid for cid, f in self._followers.items() if f.thread is not None and f.thread.is_alive()]

    # -- discovery --

    def _discover(self) -> None:
        first = True
        try:
            while not self._stopping.is_set():
                if self._poll(first):
                    first = False  # containers listed later are new: read from their start
                if self.spec.mode == "cat":
                    break
                self._stopping.wait(self.options.check_interval)
        except Exception:  # pragma: no cover - a bug: log it rather than die silently
            log.exception("docker source discovery failed")
        finally:
            if self.spec.mode == "cat":
                with self._lock:
                    threads = [f.thread for f in self._followers.values() if f.thread is not None]
                for t in threads:
                    t.join()

    def _poll(self, first: bool) -> bool:
        """Follow the matching containers not followed yet; False if the API did not answer."""
        try:
            containers = self.client.get_json("/containers/json")
        except DockerError as e:
            self.api_errors += 1
            if self._api_ok is not False:
                log.warning("docker source: cannot list containers: %s", e)
            self._api_ok = False
            return False
        if self._api_ok is False:
            log.info("docker source: %s answers again", self.options.host)
        self._api_ok = True
        if not isinstance(containers, list):
            return False
        for c in containers:
            if not isinstance(c, dict) or not isinstance(c.get("Id"), str):
                continue
            cid: str = c["Id"]
            with self._lock:
                current = self._followers.get(cid)
                if current is not None and current.thread is not None and current.thread.is_alive():
                    continue
            names = [n.lstrip("/") for n in c.get("Names") or [] if isinstance(n, str)]
            labels = self._labels_for(cid, names, c.get("Labels") or {})
            if labels is None or self._stopping.is_set():
                continue
            self._follow(cid, names[0] if names else cid[:12], labels, from_now=first)
        return True

    def _labels_for(self, cid: str, names: list[str], clabels: dict[str, Any]) -> dict[str, str] | None:
        """The labels for a matching container's lines; ``None`` when it does not match."""
        o = self.options
        matched = (
            cid in o.ids
            or cid[:12] in o.ids
            or any(n in o.names for n in names)
            or any(p.search(cid) for p in o.id_res)
            or any(p.search(n) for p in o.name_res for n in names)
        )
        labels = dict(self.spec.labels)
        if o.use_labels and str(clabels.get("crowdsec.enable", "")).lower() == "true":
            prefix = "crowdsec.labels."  # as CrowdSec: the container's labels only
            labels = {k[len(prefix) :]: str(v) for k, v in clabels.items() if k.startswith(prefix)}
            if not labels.get("type"):
                log.warning(
                    "docker source: container %s has no crowdsec.labels.type label: skipped", cid[:12]
                )
                return None
            matched = True
        return labels if matched else None

    # -- following one container --

    def _follow(self, cid: str, name: str, labels: dict[str, str], from_now: bool) -> None:
        key = f"docker:{cid}"
        f = _Follower(cid, name, labels, key)
        with self._lock:
            known = self._positions.get(cid)
        if known is None and self._resume is not None:
            saved = self._resume(key)
            if isinstance(saved, dict) and isinstance(saved.get("ts"), str):
                with contextlib.suppress(ValueError, TypeError):
                    ts_key(saved["ts"])
                    known = (saved["ts"], int(saved.get("n", 0)))
        if known is not None:
            ts, n = known
            sec, nano = ts_key(ts)
            f.since = f"{sec}.{nano:09d}"
            f.skip_ts, f.skip_n = (sec, nano), n
        elif from_now and self.spec.mode != "cat":
            f.since = self._started_at
        f.thread = threading.Thread(target=self._read, args=(f,), name=f"docker-{cid[:12]}", daemon=True)
        with self._lock:
            self._followers[cid] = f
            self._counters.setdefault(key, SourceCounters(type=labels.get("type", "")))
        f.thread.start()

    def _read(self, f: _Follower) -> None:
        try:
            info = self.client.get_json(f"/containers/{quote(f.cid)}/json")
            tty = bool((info.get("Config") or {}).get("Tty")) if isinstance(info, dict) else False
            query = {
                "follow": "0" if self.spec.mode == "cat" else "1",
                "stdout": "1" if self.options.stdout else "0",
                "stderr": "1" if self.options.stderr else "0",
                "timestamps": "1",
                "since": f.since,
            }
            if self.spec.mode == "cat":
                query["until"] = f"{time.time():.9f}"
            stream = self.client.open(f"/containers/{quote(f.cid)}/logs?{urlencode(query)}")
        except DockerError as e:
            if not self._stopping.is_set():
                self._counters[f.key].errors += 1
                log.warning("docker source: container %s: %s", f.cid[:12], e)
            return
        except Exception:  # pragma: no cover
            log.exception("docker source: container %s", f.cid[:12])
            return
        with self._lock:
            f.stream = stream
        if self._stopping.is_set():
            stream.shutdown()
        decoder = LogDecoder(tty)
        try:
            if stream.sock is not None:
                stream.sock.settimeout(None)  # a followed container may stay silent for days
            while True:
                try:
                    data = stream.resp.read1(65536)
                except (OSError, http.client.HTTPException, ValueError):
                    data = b""
                if not data:
                    break
                for _stream, line in decoder.feed(data):
                    self._line(f, line)
            for _stream, line in decoder.flush():
                self._line(f, line)
        finally:
            stream.close()
            with self._lock:
                f.stream = None

    def _line(self, f: _Follower, raw: bytes) -> None:
        counters = self._counters[f.key]
        text = raw.decode("utf-8", "replace").rstrip("\r")
        stamp, _, text = text.partition(" ")
        try:
            key = ts_key(stamp)
        except ValueError:
            counters.errors += 1
            log.debug("docker source: %s: line without timestamp: %.200r", f.cid[:12], raw)
            return
        if key == f.last_ts:
            f.last_n += 1
        else:
            f.last_ts, f.last_n = key, 1
        if f.skip_ts is not None:
            if key < f.skip_ts or (key == f.skip_ts and f.last_n <= f.skip_n):
                return  # delivered before the restart
            f.skip_ts = None
        with self._lock:
            self._positions[f.cid] = (stamp, f.last_n)
        if not text.strip():
            return
        counters.read += 1
        assert self._sink is not None
        self._sink(
            LineRecord(
                key=f.key,
                text=text,
                labels=f.labels,
                module="docker",
                src=f.name,
                position={"ts": stamp, "n": f.last_n},
                time=_ts_datetime(key),
            )
        )
