#!/usr/bin/env python3
"""End-to-end latency: a botnet hits a watched nginx log → agent → LAPI → a polling bouncer.

For each system in turn (crowdwatch's ``crowdwatch run``, then Debian's crowdsec 1.4.6 agent +
its own LAPI in one process), with the same hub items (``crowdsecurity/nginx`` +
``crowdsecurity/base-http-scenarios`` + the base parsers and offline whitelists, as in
``bench_replay.py``; CrowdSec's copies rewritten so 1.4.6 loads them and crowdwatch loads the
very same files):

1. the service starts on an empty, tailed ``access.log`` (SQLite, throwaway directory);
2. a writer appends, in real time, legitimate traffic (``--legit-rate`` lines/s for the whole
   run) and a botnet of ``--bots`` source IPs, each probing ``--probes`` distinct missing
   paths (``crowdsecurity/http-probing``: more than 10 distinct 404s in a few seconds), bots
   starting uniformly over the first ``--ramp`` seconds of the attack;
3. a bouncer polls ``/v1/decisions/stream`` every second (``startup=true`` first) and records
   when each botnet IP first appears.

Printed per system: the time from the first attack line until 50 % and 95 % of the botnet is
visible to the bouncer, the share visible at the end, false positives (legitimate IPs banned),
and the ratio crowdwatch/CrowdSec. A system that does not reach a mark within ``--timeout``
seconds is reported as such with the share it reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lapi import wait_ready
from bench_replay import BASE_PARSERS, CS_KINDS, DATASETS, POSTOVERFLOWS, crowdsec_setup
from benchutil import FakeLapi
from gen_logs import BROWSERS, PAGES, TOOL_AGENTS

ROOT = Path(__file__).resolve().parent.parent
CROWDSEC = "/usr/bin/crowdsec"
CSCLI = "/usr/bin/cscli"
BOUNCER_KEY = "e2e-bench-bouncer-key-0123456789"
PASSWORD = "e2e-bench-password-0123456789"
PROFILES = """\
name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
"""
PROBE_PATHS = tuple(
    f"/{w}{i}.php" for w in ("admin", "backup", "old", "test", "config", "wp-x") for i in range(8)
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- traffic -------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Lines to append, each with its offset in seconds from the start of writing."""

    lines: list[tuple[float, str, str]]  # (offset, ip, line template with {ts})
    bots: set[str]
    legit: set[str]
    attack_start: float


def make_traffic(bots: int, probes: int, ramp: float, legit_rate: float, warmup: float, seed: int) -> Traffic:
    rng = random.Random(seed)
    out: list[tuple[float, str, str]] = []
    legit: set[str] = set()
    duration = warmup + ramp + 10.0
    n_legit = int(legit_rate * duration)
    for _ in range(n_legit):
        t = rng.uniform(0, duration)
        ip = f"10{rng.randrange(0, 10)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        legit.add(ip)
        page = rng.choice(PAGES)
        ua = rng.choice(BROWSERS)
        status = 404 if rng.random() < 0.02 else 200
        out.append((t, ip, f'{ip} - - [{{ts}}] "GET {page} HTTP/1.1" {status} 9123 "-" "{ua}"'))
    bot_ips: set[str] = set()
    while len(bot_ips) < bots:
        bot_ips.add(
            f"{rng.choice((45, 77, 185, 193))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        )
    for ip in sorted(bot_ips):
        t = warmup + rng.uniform(0, ramp)
        ua = rng.choice(TOOL_AGENTS)
        for path in rng.sample(PROBE_PATHS, probes):
            t += rng.uniform(0.05, 0.4)
            out.append((t, ip, f'{ip} - - [{{ts}}] "GET {path} HTTP/1.1" 404 153 "-" "{ua}"'))
    out.sort(key=lambda x: x[0])
    return Traffic(out, bot_ips, legit - bot_ips, warmup)


class Writer(threading.Thread):
    """Appends the traffic to ``path`` in real time (every 20 ms, the lines that are due)."""

    def __init__(self, path: Path, traffic: Traffic) -> None:
        super().__init__(daemon=True)
        self.path, self.traffic = path, traffic
        self.first_attack: float | None = None  # monotonic time of the first attack line written
        self.lag = 0.0  # worst delay behind schedule
        self.stop = threading.Event()

    def run(self) -> None:
        lines = self.traffic.lines
        bots = self.traffic.bots
        i = 0
        t0 = time.monotonic()
        with self.path.open("a", encoding="utf-8") as f:
            while i < len(lines) and not self.stop.is_set():
                now = time.monotonic() - t0
                ts = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
                chunk: list[str] = []
                while i < len(lines) and lines[i][0] <= now:
                    _, ip, tmpl = lines[i]
                    if self.first_attack is None and ip in bots:
                        self.first_attack = time.monotonic()
                    chunk.append(tmpl.replace("{ts}", ts))
                    i += 1
                if chunk:
                    f.write("\n".join(chunk) + "\n")
                    f.flush()
                    self.lag = max(self.lag, now - lines[i - 1][0])
                time.sleep(0.02)


# --- the bouncer -----------------------------------------------------------------------------------


@dataclass
class Seen:
    first: dict[str, float] = field(default_factory=dict)  # ip -> monotonic time first seen
    polls: int = 0


async def poll(url: str, key: str, seen: Seen, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(headers={"X-Api-Key": key}) as s:
        startup = "true"
        while not stop.is_set():
            try:
                async with s.get(f"{url}/v1/decisions/stream", params={"startup": startup}) as r:
                    if r.status == 200:
                        doc = await r.json(content_type=None) or {}
                        now = time.monotonic()
                        for d in doc.get("new") or ():
                            seen.first.setdefault(d["value"], now)
                        startup = "false"
                        seen.polls += 1
            except aiohttp.ClientError:
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


# --- systems -------------------------------------------------------------------------------------


@dataclass
class System:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def copy_items(src: Path, dest: Path) -> None:
    for kind in CS_KINDS:
        if (src / kind).is_dir():
            shutil.copytree(src / kind, dest / kind, dirs_exist_ok=True)


def start_crowdwatch(root: Path, items: Path, hub: Path) -> System:
    d = root / "cw"
    port, metrics = free_port(), free_port()
    cw = [sys.executable, "-m", "crowdwatch.cli.main", "--config-dir", str(d)]
    subprocess.run([*cw, "config", "show", "-o", "json"], check=True, capture_output=True)
    text = (d / "config.yaml").read_text()
    text = text.replace("log_level: info", "log_level: warning")
    text = text.replace("listen_uri: 127.0.0.1:8080", f"listen_uri: 127.0.0.1:{port}")
    text += f"prometheus:\n  listen_port: {metrics}\n"
    (d / "config.yaml").write_text(text)
    copy_items(items, d)
    shutil.rmtree(d / "data", ignore_errors=True)
    shutil.copytree(hub / "data", d / "data", copy_function=shutil.copyfile)
    text = (
        (d / "config.yaml")
        .read_text()
        .replace("config_paths:\n", f"config_paths:\n  pattern_dir: {hub / 'patterns'}\n", 1)
    )
    (d / "config.yaml").write_text(text)
    (d / "profiles.yaml").write_text(PROFILES)
    log = root / "cw-access.log"
    log.touch()
    (d / "acquis.yaml").write_text(f"filenames:\n  - {log}\nlabels:\n  type: nginx\n")
    subprocess.run([*cw, "bouncers", "add", "e2e", "--key", BOUNCER_KEY], check=True, capture_output=True)
    out = (root / "cw.out").open("wb")
    proc = subprocess.Popen([*cw, "run"], stdout=out, stderr=subprocess.STDOUT, cwd=d)
    return System("crowdwatch", f"http://127.0.0.1:{port}", proc, log)


def start_crowdsec(root: Path, hub: Path) -> tuple[System, Path]:
    """CrowdSec 1.4.6, agent + LAPI in one process, items as :func:`crowdsec_setup` prepares them."""
    ds = next(d for d in DATASETS if d.name == "nginx")
    d = root / "cs"
    d.mkdir()
    probe = '1.2.3.4 - - [10/Mar/2024:08:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8"'
    fake = FakeLapi()  # answers the dry runs that find the items 1.4.6 refuses
    setup = crowdsec_setup(d, hub, ds, fake.port, probe)
    fake.server.shutdown()
    port = free_port()
    log = root / "cs-access.log"
    log.touch()
    (d / "acquis.yaml").write_text(f"filenames:\n  - {log}\nlabels:\n  type: nginx\n")
    (d / "profiles.yaml").write_text(PROFILES)
    (d / "lapi.yaml").write_text(f"url: http://127.0.0.1:{port}/\nlogin: e2e\npassword: {PASSWORD}\n")
    text = setup.config.read_text()
    text = text.replace(
        "api: {client: {credentials_path:",
        "api: {server: {listen_uri: "
        f"'127.0.0.1:{port}', profiles_path: {d}/profiles.yaml, log_level: error}}, client: {{credentials_path:",
    )
    setup.config.write_text(text)
    subprocess.run(
        [
            CSCLI,
            "-c",
            str(setup.config),
            "machines",
            "add",
            "e2e",
            "--password",
            PASSWORD,
            "-f",
            str(d / "unused.yaml"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [CSCLI, "-c", str(setup.config), "bouncers", "add", "e2e", "-k", BOUNCER_KEY],
        check=True,
        capture_output=True,
    )
    out = (root / "cs.out").open("wb")
    proc = subprocess.Popen([CROWDSEC, "-c", str(setup.config)], stdout=out, stderr=subprocess.STDOUT, cwd=d)
    return System("crowdsec 1.4.6", f"http://127.0.0.1:{port}", proc, log), d


@dataclass
class Result:
    name: str
    t50: float | None
    t95: float | None
    share: float
    false_positives: int
    writer_lag: float
    elapsed: float


async def measure(sys_: System, traffic: Traffic, timeout: float) -> Result:
    await wait_ready(sys_.url, BOUNCER_KEY, timeout=90)
    await asyncio.sleep(2.0)  # let the agent start tailing
    seen = Seen()
    stop = asyncio.Event()
    poller = asyncio.create_task(poll(sys_.url, BOUNCER_KEY, seen, stop))
    writer = Writer(sys_.log, traffic)
    writer.start()
    t_start = time.monotonic()
    bots = traffic.bots
    need50, need95 = len(bots) * 0.5, len(bots) * 0.95
    while time.monotonic() - t_start < timeout + traffic.attack_start:
        await asyncio.sleep(0.5)
        if sum(1 for ip in seen.first if ip in bots) >= need95:
            break
        if sys_.proc.poll() is not None:
            break
    writer.stop.set()
    stop.set()
    await poller
    first = writer.first_attack or t_start
    times = sorted(t - first for ip, t in seen.first.items() if ip in bots)

    def mark(n: float) -> float | None:
        k = int(n + 0.999999)
        return max(times[k - 1], 0.0) if len(times) >= k > 0 else None

    return Result(
        sys_.name,
        mark(need50),
        mark(need95),
        len(times) / len(bots),
        sum(1 for ip in seen.first if ip in traffic.legit),
        writer.lag,
        time.monotonic() - first,
    )


def stop_proc(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fmt(t: float | None) -> str:
    return f"{t:.1f} s" if t is not None else "—"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hub", type=Path, default=ROOT.parent / "shared" / "hub")
    ap.add_argument("--bots", type=int, default=7000)
    ap.add_argument("--probes", type=int, default=12, help="404s per bot (http-probing: > 10 distinct)")
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds over which the bots start")
    ap.add_argument("--legit-rate", type=float, default=300.0, help="legitimate lines/s")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of legitimate traffic first")
    ap.add_argument("--timeout", type=float, default=180.0, help="give up this long after the attack starts")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-crowdsec", action="store_true")
    ap.add_argument("--no-crowdwatch", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    traffic = make_traffic(args.bots, args.probes, args.ramp, args.legit_rate, args.warmup, args.seed)
    n_attack = sum(1 for _, ip, _ in traffic.lines if ip in traffic.bots)
    print(
        f"traffic: {len(traffic.lines)} lines ({n_attack} from {len(traffic.bots)} bots over "
        f"{args.ramp:.0f} s, {len(traffic.lines) - n_attack} legitimate)",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="cw-e2e-"))
    results: list[Result] = []
    try:
        run_cs = not args.no_crowdsec and Path(CROWDSEC).exists()
        items = tmp / "items"
        cs: System | None = None
        if run_cs:
            cs, cs_dir = start_crowdsec(tmp, args.hub)
            stop_proc(cs.proc)  # items prepared; CrowdSec runs after crowdwatch, alone
            copy_items(cs_dir, items)
        else:
            from crowdwatch.hub.index import Hub
            from crowdwatch.hub.loadout import select_items

            ds = next(d for d in DATASETS if d.name == "nginx")
            sel = select_items(Hub(args.hub), BASE_PARSERS, None, POSTOVERFLOWS, ds.collections)
            for kind in CS_KINDS:
                for item in sel[kind]:
                    dest = items / kind / (item.stage or "") / item.path.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(item.path, dest)
        if not args.no_crowdwatch:
            cw = start_crowdwatch(tmp, items, args.hub)
            try:
                results.append(asyncio.run(measure(cw, traffic, args.timeout)))
            finally:
                stop_proc(cw.proc)
            print(f"  {results[-1]}", flush=True)
        if run_cs:
            shutil.rmtree(tmp / "cs")
            cs, _ = start_crowdsec(tmp, args.hub)
            try:
                results.append(asyncio.run(measure(cs, traffic, args.timeout)))
            finally:
                stop_proc(cs.proc)
            print(f"  {results[-1]}", flush=True)
    finally:
        if args.keep:
            print(f"work directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(
        f"{'system':<16}{'50% visible':>14}{'95% visible':>14}{'visible at end':>16}{'legit banned':>14}{'writer lag':>12}"
    )
    for r in results:
        print(
            f"{r.name:<16}{fmt(r.t50):>14}{fmt(r.t95):>14}{r.share:>15.1%}{r.false_positives:>14}{r.writer_lag:>11.1f}s"
        )
    if len(results) == 2:
        a, b = results
        for label, x, y in (("50%", a.t50, b.t50), ("95%", a.t95, b.t95)):
            if x and y:
                print(f"time to {label}: crowdwatch {y / x:.1f}x faster")
            elif x and not y:
                print(
                    f"time to {label}: crowdwatch {fmt(x)}; CrowdSec did not get there in {args.timeout:.0f} s "
                    f"(≥ {args.timeout / x:.1f}x)"
                )


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
