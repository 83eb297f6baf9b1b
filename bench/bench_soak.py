#!/usr/bin/env python3
"""Soak benchmark: the agent's live detection path over millions of lines with churning source IPs.

Generated nginx and sshd traffic (the actors of ``bench/gen_logs.py``, reweighted so that most
sessions are legitimate visitors from addresses never seen before and a few percent attack)
runs through the agent's own :class:`~crowdwatch.agent.pipeline.Pipeline` with the hub
collections of ``bench/bench_replay.py`` (``crowdsecurity/nginx`` + ``base-http-scenarios``,
``crowdsecurity/sshd``, the base parsers of ``crowdsecurity/linux`` and the offline
postoverflow whitelists), as a live agent runs them:

* a :class:`GeneratedSource` (the ``LiveSource`` contract of ``acquisition.base``) produces the
  lines on the fly, in time order, with stream positions and per-stream counters; nothing is
  written to disk but the agent state;
* events are LIVE; the wall clock is replaced by a compressed simulated clock (by default
  10 M lines span 24 simulated hours): each line carries its simulated time, the scenarios
  are poured with it and ticked every simulated second (live garbage collection, counters);
* the pipeline checkpoints positions, counters, alerts and bucket dumps into a real
  ``agent-state.db`` in a temporary directory, and a stand-in for the pusher acknowledges
  the queued alerts (what the pusher does once the LAPI answered 201).

Every ``--every`` lines (default: lines / 40, i.e. 250k for 10 M) the engine thread samples
the process RSS (``VmRSS``), the live bucket count and the alerts so far. The verdict
compares the RSS at the 20 % mark with the RSS at the end: flat is a growth below
``--max-growth`` (10 %); the exit status is 1 when memory is not flat.
``--tracemalloc`` also snapshots the Python heap at the 20 % mark and at the end and prints
the allocation sites that grew most (it slows the run down about 3×).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import gen_logs as gl
from crowdwatch.acquisition.base import LineRecord, Resume, Sink, SourceCounters, SourceSpec
from crowdwatch.agent.pipeline import Pipeline
from crowdwatch.agent.state import AgentState
from crowdwatch.event import LOG, Event
from crowdwatch.scenarios import PourRecorder, ScenarioSet

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ("crowdsecurity/nginx", "crowdsecurity/base-http-scenarios", "crowdsecurity/sshd")
BASE_PARSERS = (
    "crowdsecurity/syslog-logs",
    "crowdsecurity/dateparse-enrich",
    "crowdsecurity/whitelists",
    "crowdsecurity/public-dns-allowlist",
)
POSTOVERFLOWS = ("crowdsecurity/cdn-whitelist", "crowdsecurity/seo-bots-whitelist")
SIM_START = gl.START + timedelta(seconds=gl._START_SECOND)  # simulated time 0 (the generator's 08:00)
WINDOW = 10.0  # simulated seconds of sessions generated at a time
TICK = timedelta(seconds=1)

# Sessions: mostly legitimate visitors (fresh addresses), a few percent attackers.
NGINX_ROLES = (
    gl.Role(gl.visitor, 0.93),
    gl.Role(gl.good_bot, 0.03),
    gl.Role(gl.scanner, 0.008, "scanner", True),
    gl.Role(gl.cve_prober, 0.01, "cve_probe", True),
    gl.Role(gl.brute_force, 0.006, "http_bruteforce", True),
    gl.Role(gl.crawler, 0.001, "aggressive_crawler", True),
    gl.Role(gl.bad_agent, 0.01, "bad_user_agent", True),
    gl.Role(gl.private_scanner, 0.002, "private_scanner"),
    gl.Role(gl.cdn_scanner, 0.001, "cdn_scanner"),
    gl.Role(gl.seo_bot_crawl, 0.001, "seo_bot_crawl"),
)
SSH_ROLES = (
    gl.Role(gl.ssh_bruteforce, 0.01, "ssh_bruteforce", True),
    gl.Role(gl.ssh_slow_bruteforce, 0.003, "ssh_slow_bruteforce", True),
    gl.Role(gl.ssh_time_based, 0.002, "ssh_time_based", True),
    gl.Role(gl.ssh_refused, 0.005, "ssh_refused", True),
    gl.Role(gl.ssh_timeouts, 0.005, "ssh_preauth_timeouts", True),
    gl.Role(gl.ssh_admin, 0.15),
    gl.Role(gl.ssh_private, 0.20),
    gl.Role(gl.system_noise, 0.625),
)


@dataclass(frozen=True)
class Stream:
    """One generated log: its stream key, file name, labels, actors and share of the lines."""

    key: str
    path: str
    labels: dict[str, str]
    roles: tuple[gl.Role, ...]
    share: float


STREAMS = (
    Stream(
        "file:/var/log/nginx/access.log", "/var/log/nginx/access.log", {"type": "nginx"}, NGINX_ROLES, 0.8
    ),
    Stream("file:/var/log/auth.log", "/var/log/auth.log", {"type": "syslog"}, SSH_ROLES, 0.2),
)


# --- traffic ---------------------------------------------------------------------------------


class SoakGen(gl.Gen):
    """``gen_logs.Gen`` without its per-run memory: attacker addresses are not remembered (a
    collision among 80 M addresses is harmless here) and the timestamp caches are emptied
    every window by :func:`traffic`, so the generator's own footprint stays flat."""

    def attacker_ip(self) -> str:
        r = self.rng.getrandbits(24)
        ip = f"{self.rng.choice(gl.ATTACK_BLOCKS)}.{r >> 16}.{(r >> 8) & 255}.{(r & 127) + 1}"
        self.last_ip = ip
        return ip


def traffic(lines: int, span: float, seed: int) -> Generator[tuple[float, int, str], None, None]:
    """``lines`` log lines ``(simulated second, stream index, text)`` in time order over ``span`` s.

    Sessions start uniformly within successive windows of :data:`WINDOW` seconds, as many as
    each stream's share of the line rate asks for; their lines wait in a heap until the
    window they fall in is complete, so memory holds only the sessions in flight.
    """
    rng = random.Random(seed)
    g = SoakGen(rng)
    rate = lines / span
    cums = [list(_cumulative(s.roles)) for s in STREAMS]
    budget = [0.0] * len(STREAMS)
    heap: list[tuple[float, int, int, str]] = []
    seq = 0
    emitted = 0
    w = 0.0
    while True:
        end = w + WINDOW
        for si, stream in enumerate(STREAMS):
            budget[si] += rate * stream.share * WINDOW
            while budget[si] > 0:
                for role in rng.choices(stream.roles, cum_weights=cums[si], k=16):
                    for t, text in role.actor(g, rng.uniform(w, end)):
                        heapq.heappush(heap, (t, seq, si, text))
                        seq += 1
                        budget[si] -= 1
        g.http_times.clear()
        g.sys_times.clear()
        while heap and heap[0][0] < end:
            t, _, si, text = heapq.heappop(heap)
            yield t, si, text
            emitted += 1
            if emitted >= lines:
                return
        w = end


def _cumulative(roles: Sequence[gl.Role]) -> Iterator[float]:
    total = 0.0
    for r in roles:
        total += r.weight
        yield total


# --- the source ------------------------------------------------------------------------------


class GeneratedSource:
    """A ``LiveSource`` over :func:`traffic`: one thread hands every line to the agent's sink,
    with its simulated time, the stream's position (line count) and counters.

    ``on_mark(n)`` is called from the source thread after every ``every`` lines (and at the end).
    """

    def __init__(
        self, lines: int, span: float, seed: int, every: int, on_mark: Callable[[int], None]
    ) -> None:
        self.spec = SourceSpec(source="generated", labels={}, file="bench_soak.py")
        self.lines, self.span, self.seed, self.every = lines, span, seed, every
        self.on_mark = on_mark
        self._counters = {s.key: SourceCounters(type=s.labels["type"]) for s in STREAMS}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False
        self.error: BaseException | None = None

    def start(self, sink: Sink, resume: Resume) -> None:
        offsets = []
        for s in STREAMS:
            pos = resume(s.key)
            offsets.append(int(pos["line"]) if isinstance(pos, dict) else 0)
        self._thread = threading.Thread(
            target=self._run, args=(sink, offsets), name="soak-source", daemon=True
        )
        self._thread.start()

    def _run(self, sink: Sink, offsets: list[int]) -> None:
        try:
            keys = [s.key for s in STREAMS]
            labels = [s.labels for s in STREAMS]
            paths = [s.path for s in STREAMS]
            counters = [self._counters[k] for k in keys]
            every, n = self.every, 0
            for t, si, text in traffic(self.lines, self.span, self.seed):
                if self._stop.is_set():
                    return
                offsets[si] += 1
                counters[si].read += 1
                sink(
                    LineRecord(
                        keys[si],
                        text,
                        labels[si],
                        "file",
                        paths[si],
                        {"line": offsets[si]},
                        SIM_START + timedelta(seconds=t),
                    )
                )
                n += 1
                if n % every == 0:
                    self.on_mark(n)
            if n % every:
                self.on_mark(n)
        except BaseException as exc:  # reported by the driver
            self.error = exc
        finally:
            self._done = True

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    @property
    def done(self) -> bool:
        return self._done

    def counters(self) -> dict[str, SourceCounters]:
        return dict(self._counters)


# --- the simulated clock ---------------------------------------------------------------------


class SimClockScenarios(ScenarioSet):
    """The scenarios on the simulated clock: a LIVE log event's ``Line.Time`` (its simulated
    arrival) is the scenarios' "now"; before pouring an event of a new simulated second, the
    buckets are ticked (what the agent does every wall-clock second). Ticks asked for with the
    wall clock (the pipeline's own) use the simulated time instead."""

    __slots__ = ("next_tick", "now", "ticks")

    def __init__(self, base: ScenarioSet) -> None:
        super().__init__(base.scenarios, base.stats)
        self.now = SIM_START
        self.next_tick = SIM_START + TICK
        self.ticks = 0

    def pour(
        self, evt: Event, now: datetime | None = None, recorder: PourRecorder | None = None
    ) -> list[Event]:
        if now is None:
            if evt.Type == LOG and evt.Line.Time > self.now:
                self.now = evt.Line.Time
            now = self.now
        due: list[Event] = []
        if now >= self.next_tick:
            due = super().tick(now)
            self.ticks += 1
            self.next_tick = now.replace(microsecond=0) + TICK
        out = super().pour(evt, now, recorder)
        return due + out if due else out

    def tick(self, now: datetime) -> list[Event]:
        return super().tick(self.now)


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Sample:
    lines: int
    sim_seconds: float
    rss_kb: int
    buckets: int
    alerts: int
    queued: int
    wall: float


@dataclass
class Soak:
    """What the driver collects while the run goes on."""

    samples: list[Sample] = field(default_factory=list)
    snapshots: dict[str, tracemalloc.Snapshot] = field(default_factory=dict)
    acked: int = 0


def vm_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load_engine(hub: Path) -> Any:
    from crowdwatch.hub.loadout import open_engine

    engine = open_engine(hub, list(BASE_PARSERS), None, list(POSTOVERFLOWS), list(COLLECTIONS))
    assert engine.scenarios is not None
    engine.scenarios = SimClockScenarios(engine.scenarios)
    return engine


def run(args: argparse.Namespace, workdir: Path) -> Soak:
    t0 = time.perf_counter()
    engine = load_engine(args.hub)
    scen = engine.scenarios
    assert isinstance(scen, SimClockScenarios)
    print(
        f"loaded {len(scen.scenarios)} scenarios in {time.perf_counter() - t0:.1f} s; "
        f"{args.lines:,} lines over {args.hours:g} simulated hours "
        f"({args.lines / (args.hours * 3600):,.0f} lines per simulated second)",
        flush=True,
    )
    state = AgentState(workdir / "agent-state.db")
    source_box: list[GeneratedSource] = []
    pipeline = Pipeline(
        engine,
        state,
        machine_id="soak",
        checkpoint_interval=1.0,
        min_dump_interval=args.dump_interval,
        counters_of=lambda key: source_box[0].counters().get(key) if source_box else None,
    )
    soak = Soak()
    start, cpu0 = time.perf_counter(), time.process_time()
    mark20 = int(args.lines * 0.2)

    def sample(n: int) -> None:
        if args.tracemalloc and ((n >= mark20 and "20%" not in soak.snapshots) or n >= args.lines):
            gc.collect()
            soak.snapshots["end" if n >= args.lines else "20%"] = tracemalloc.take_snapshot()
        s = Sample(
            n,
            (scen.now - SIM_START).total_seconds(),
            vm_rss_kb(),
            scen.live_buckets(),
            pipeline.alerts,
            state.queue_len(),
            time.perf_counter() - start,
        )
        soak.samples.append(s)
        print(row(s), flush=True)

    source = GeneratedSource(
        args.lines, args.hours * 3600, args.seed, args.every, lambda n: pipeline.call(lambda: sample(n))
    )
    source_box.append(source)
    stop_drain = threading.Event()

    def drain() -> None:  # the pusher's part that touches the state: ack what the LAPI took
        while not stop_drain.wait(0.2):
            while batch := state.queue_peek(500):
                state.queue_ack(i for i, _ in batch)
                soak.acked += len(batch)

    drainer = threading.Thread(target=drain, name="soak-ack", daemon=True)
    if args.tracemalloc:
        tracemalloc.start(args.tracemalloc)
    print(header(), flush=True)
    pipeline.start()
    drainer.start()
    source.start(pipeline.sink, pipeline.resume)
    source.join()
    pipeline.stop(timeout=600)
    stop_drain.set()
    drainer.join()
    if source.error is not None:
        raise source.error
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    st = engine.stats
    print(
        f"\n{st.lines:,} lines in {wall:,.0f} s, {cpu:,.0f} CPU s ({st.lines / wall:,.0f} lines/s, "
        f"{st.lines / cpu:,.0f} per CPU second); parsed {st.parsed:,}, "
        f"unparsed {st.unparsed:,}, whitelisted {st.whitelisted:,}; alerts {pipeline.alerts:,} "
        f"(postoverflow-whitelisted {st.postoverflow_whitelisted:,}), acknowledged {soak.acked:,}; "
        f"ticks {scen.ticks:,}; checkpoints {pipeline.checkpoints:,} ({pipeline.dumps:,} with a bucket "
        f"dump, last {pipeline.last_dump_bytes / 1e6:.1f} MB in {pipeline.last_dump_seconds:.2f} s); "
        f"pipeline errors {pipeline.errors}, pour errors {st.pour_errors}"
    )
    counters = pipeline.counters()
    for key, cnt in sorted(counters.items()):
        print(f"  {key}: " + ", ".join(f"{k} {v:,}" for k, v in cnt.items()))
    state.close()
    return soak


COLUMNS = ("lines", "sim time", "RSS MiB", "live buckets", "alerts", "queued", "wall s")


def header() -> str:
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---:|" * len(COLUMNS)


def row(s: Sample) -> str:
    h, rem = divmod(int(s.sim_seconds), 3600)
    cells = (
        f"{s.lines:,}",
        f"{h:02d}:{rem // 60:02d}",
        f"{s.rss_kb / 1024:.1f}",
        f"{s.buckets:,}",
        f"{s.alerts:,}",
        f"{s.queued:,}",
        f"{s.wall:,.0f}",
    )
    return "| " + " | ".join(cells) + " |"


def verdict(samples: list[Sample], lines: int, max_growth: float) -> tuple[bool, str]:
    """Flat when the RSS grew by less than ``max_growth`` between the 20 % mark and the end."""
    base = next((s for s in samples if s.lines >= lines * 0.2), None)
    end = samples[-1] if samples else None
    if base is None or end is None or base is end:
        return False, "not enough samples for a verdict"
    growth = (end.rss_kb - base.rss_kb) / base.rss_kb
    peak = max(s.rss_kb for s in samples[samples.index(base) :])
    flat = growth < max_growth
    text = (
        f"RSS {base.rss_kb / 1024:.1f} MiB at {base.lines:,} lines (20 % mark) → {end.rss_kb / 1024:.1f} MiB "
        f"at {end.lines:,} ({growth:+.1%}, peak {peak / 1024:.1f} MiB); live buckets {base.buckets:,} → "
        f"{end.buckets:,}: " + ("FLAT" if flat else f"NOT FLAT (limit {max_growth:.0%})")
    )
    return flat, text


def heap_growth(soak: Soak, top: int) -> str:
    a, b = soak.snapshots.get("20%"), soak.snapshots.get("end")
    if a is None or b is None:
        return ""
    lines = ["Python heap growth from the 20 % mark to the end (tracemalloc, by allocation site):"]
    for stat in b.compare_to(a, "traceback")[:top]:
        frames = " ← ".join(f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback[:4])
        lines.append(f"  {stat.size_diff / 1024:+10.0f} KiB {stat.count_diff:+9,} blocks  {frames}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--hub", type=Path, default=ROOT.parent / "shared" / "hub", help="hub (default ../shared/hub)"
    )
    ap.add_argument("--lines", type=int, default=10_000_000, help="lines in all (default 10000000)")
    ap.add_argument("--quick", action="store_true", help="1M lines")
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours the lines span (default 24)")
    ap.add_argument("--every", type=int, default=0, help="lines between samples (default lines/40)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--dump-interval",
        type=float,
        default=None,
        metavar="S",
        help="least wall seconds between bucket dumps (default: the agent's, 10 checkpoint intervals)",
    )
    ap.add_argument("--max-growth", type=float, default=0.10, help="RSS growth deemed flat (default 0.10)")
    ap.add_argument(
        "--tracemalloc", type=int, default=0, metavar="FRAMES", help="trace Python allocations (frames kept)"
    )
    args = ap.parse_args()
    if args.quick:
        args.lines = 1_000_000
    if args.every <= 0:
        args.every = max(1, args.lines // 40)
    with tempfile.TemporaryDirectory(prefix="cw-bench-soak-") as tmp:
        soak = run(args, Path(tmp))
    flat, text = verdict(soak.samples, args.lines, args.max_growth)
    growth = heap_growth(soak, 25)
    if growth:
        print("\n" + growth)
    print("\nverdict: " + text)
    sys.exit(0 if flat else 1)


if __name__ == "__main__":
    main()
