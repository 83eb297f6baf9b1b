#!/usr/bin/env python3
"""LAPI benchmark: crowdwatch versus CrowdSec 1.4.6's own LAPI, same run, same machine, SQLite.

Each server is started in turn from a throwaway directory, gets ``--bouncers`` bouncer keys and
one machine, and ``--decisions`` active decisions imported with CrowdSec's ``cscli decisions
import`` (through the API, so both servers ingest the same requests). Then, with one asyncio
client (aiohttp) on the loopback:

* startup: time to answer ``GET /v1/decisions/stream?startup=true`` (the full set, until its
  last byte is received; the client's JSON parse is not timed; median of 3);
* stream polls/s: every bouncer polls ``/v1/decisions/stream`` (deltas) for ``--seconds``;
* ``GET /v1/decisions?ip=`` requests/s from the same bouncers (random addresses, half banned);
* alert ingestion/s: ``--agents`` machines POST one alert per request (profiles → one decision);
* peak RSS of the server process (``VmHWM``), over the whole run and before the alert pushes
  (each pushed alert adds a decision: a faster server ends the run with more of them).

Requests/s are what the single client process achieved against each server (it shares the two
cores with the server); p99 latencies are per request. Prints a table with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

CROWDSEC = "/usr/bin/crowdsec"
CSCLI = "/usr/bin/cscli"
PASSWORD = "bench-password-0123456789"
AGENT_UA = "crowdsec/v1.4.6-debian"

PROFILES = """\
name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
"""


@dataclass
class Target:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    keys: list[str]
    cscli_config: Path
    results: dict[str, float] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def peak_rss_kb(self) -> int:
        return self._status_kb("VmHWM:")

    def rss_kb(self) -> int:
        return self._status_kb("VmRSS:")

    def _status_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
        return 0


def run(cmd: list[str], **kw: object) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}… failed: {r.stderr[-800:]}")
    return str(r.stdout)


def cscli_config(tmp: Path, url: str, extra: str = "") -> Path:
    """A config for cscli as an API client of ``url`` (login ``bench``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    for d in ("hub", "data"):
        (tmp / d).mkdir(exist_ok=True)
    (tmp / "hub" / ".index.json").write_text("{}")
    (tmp / "simulation.yaml").write_text("simulation: off\n")
    (tmp / "lapi.yaml").write_text(f"url: {url}/\nlogin: bench\npassword: {PASSWORD}\n")
    cfg = tmp / "config.yaml"
    cfg.write_text(
        "common: {daemonize: false, log_media: stdout, log_level: error, working_dir: .}\n"
        f"config_paths: {{config_dir: {tmp}/, data_dir: {tmp}/data/, simulation_path: {tmp}/simulation.yaml,"
        f" hub_dir: {tmp}/hub/, index_path: {tmp}/hub/.index.json}}\n"
        f"db_config: {{type: sqlite, db_path: {tmp}/data/crowdsec.db, use_wal: true}}\n"
        f"api:\n  client: {{credentials_path: {tmp}/lapi.yaml}}\n{extra}"
        "prometheus: {enabled: false}\n"
    )
    return cfg


async def wait_ready(url: str, key: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url + "/v1/decisions?ip=127.0.0.1", headers={"X-Api-Key": key}) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start_crowdwatch(tmp: Path, port: int, n_keys: int) -> Target:
    cfg = tmp / "cw"
    cw = [sys.executable, "-m", "crowdwatch.cli.main", "--config-dir", str(cfg)]
    run([*cw, "config", "show", "-o", "json"])  # creates the directory
    text = (cfg / "config.yaml").read_text().replace("log_level: info", "log_level: error")
    (cfg / "config.yaml").write_text(text)
    (cfg / "profiles.yaml").write_text(PROFILES)
    run([*cw, "machines", "add", "bench", "--password", PASSWORD])
    keys = [f"bench-key-{i:04d}-crowdwatch" for i in range(n_keys)]
    for i, key in enumerate(keys):
        run([*cw, "bouncers", "add", f"b{i}", "--key", key])
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*cw, "lapi", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL)
    return Target("crowdwatch", url, proc, keys, cscli_config(tmp / "cscli-cw", url))


def start_crowdsec(tmp: Path, port: int, n_keys: int) -> Target:
    d = tmp / "cs"
    url = f"http://127.0.0.1:{port}"
    server = (
        f"  server:\n    listen_uri: 127.0.0.1:{port}\n    profiles_path: {d}/profiles.yaml\n"
        "    log_level: error\n"
    )
    cfg = cscli_config(d, url, server)
    (d / "profiles.yaml").write_text(PROFILES)
    run(
        [
            CSCLI,
            "-c",
            str(cfg),
            "machines",
            "add",
            "bench",
            "--password",
            PASSWORD,
            "-f",
            str(d / "unused.yaml"),
        ]
    )
    keys = [f"bench-key-{i:04d}-crowdsec" for i in range(n_keys)]
    for i, key in enumerate(keys):
        run([CSCLI, "-c", str(cfg), "bouncers", "add", f"b{i}", "-k", key])
    proc = subprocess.Popen(
        [CROWDSEC, "-c", str(cfg), "-no-cs"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d
    )
    return Target("crowdsec", url, proc, keys, cfg)


def import_decisions(t: Target, n: int, tmp: Path) -> float:
    csv = tmp / "decisions.csv"
    if not csv.exists():
        lines = ["duration,scope,value"] + [
            f"4h,ip,10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(n)
        ]
        csv.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    run([CSCLI, "-c", str(t.cscli_config), "decisions", "import", "-i", str(csv)], timeout=1800)
    return time.perf_counter() - start


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) >= 100 else float("nan")


async def load(
    seconds: float, workers: int, request: Callable[[aiohttp.ClientSession, int], Awaitable[bool]]
) -> tuple[float, float, int]:
    """Run ``request`` in ``workers`` loops for ``seconds``; (successful requests/s, p99 ms, failures)."""
    latencies: list[float] = []
    failures = [0]
    deadline = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=conn) as s:

        async def worker(i: int) -> None:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                if await request(s, i):
                    latencies.append(time.perf_counter() - t0)
                else:
                    failures[0] += 1

        start = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(workers)))
        elapsed = time.monotonic() - start
    return len(latencies) / elapsed, p99(latencies), failures[0]


async def measure(t: Target, args: argparse.Namespace) -> None:
    await wait_ready(t.url, t.keys[0])
    t.results["rss_idle_mb"] = t.rss_kb() / 1024
    t.results["import_s"] = import_decisions(t, args.decisions, Path(args.tmp))
    await asyncio.sleep(2)  # let both servers settle (index sync, WAL checkpoint)
    t.results["rss_import_mb"] = t.rss_kb() / 1024
    t.results["hwm_import_mb"] = t.peak_rss_kb() / 1024
    async with aiohttp.ClientSession() as s:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            async with s.get(
                t.url + "/v1/decisions/stream?startup=true", headers={"X-Api-Key": t.keys[0]}
            ) as r:
                raw = await r.read()
            times.append(time.perf_counter() - t0)  # the answer, complete (the client's parse apart)
        t.results["startup_s"] = statistics.median(times)
        t.results["startup_new"] = len(json.loads(raw).get("new") or [])
        for key in t.keys:  # every bouncer has pulled once: later polls are deltas
            async with s.get(t.url + "/v1/decisions/stream?startup=true", headers={"X-Api-Key": key}) as r:
                await r.read()
        # CrowdSec 1.4.6 reads the agent version from the User-Agent and refuses a login without one
        login = {"machine_id": "bench", "password": PASSWORD}
        async with s.post(t.url + "/v1/watchers/login", json=login, headers={"User-Agent": AGENT_UA}) as r:
            doc = await r.json(content_type=None)
            if "token" not in doc:
                raise RuntimeError(f"{t.name}: login failed: {r.status} {doc}")
            token = doc["token"]

    async def poll(s: aiohttp.ClientSession, i: int) -> bool:
        async with s.get(t.url + "/v1/decisions/stream", headers={"X-Api-Key": t.keys[i]}) as r:
            await r.read()
            return r.status == 200

    rng = random.Random(1)

    async def query(s: aiohttp.ClientSession, i: int) -> bool:
        n = rng.randrange(args.decisions * 2)
        ip = (
            f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            if n < args.decisions
            else f"172.16.{n >> 8 & 255}.{n & 255}"
        )
        async with s.get(t.url + "/v1/decisions?ip=" + ip, headers={"X-Api-Key": t.keys[i]}) as r:
            await r.read()
            return r.status == 200

    counter = [0]

    async def push(s: aiohttp.ClientSession, i: int) -> bool:
        counter[0] += 1
        n = counter[0]
        ip = f"192.0.{n >> 8 & 255}.{n & 255}"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        alert = {
            "capacity": 5, "events_count": 6, "leakspeed": "10s", "remediation": True,
            "scenario": "bench/ssh-bf", "scenario_hash": "", "scenario_version": "", "simulated": False,
            "message": f"Ip {ip} performed 'bench/ssh-bf' (6 events over 5s)", "start_at": now, "stop_at": now,
            "source": {"ip": ip, "scope": "Ip", "value": ip},
            "events": [{"timestamp": now, "meta": [{"key": "source_ip", "value": ip}]}],
        }  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "User-Agent": AGENT_UA}
        async with s.post(t.url + "/v1/alerts", json=[alert], headers=headers) as r:
            await r.read()
            return r.status == 201

    res = t.results
    res["poll_rps"], res["poll_p99_ms"], res["poll_errors"] = await load(args.seconds, len(t.keys), poll)
    res["ip_rps"], res["ip_p99_ms"], res["ip_errors"] = await load(args.seconds, len(t.keys), query)
    res["hwm_before_alerts_mb"] = t.peak_rss_kb() / 1024  # 100k decisions, every bouncer served
    res["alerts_rps"], res["alerts_p99_ms"], res["alerts_errors"] = await load(
        args.seconds, args.agents, push
    )
    t.results["rss_mb"] = t.peak_rss_kb() / 1024


ROWS = [
    ("import_s", "cscli decisions import (s)", "lower"),
    ("startup_s", "startup=true stream (s)", "lower"),
    ("poll_rps", "stream polls/s", "higher"),
    ("poll_p99_ms", "  p99 (ms)", "lower"),
    ("poll_errors", "  failed requests", "lower"),
    ("ip_rps", "GET /v1/decisions?ip= req/s", "higher"),
    ("ip_p99_ms", "  p99 (ms)", "lower"),
    ("ip_errors", "  failed requests", "lower"),
    ("alerts_rps", "alerts ingested/s", "higher"),
    ("alerts_p99_ms", "  p99 (ms)", "lower"),
    ("alerts_errors", "  failed requests (HTTP 5xx)", "lower"),
    ("rss_mb", "peak RSS (MiB)", "lower"),
    ("rss_idle_mb", "  RSS idle, before the import (MiB)", "lower"),
    ("rss_import_mb", "  RSS after the import (MiB)", "lower"),
    ("hwm_import_mb", "  peak RSS up to the end of the import (MiB)", "lower"),
    ("hwm_before_alerts_mb", "  peak RSS before the alert pushes (MiB)", "lower"),
]


def report(cw: Target, cs: Target | None) -> None:
    print(f"\n| figure | crowdwatch | {'crowdsec 1.4.6 | ratio (better = >1) ' if cs else ''}|")
    print("|---|---:|" + ("---:|---:|" if cs else ""))
    for key, label, better in ROWS:
        a = cw.results.get(key, float("nan"))
        line = f"| {label} | {a:,.2f} |"
        if cs is not None:
            b = cs.results.get(key, float("nan"))
            ratio = (a / b if better == "higher" else b / a) if a and b else float("nan")
            line += f" {b:,.2f} | {ratio:.2f}× |"
        print(line)
    print(f"\nstartup set sizes: crowdwatch {cw.results.get('startup_new'):.0f}", end="")
    print(f", crowdsec {cs.results.get('startup_new'):.0f}" if cs else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=100_000)
    ap.add_argument("--bouncers", type=int, default=20)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-crowdsec", action="store_true", help="measure crowdwatch only")
    args = ap.parse_args()
    have_cs = os.access(CROWDSEC, os.X_OK) and os.access(CSCLI, os.X_OK) and not args.no_crowdsec
    if not os.access(CSCLI, os.X_OK):
        sys.exit("cscli (CrowdSec 1.4.6) is needed to import decisions")
    with tempfile.TemporaryDirectory(prefix="bench-lapi-") as tmp:
        args.tmp = tmp
        cw = start_crowdwatch(Path(tmp), 18_480, args.bouncers)
        try:
            asyncio.run(measure(cw, args))
        finally:
            cw.stop()
        cs = None
        if have_cs:
            cs = start_crowdsec(Path(tmp), 18_481, args.bouncers)
            try:
                asyncio.run(measure(cs, args))
            finally:
                cs.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(cw, cs)


if __name__ == "__main__":
    main()
