"""The docker source against a fake Docker Engine API (aiohttp on a real unix socket, real
multiplexed log streams), and against a real engine when one answers."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crowdwatch.acquisition.base import LineRecord, SourceSpec
from crowdwatch.acquisition.docker import (
    DockerClient,
    DockerError,
    DockerSource,
    LogDecoder,
    parse_duration,
    ts_key,
)
from crowdwatch.acquisition.registry import AcquisitionConfigError


def rfc3339(ns: int) -> str:
    sec, nano = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nano:09d}".rstrip("0")  # Docker's RFC3339Nano trims trailing zeros
    return f"{base}.{frac}Z" if frac else f"{base}Z"


@dataclass
class Container:
    cid: str
    name: str
    labels: dict[str, str]
    tty: bool
    running: bool = True
    lines: list[tuple[int, int, str]] = field(default_factory=list)  # (ns, stream, text)


class FakeDocker:
    """``/containers/json``, ``/containers/{id}/json`` and ``/containers/{id}/logs`` (follow,
    since, until, stdout, stderr, timestamps) over a unix socket, served by a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.containers: dict[str, Container] = {}
        self.requests: list[str] = []
        self.last_ns = 0
        self.closing = False
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(5)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/containers/json", self._list)
        app.router.add_get("/containers/{id}/json", self._inspect)
        app.router.add_get("/containers/{id}/logs", self._logs)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.UnixSite(self.runner, str(self.path)).start())
        ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        self.closing = True
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    # -- test controls --

    def add(self, cid: str, name: str, labels: dict[str, str] | None = None, tty: bool = False) -> Container:
        c = Container(cid, name, labels or {}, tty)
        self.containers[cid] = c
        return c

    def log(self, cid: str, text: str, stream: int = 1, ns: int | None = None) -> str:
        if ns is None:
            ns = max(time.time_ns(), self.last_ns + 1)
        self.last_ns = max(self.last_ns, ns)
        self.containers[cid].lines.append((ns, stream, text))
        return rfc3339(ns)

    # -- API --

    async def _list(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        return web.json_response(
            [
                {"Id": c.cid, "Names": [f"/{c.name}"], "Labels": c.labels, "State": "running"}
                for c in self.containers.values()
                if c.running
            ]
        )

    async def _inspect(self, request: web.Request) -> web.Response:
        c = self.containers.get(request.match_info["id"])
        if c is None:
            return web.json_response({"message": "No such container"}, status=404)
        return web.json_response(
            {"Id": c.cid, "Name": f"/{c.name}", "Config": {"Tty": c.tty, "Labels": c.labels}}
        )

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        c = self.containers[request.match_info["id"]]
        q = request.query
        since = _ns(q.get("since", "0"))
        until = _ns(q["until"]) if "until" in q else None
        streams = {1} if q.get("stdout") == "1" else set()
        if q.get("stderr") == "1":
            streams.add(2)
        resp = web.StreamResponse()
        resp.content_type = (
            "application/vnd.docker.raw-stream" if c.tty else "application/vnd.docker.multiplexed-stream"
        )
        await resp.prepare(request)
        i = 0
        while not self.closing:
            while i < len(c.lines):
                ns, stream, text = c.lines[i]
                i += 1
                if ns < since or stream not in streams or (until is not None and ns > until):
                    continue
                payload = (
                    f"{rfc3339(ns)} {text}\n".encode() if q.get("timestamps") == "1" else f"{text}\n".encode()
                )
                if c.tty:
                    await resp.write(payload.replace(b"\n", b"\r\n"))
                else:
                    await resp.write(struct.pack(">BxxxI", stream, len(payload)) + payload)
            if q.get("follow") != "1" or not c.running:
                break
            await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp


def _ns(since: str) -> int:
    sec, _, frac = since.partition(".")
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9] or 0)


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

    def texts(self) -> list[str]:
        with self.cond:
            return [r.text for r in self.records]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeDocker]:
    baseline = threading.active_count()
    server = FakeDocker(tmp_path / "docker.sock")
    yield server
    server.close()
    assert threading.active_count() == baseline


def spec(sock: Path | str, mode: str = "tail", **options: Any) -> SourceSpec:
    host = sock if isinstance(sock, str) else f"unix://{sock}"
    opts = {"docker_host": host, "check_interval": "50ms", **options}
    return SourceSpec("docker", {"type": "nginx"}, "acquis.yaml", 4, mode=mode, options=opts)


def started(s: SourceSpec, sink: Collector, resume: Callable[[str], Any] = lambda key: None) -> DockerSource:
    src = DockerSource.from_spec(s)
    src.start(sink, resume)
    return src


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


ID_WEB = "a" * 64
ID_API = "b" * 64
ID_OTHER = "c" * 64


# --- units ---------------------------------------------------------------------------------


def test_durations_and_timestamps() -> None:
    assert parse_duration("1s") == 1.0 and parse_duration("1m30s") == 90.0 and parse_duration(2) == 2.0
    assert parse_duration("250ms") == pytest.approx(0.25)
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert ts_key("2026-01-02T03:04:05.123456789Z") == (1767323045, 123456789)
    assert ts_key("2026-01-02T04:04:05.5+01:00") == (1767323045, 500000000)
    assert ts_key("2026-01-02T03:04:05Z") == (1767323045, 0)


def test_decoder_multiplexed_frames_split_anywhere() -> None:
    frames = b""
    for stream, payload in [
        (1, b"T1 out one\nT1 out two\n"),
        (2, b"T2 err\n"),
        (1, b"T3 long "),
        (1, b"T3 line\n"),
    ]:
        frames += struct.pack(">BxxxI", stream, len(payload)) + payload
    for step in (1, 3, 7, len(frames)):
        d = LogDecoder(tty=False)
        got = [x for i in range(0, len(frames), step) for x in d.feed(frames[i : i + step])]
        assert got == [(1, b"T1 out one"), (1, b"T1 out two"), (2, b"T2 err"), (1, b"T3 long T3 line")]


def test_decoder_partial_continuation_drops_its_timestamp_and_tty_is_raw() -> None:
    d = LogDecoder(tty=False)
    a = b"2026-01-02T03:04:05.1Z first half "
    b = b"2026-01-02T03:04:05.2Z second half\n"
    data = struct.pack(">BxxxI", 1, len(a)) + a + struct.pack(">BxxxI", 1, len(b)) + b
    assert list(d.feed(data)) == [(1, b"2026-01-02T03:04:05.1Z first half second half")]
    t = LogDecoder(tty=True)
    assert list(t.feed(b"x 1\r\ny 2\r\nz")) == [(1, b"x 1\r"), (1, b"y 2\r")]
    assert list(t.flush()) == [(1, b"z")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "no container selected"),
        ({"container_name": ["x"], "container_nmae": ["x"]}, "unknown key container_nmae"),
        ({"container_name_regexp": ["("]}, "container_name_regexp: invalid regular expression"),
        ({"container_name": ["x"], "check_interval": "often"}, "check_interval: invalid duration"),
        ({"container_name": ["x"], "docker_host": "ssh://box"}, "unsupported docker_host"),
        ({"container_name": [1]}, "container_name must be a list of strings"),
        ({"use_container_labels": "yes"}, "use_container_labels must be true or false"),
    ],
)
def test_bad_options_name_the_file(options: dict[str, Any], message: str) -> None:
    s = SourceSpec("docker", {"type": "x"}, "acquis.yaml", 4, options=options)
    with pytest.raises(AcquisitionConfigError, match=r"^acquis\.yaml:4:") as err:
        DockerSource.from_spec(s)
    assert message in str(err.value)


# --- against the fake API ------------------------------------------------------------------


def test_follows_matching_containers_from_now(fake: FakeDocker) -> None:
    fake.add(ID_WEB, "web")
    fake.add(ID_API, "api-1", tty=True)
    fake.add(ID_OTHER, "db")
    fake.log(ID_WEB, "old line, before the start")
    sink = Collector()
    src = started(spec(fake.path, container_name=["web"], container_name_regexp=["^api-"]), sink)
    wait_for(lambda: len(src.followed()) == 2)
    assert sorted(src.followed()) == [ID_WEB, ID_API]
    ts1 = fake.log(ID_WEB, "GET /a 200")
    fake.log(ID_WEB, "oops", stream=2)
    fake.log(ID_API, "tty line")
    fake.log(ID_OTHER, "not followed")
    got = sink.wait(3)
    by_key: dict[str, list[str]] = {}
    for r in got:
        by_key.setdefault(r.key, []).append(r.text)
    assert by_key == {f"docker:{ID_WEB}": ["GET /a 200", "oops"], f"docker:{ID_API}": ["tty line"]}
    first = next(r for r in got if r.text == "GET /a 200")
    assert (first.module, first.src, dict(first.labels)) == ("docker", "web", {"type": "nginx"})
    assert first.position == {"ts": ts1, "n": 1}
    sec, nano = ts_key(ts1)
    assert first.time == datetime.fromtimestamp(sec, UTC).replace(microsecond=nano // 1000)
    assert src.counters()[f"docker:{ID_WEB}"].read == 2
    logs = [r for r in fake.requests if "/logs?" in r]
    assert all("follow=1" in r and "timestamps=1" in r and "since=" in r for r in logs)
    src.stop()
    assert src.done


def test_new_container_is_read_from_its_first_line_and_restarts_resume(fake: FakeDocker) -> None:
    sink = Collector()
    src = started(spec(fake.path, container_id_regexp=["^b"]), sink)
    wait_for(lambda: sum("/containers/json" in r for r in fake.requests) >= 2)
    c = fake.add(ID_API, "api")
    fake.log(ID_API, "line 1, written before discovery")
    wait_for(lambda: src.followed() == [ID_API])
    fake.log(ID_API, "line 2")
    assert [r.text for r in sink.wait(2)] == ["line 1, written before discovery", "line 2"]
    c.running = False  # the stream ends; the container leaves the list
    wait_for(lambda: src.followed() == [])
    fake.log(ID_API, "line 3, while stopped")
    c.running = True
    wait_for(lambda: len(sink.records) >= 3)
    fake.log(ID_API, "line 4")
    sink.wait(4)
    time.sleep(0.2)
    assert sink.texts() == ["line 1, written before discovery", "line 2", "line 3, while stopped", "line 4"]
    src.stop()


def test_resume_skips_lines_already_delivered_even_with_equal_timestamps(fake: FakeDocker) -> None:
    fake.add(ID_WEB, "web")
    ns = time.time_ns() - 10_000_000_000
    ts = fake.log(ID_WEB, "a", ns=ns)
    fake.log(ID_WEB, "b", ns=ns)  # same nanosecond as "a"
    fake.log(ID_WEB, "c", ns=ns)
    fake.log(ID_WEB, "d", ns=ns + 1000)
    sink = Collector()
    saved = {f"docker:{ID_WEB}": {"ts": ts, "n": 2}}  # "a" and "b" were processed
    src = started(spec(fake.path, container_name=["web"]), sink, saved.get)
    sink.wait(2)
    fake.log(ID_WEB, "e")
    sink.wait(3)
    assert sink.texts() == ["c", "d", "e"]
    assert sink.records[0].position == {"ts": ts, "n": 3}
    sec, nano = ts_key(ts)
    assert any(f"since={sec}.{nano:09d}" in r for r in fake.requests)
    src.stop()


def test_container_labels_select_and_label(fake: FakeDocker) -> None:
    fake.add(
        ID_WEB,
        "web",
        {"crowdsec.enable": "true", "crowdsec.labels.type": "apache2", "crowdsec.labels.env": "prod"},
    )
    fake.add(ID_API, "api", {"crowdsec.enable": "true"})  # no type: skipped
    fake.add(ID_OTHER, "db", {"crowdsec.labels.type": "mysql"})  # not enabled
    sink = Collector()
    src = started(spec(fake.path, use_container_labels=True), sink)
    wait_for(lambda: src.followed() == [ID_WEB])
    fake.log(ID_WEB, "hello")
    fake.log(ID_API, "nope")
    [rec] = sink.wait(1)
    assert dict(rec.labels) == {"type": "apache2", "env": "prod"}
    time.sleep(0.15)
    assert src.followed() == [ID_WEB] and sink.texts() == ["hello"]
    src.stop()


def test_cat_mode_reads_existing_logs_and_stops(fake: FakeDocker) -> None:
    fake.add(ID_WEB, "web")
    fake.add(ID_API, "api")
    for i in range(500):
        fake.log(ID_WEB, f"w{i}", stream=1 + i % 2)
    fake.log(ID_API, "a0")
    sink = Collector()
    src = started(spec(fake.path, mode="cat", container_name=["web", "api"], follow_stderr=False), sink)
    wait_for(lambda: src.done)
    assert [t for t in sink.texts() if t.startswith("w")] == [f"w{i}" for i in range(0, 500, 2)]
    assert "a0" in sink.texts()
    assert all("follow=0" in r and "stderr=0" in r and "until=" in r for r in fake.requests if "/logs?" in r)
    src.stop()


def test_unreachable_api_is_retried_and_stop_is_prompt(tmp_path: Path) -> None:
    baseline = threading.active_count()
    sink = Collector()
    src = started(spec(tmp_path / "absent.sock", container_name=["web"]), sink)
    wait_for(lambda: src.api_errors >= 2)
    t0 = time.monotonic()
    src.stop()
    assert time.monotonic() - t0 < 1.0 and src.done
    assert threading.active_count() == baseline


def test_stop_with_idle_followed_streams(fake: FakeDocker) -> None:
    for i in range(5):
        fake.add(f"{i}" * 64, f"idle-{i}")
    sink = Collector()
    src = started(spec(fake.path, container_name_regexp=["^idle-"]), sink)
    wait_for(lambda: len(src.followed()) == 5)
    t0 = time.monotonic()
    src.stop()
    assert time.monotonic() - t0 < 1.0 and src.done and src.followed() == []


def test_client_reports_http_errors(fake: FakeDocker) -> None:
    client = DockerClient(f"unix://{fake.path}")
    with pytest.raises(DockerError, match="HTTP 404"):
        client.get_json("/containers/nope/json")


# --- a real Docker engine ------------------------------------------------------------------

REAL_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def _engine() -> str | None:
    try:
        DockerClient(REAL_HOST).get_json("/version")
    except (DockerError, ValueError) as e:
        return str(e)
    return None


def test_real_docker_engine(tmp_path: Path) -> None:
    problem = _engine()
    if problem is not None:
        pytest.skip(f"no Docker engine answers at {REAL_HOST} ({problem})")
    name = f"crowdwatch-test-{os.getpid()}"
    run = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "sleep 1; echo hello; sleep 30",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode != 0:
        pytest.skip(f"cannot start a busybox container: {run.stderr.strip()}")
    try:
        sink = Collector()
        src = started(spec(REAL_HOST, container_name=[name]), sink)
        [rec] = sink.wait(1, timeout=20)
        assert rec.text == "hello" and rec.src == name
        src.stop()
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
