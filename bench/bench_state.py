#!/usr/bin/env python3
"""Micro-benchmark of the bucket-state dump/restore (``ScenarioSet.dump``/``restore``).

Live buckets are built the way the agent builds them: generated nginx and sshd traffic (the
actors of ``bench/bench_soak.py``, mostly fresh visitor addresses) goes through the hub
collections of the soak benchmark (parsers, scenarios, postoverflows) as LIVE events on a
compressed simulated clock, until the scenarios hold ``N`` live buckets (10k, 60k and 180k by
default). Then, for each size:

* ``dump``: best of ``--repeat`` calls, milliseconds, and the document's size in bytes;
* ``restore``: best of ``--repeat`` restores into a second, freshly loaded engine;
* check: the same next ``--check-lines`` lines go through the original and the restored
  engine; the alerts (scenario, source, count) must be identical (exit status 1 otherwise).

``--baseline FILE`` also times another implementation of the state module (a copy of an older
``crowdwatch/scenarios/state.py``), for before/after figures.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import bench_soak as soak
from crowdwatch.event import LIVE, Event, Line

ROOT = Path(__file__).resolve().parent.parent


def lines_until(engine: Any, source: Iterator[tuple[float, int, str]], target: int) -> int:
    """Process lines of ``source`` until ``engine`` holds ``target`` live buckets; lines used."""
    scen = engine.scenarios
    n = 0
    for t, si, text in source:
        process(engine, t, si, text)
        n += 1
        if n % 1000 == 0:
            live = scen.live_buckets()
            if live >= target:
                break
            if n % 100_000 == 0:
                print(f"  {n:,} lines: {live:,} live buckets", file=sys.stderr, flush=True)
    return n


def process(engine: Any, t: float, si: int, text: str) -> list[Event]:
    stream = soak.STREAMS[si]
    line = Line(text, stream.path, stream.labels, "file", soak.SIM_START + timedelta(seconds=t))
    return list(engine.process(Event(line, LIVE)))


def alerts(events: list[Event]) -> list[tuple[str, str, int]]:
    out = []
    for evt in events:
        a = evt.Overflow.Alert
        if a is not None:
            out.append((a.Scenario, a.Source.Value if a.Source else "", a.EventsCount))
    return out


def best(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls (ms) and the last result; ``setup`` runs untimed before each."""
    times, result = [], None
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000, result


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_state", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hub", type=Path, default=ROOT.parent / "shared" / "hub")
    ap.add_argument("--sizes", default="10000,60000,180000", help="live bucket counts (comma-separated)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check-lines", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rate", type=float, default=30000, help="lines per simulated second")
    ap.add_argument("--baseline", type=Path, help="an older state.py to time as well")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    t0 = time.perf_counter()
    engine = soak.load_engine(args.hub)
    other = soak.load_engine(args.hub)
    print(f"loaded the hub items twice in {time.perf_counter() - t0:.1f} s", flush=True)
    base = load_module(args.baseline) if args.baseline else None
    # a high line rate (simulated time): few buckets expire while they are being built
    source = soak.traffic(50_000_000, 50_000_000 / args.rate, args.seed)
    head = "| live buckets | lines | dump ms | bytes | restore ms | check |"
    rule = "|---:|---:|---:|---:|---:|---|"
    if base is not None:
        head += " baseline dump ms | bytes | restore ms |"
        rule += "---:|---:|---:|"
    print(head + "\n" + rule, flush=True)
    used = 0
    ok = True
    for size in sizes:
        used += lines_until(engine, source, size)
        scen, restored = engine.scenarios, other.scenarios
        live = scen.live_buckets()
        dump_ms, data = best(scen.dump, args.repeat)
        restore_ms, _ = best(partial(restored.restore, data), args.repeat, restored.flush)
        restored.now, restored.next_tick = scen.now, scen.next_tick
        assert restored.live_buckets() == live, (restored.live_buckets(), live)
        cells = [f"{live:,}", f"{used:,}", f"{dump_ms:,.0f}", f"{len(data):,}", f"{restore_ms:,.0f}"]
        # the next lines through both: same alerts (the restored copy then becomes the spare)
        ahead = [next(source) for _ in range(args.check_lines)]
        used += len(ahead)
        got_a = [a for line in ahead for a in alerts(process(engine, *line))]
        got_b = [a for line in ahead for a in alerts(process(other, *line))]
        same = got_a == got_b and scen.live_buckets() == restored.live_buckets()
        ok = ok and same
        cells.append(f"{'same' if same else 'DIFFERENT'} ({len(got_a)} alerts)")
        if base is not None:
            b_dump_ms, b_data = best(partial(base.dump, scen.scenarios), args.repeat)

            b_restore_ms, _ = best(
                partial(base.restore, restored.scenarios, b_data), args.repeat, restored.flush
            )
            cells += [f"{b_dump_ms:,.0f}", f"{len(b_data):,}", f"{b_restore_ms:,.0f}"]
            restored.restore(scen.dump())
        print("| " + " | ".join(cells) + " |", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
