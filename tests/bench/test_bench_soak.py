"""bench/bench_soak.py: its traffic generator, its simulated clock, its verdict and a tiny run."""

from __future__ import annotations

import subprocess
import sys
import types
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
HUB = ROOT.parent / "shared" / "hub"
sys.path.insert(0, str(BENCH))

import bench_soak as soak  # noqa: E402
from crowdwatch.event import LIVE, Event, Line  # noqa: E402

needs_hub = pytest.mark.skipif(not (HUB / "collections").is_dir(), reason=f"hub snapshot not found at {HUB}")


def _ip(text: str) -> str:
    if text[0].isdigit():
        return text.split(" ", 1)[0]
    for word in text.split():
        if word.count(".") == 3 and word.replace(".", "").isdigit():
            return word
    return ""


def test_traffic_is_ordered_exact_and_deterministic() -> None:
    lines = list(soak.traffic(20_000, 3600.0, 7))
    assert len(lines) == 20_000
    times = [t for t, _, _ in lines]
    assert times == sorted(times)
    assert times[0] >= 0 and times[-1] < 3600 * 1.1
    assert lines == list(soak.traffic(20_000, 3600.0, 7))
    assert lines != list(soak.traffic(20_000, 3600.0, 8))
    share = sum(1 for _, si, _ in lines if si == 0) / len(lines)
    assert 0.75 < share < 0.85  # nginx is 80 % of the lines


def test_traffic_churns_source_ips_with_few_attackers() -> None:
    lines = list(soak.traffic(30_000, 7200.0, 1))
    ips = {_ip(text) for _, si, text in lines if si == 0}
    ips.discard("")
    attack_blocks = {str(b) for b in soak.gl.ATTACK_BLOCKS}
    attackers = {ip for ip in ips if ip.split(".")[0] in attack_blocks}
    assert len(ips) > 3000  # a new address for nearly every session
    assert 0.01 < len(attackers) / len(ips) < 0.08


def test_generator_memory_does_not_accumulate() -> None:
    gen = soak.traffic(50_000, 7200.0, 3)
    assert isinstance(gen, types.GeneratorType)
    g_refs = []
    for i, _ in enumerate(gen):
        if i == 49_000:
            frame = gen.gi_frame
            assert frame is not None
            g_refs.append(frame.f_locals["g"])
            heap = frame.f_locals["heap"]
            assert len(heap) < 5_000  # only sessions in flight wait
    g = g_refs[0]
    assert not g.used and len(g.http_times) < 100 and len(g.sys_times) < 100


def test_verdict() -> None:
    def sample(n: int, rss: int) -> soak.Sample:
        return soak.Sample(n, 0.0, rss, 10, 0, 0, 0.0)

    flat, text = soak.verdict([sample(100, 500), sample(200, 50_000), sample(1000, 54_000)], 1000, 0.10)
    assert flat and "FLAT" in text and "+8.0%" in text
    flat, text = soak.verdict([sample(200, 50_000), sample(1000, 56_000)], 1000, 0.10)
    assert not flat and "NOT FLAT" in text
    flat, _ = soak.verdict([sample(1000, 56_000)], 1000, 0.10)
    assert not flat  # one sample: no verdict


def _ssh_event(ip: str, at: timedelta) -> Event:
    text = f"Mar 10 08:00:00 web1 sshd[42]: Invalid user admin from {ip} port 4242"
    return Event(Line(text, "/var/log/auth.log", {"type": "syslog"}, "file", soak.SIM_START + at), LIVE)


@needs_hub
def test_simulated_clock_drives_live_buckets() -> None:
    engine = soak.load_engine(HUB)
    scen = engine.scenarios
    assert isinstance(scen, soak.SimClockScenarios)
    engine.process(_ssh_event("80.1.2.1", timedelta(seconds=0)))
    per_ip = scen.live_buckets()
    assert per_ip >= 1
    for i in range(1, 3):
        engine.process(_ssh_event(f"80.1.2.{i + 1}", timedelta(seconds=i)))
    assert scen.live_buckets() == 3 * per_ip
    assert scen.now == soak.SIM_START + timedelta(seconds=2)
    # three simulated hours later: the tick before this pour expired every earlier bucket,
    # although hardly any wall-clock time has passed
    engine.process(_ssh_event("80.9.9.9", timedelta(hours=3)))
    assert scen.live_buckets() == per_ip
    assert scen.ticks >= 2


@needs_hub
def test_tiny_soak_run(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "bench_soak.py"), "--lines", "4000", "--hours", "0.25"]
    cmd += ["--every", "1000", "--max-growth", "100"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "| 4,000 | 00:1" in out  # the last sample, about 15 simulated minutes in
    assert "4,000 lines in" in out and "verdict: RSS" in out and "FLAT" in out
    assert "file:/var/log/nginx/access.log: lines 3," in out
    assert "pipeline errors 0, pour errors 0" in out
