#!/usr/bin/env python3
"""Full-pipeline replay benchmark: crowdwatch versus CrowdSec 1.4.6 with the hub's collections.

Acquisition → parsers → scenarios → postoverflows on the logs of ``bench/gen_logs.py``
(1M lines each by default):

* nginx access log, ``type: nginx``: collections ``crowdsecurity/nginx`` +
  ``crowdsecurity/base-http-scenarios`` (which pulls ``crowdsecurity/http-cve``);
* sshd auth.log, ``type: syslog``: collection ``crowdsecurity/sshd``;

both with the base parsers of ``crowdsecurity/linux`` (syslog-logs, dateparse-enrich, the
private-address whitelist and the public-DNS allowlist) and the offline whitelists of
``crowdsecurity/whitelist-good-actors`` as postoverflows (cdn-whitelist, seo-bots-whitelist).
``crowdsecurity/rdns`` is left out: its reverse-DNS lookups (≈80 ms per alert for CrowdSec
here) would measure the resolver, not the engine. GeoIP is left out too (no databases).

Steps, per log:

1. crowdwatch on the whole log with the hub items as they are (HEAD): lines/s (replay loop;
   item loading is timed apart), peak RSS, alerts, and the alerted source IPs checked against
   the generator's ground truth (``<log>.truth.json``).
2. CrowdSec 1.4.6 (``/usr/bin/crowdsec -dsn file://… -no-api``, throwaway config, a fake LAPI
   on 127.0.0.1 that records the alerts it is sent) on the first ``--crowdsec-lines`` lines
   (it runs at a few hundred lines/s on nginx). The same item files are installed,
   collections expanded. 1.4.6 cannot take some HEAD items as they are, so its copies are
   rewritten without changing what they detect: list/map label values become strings (1.4.6
   wants string labels), data-file cache hints (``strategy``/``size``/``ttl``) are dropped,
   and ``reprocess`` is dropped (1.4.6 deadlocks in replay when overflows are re-injected;
   no installed scenario reads overflow events). Items it still refuses (newer expr syntax,
   bucket types it lacks) are found by one-line dry runs, listed and left out.
3. crowdwatch on the same first lines with exactly CrowdSec's rewritten files, so the ratios
   compare like with like: lines/s (CrowdSec's net of its start-up/shut-down, measured on a
   one-line file), peak RSS, and the alerted source-IP sets (differences listed).

``--profile`` also runs crowdwatch under cProfile on the first ``--profile-lines`` nginx lines
and prints the hot spots. Each run is a child process; its peak RSS is its ``VmHWM``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchutil import FakeLapi, measured, vm_hwm_kb

ROOT = Path(__file__).resolve().parent.parent
CROWDSEC = "/usr/bin/crowdsec"
BASE_PARSERS = (
    "crowdsecurity/syslog-logs",
    "crowdsecurity/dateparse-enrich",
    "crowdsecurity/whitelists",
    "crowdsecurity/public-dns-allowlist",
)
POSTOVERFLOWS = ("crowdsecurity/cdn-whitelist", "crowdsecurity/seo-bots-whitelist")
CS_KINDS = ("parsers", "scenarios", "postoverflows")


@dataclass(frozen=True)
class Dataset:
    name: str
    log: str
    type: str
    collections: tuple[str, ...]


DATASETS = (
    Dataset(
        "nginx", "nginx-access.log", "nginx", ("crowdsecurity/nginx", "crowdsecurity/base-http-scenarios")
    ),
    Dataset("sshd", "auth.log", "syslog", ("crowdsecurity/sshd",)),
)


@dataclass
class Run:
    """One measured run."""

    lines: int
    seconds: float  # processing time (crowdwatch: replay loop; CrowdSec: wall - start-up)
    wall: float
    cpu: float  # user + system seconds of the process
    rss_kb: int
    ips: set[str]
    alerts: int
    load: float = 0.0  # crowdwatch: seconds spent loading the items
    scenarios: Counter[str] = field(default_factory=Counter)  # alerts per scenario
    loaded: set[str] = field(default_factory=set)  # scenarios loaded (crowdwatch)
    whitelisted: int = 0

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


# --- crowdwatch (child process) ----------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Replay one file in this process and print a JSON report (run by :func:`crowdwatch_run`)."""
    from crowdwatch.acquisition.replay import Source, replay
    from crowdwatch.event import Event
    from crowdwatch.hub.loadout import open_engine

    def names(value: str | None) -> list[str] | None:
        return value.split(",") if value else None

    t0 = time.perf_counter()
    # scenarios come with the collections (or, with no item named, every item of the hub)
    engine = open_engine(
        Path(args.hub), names(args.parsers), None, names(args.postoverflows), names(args.collections)
    )
    t1 = time.perf_counter()
    ips: set[str] = set()
    per_scenario: Counter[str] = Counter()

    def on_alert(evt: Event) -> None:
        for alert in evt.Overflow.APIAlerts:
            per_scenario[alert.Scenario] += 1
            if alert.Source is not None and alert.Source.Scope == "Ip":
                ips.add(alert.Source.Value)

    source = Source(Path(args.child), {"type": args.type})
    profiler = cProfile.Profile() if args.profile_out else None
    if profiler is not None:
        profiler.enable()
    expire = engine.scenarios.expire_replay if engine.scenarios is not None else None
    replay(engine, [source], on_alert, max_line_bytes=64 * 1024, expire=expire)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile_out)
    t2 = time.perf_counter()
    st = engine.stats
    report = {
        "load": t1 - t0,
        "replay": t2 - t1,
        "lines": st.lines,
        "alerts": st.alerts,
        "whitelisted": st.whitelisted + st.postoverflow_whitelisted,
        "ips": sorted(ips),
        "scenarios": dict(per_scenario),
        "loaded": engine.scenarios.names if engine.scenarios is not None else [],
        "rss_kb": vm_hwm_kb(),
    }
    print(json.dumps(report))


def crowdwatch_run(
    hub: Path,
    ds: Dataset,
    log: Path,
    *,
    parsers: tuple[str, ...] = (),
    postoverflows: tuple[str, ...] = (),
    everything: bool = False,
    profile: Path | None = None,
) -> Run:
    """crowdwatch on ``log`` in a child process: ``ds``'s collections plus ``parsers`` and
    ``postoverflows`` from ``hub``, or (``everything``) every item of ``hub``."""
    cmd = [sys.executable, __file__, "--child", str(log), "--type", ds.type, "--hub", str(hub)]
    if not everything:
        cmd += ["--collections", ",".join(ds.collections), "--parsers", ",".join(parsers)]
        cmd += ["--postoverflows", ",".join(postoverflows)]
    if profile is not None:
        cmd += ["--profile-out", str(profile)]
    code, wall, cpu, rss, out, err = measured(cmd)
    if code != 0:
        raise RuntimeError(f"crowdwatch child failed ({code}):\n{err[-3000:]}")
    r = json.loads(out)
    return Run(
        r["lines"],
        r["replay"],
        wall,
        cpu,
        max(rss, r["rss_kb"]),
        set(r["ips"]),
        r["alerts"],
        load=r["load"],
        scenarios=Counter(r["scenarios"]),
        loaded=set(r["loaded"]),
        whitelisted=r["whitelisted"],
    )


# --- CrowdSec ---------------------------------------------------------------------------------


@dataclass
class CrowdsecSetup:
    """A throwaway CrowdSec config directory holding the (rewritten) item files."""

    root: Path
    config: Path
    rewrites: Counter[str]
    excluded: list[tuple[str, str]]  # (item file, reason)


def _compat(doc: Any, rewrites: Counter[str]) -> None:
    """Rewrite one item document in place so 1.4.6 loads it, without changing what it detects."""
    if not isinstance(doc, dict):
        return
    labels = doc.get("labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            if isinstance(value, list | dict):
                labels[key] = ",".join(map(str, value)) if isinstance(value, list) else json.dumps(value)
                rewrites["label value made a string"] += 1
    for entry in doc.get("data") or ():
        for key in ("strategy", "size", "ttl"):
            if isinstance(entry, dict) and key in entry:
                del entry[key]
                rewrites[f"data cache hint '{key}' dropped"] += 1
    if doc.get("reprocess"):
        del doc["reprocess"]
        rewrites["reprocess dropped"] += 1


def _install(src: Path, dest: Path, rewrites: Counter[str]) -> None:
    text = src.read_text(encoding="utf-8")
    docs = list(yaml.safe_load_all(text))
    before = sum(rewrites.values())
    for doc in docs:
        _compat(doc, rewrites)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if sum(rewrites.values()) == before:
        dest.write_text(text, encoding="utf-8")
    else:
        dest.write_text(yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True), encoding="utf-8")


def crowdsec_setup(root: Path, hub: Path, ds: Dataset, lapi_port: int, probe_line: str) -> CrowdsecSetup:
    """Install ``ds``'s items into ``root`` as CrowdSec 1.4.6 wants them; drop what it refuses."""
    sys.path.insert(0, str(ROOT / "src"))
    from crowdwatch.hub.index import Hub
    from crowdwatch.hub.loadout import select_items

    items = select_items(Hub(hub), BASE_PARSERS, None, POSTOVERFLOWS, ds.collections)
    rewrites: Counter[str] = Counter()
    for kind in CS_KINDS:
        for item in items[kind]:
            dest = root / kind / item.stage / item.path.name if item.stage else root / kind / item.path.name
            _install(item.path, dest, rewrites)
    shutil.copytree(hub / "patterns", root / "patterns")
    shutil.copytree(hub / "data", root / "data", copy_function=shutil.copyfile)
    (root / "hub").mkdir()
    (root / "hub" / ".index.json").write_text(json.dumps({t: {} for t in (*CS_KINDS, "collections")}))
    (root / "simulation.yaml").write_text("simulation: off\n")
    (root / "acquis.yaml").write_text("")
    (root / "lapi.yaml").write_text(f"url: http://127.0.0.1:{lapi_port}/\nlogin: bench\npassword: bench\n")
    cfg = root / "config.yaml"
    cfg.write_text(
        f"""common: {{daemonize: false, log_media: stdout, log_level: warning, working_dir: .}}
config_paths: {{config_dir: {root}/, data_dir: {root}/data/, simulation_path: {root}/simulation.yaml,
  hub_dir: {root}/hub/, index_path: {root}/hub/.index.json}}
crowdsec_service: {{acquisition_path: {root}/acquis.yaml, parser_routines: 1}}
db_config: {{type: sqlite, db_path: {root}/data/crowdsec.db}}
api: {{client: {{credentials_path: {root}/lapi.yaml}}}}
prometheus: {{enabled: false}}
"""
    )
    setup = CrowdsecSetup(root, cfg, rewrites, [])
    probe = root / "probe.log"
    probe.write_text(probe_line + "\n")
    installed = [p for kind in CS_KINDS for p in sorted((root / kind).rglob("*.yaml"))]
    by_name: dict[str, Path] = {}
    for p in installed:
        for doc in yaml.safe_load_all(p.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                by_name[doc["name"]] = p
    while True:
        code, *_, out, err = crowdsec_exec(setup, probe, ds.type)
        fatal = re.search(r'level=fatal msg="(.*)"', out + err)
        if code == 0 and fatal is None:
            return setup
        if fatal is None:
            raise RuntimeError(f"crowdsec failed ({code}) without a fatal message:\n{(out + err)[-2000:]}")
        message = fatal.group(1).replace("\\n", " ")
        culprit = next((p for p in installed if str(p) in message), None)
        if culprit is None:
            culprit = next((by_name[n] for n in sorted(by_name, key=len, reverse=True) if n in message), None)
        if culprit is None or not culprit.exists():
            raise RuntimeError(f"crowdsec refuses the setup and no item is to blame: {message}")
        reason = message.split(" : ", 1)[-1] if " : " in message else message
        setup.excluded.append((str(culprit.relative_to(root)), reason[:160]))
        culprit.unlink()


def crowdsec_exec(setup: CrowdsecSetup, log: Path, log_type: str) -> tuple[int, float, float, int, str, str]:
    cmd = [CROWDSEC, "-c", str(setup.config), "-dsn", f"file://{log}", "-type", log_type, "-no-api"]
    return measured(cmd, env={**os.environ, "TZ": "UTC"})


def crowdsec_run(
    setup: CrowdsecSetup, lapi: FakeLapi, ds: Dataset, log: Path, lines: int, baseline: float
) -> Run:
    lapi.alerts.clear()
    code, wall, cpu, rss, out, err = crowdsec_exec(setup, log, ds.type)
    if code != 0:
        raise RuntimeError(f"crowdsec exited with {code}:\n{(out + err)[-2000:]}")
    alerts = list(lapi.alerts)
    ips = {value for _, scope, value in alerts if scope == "Ip"}
    return Run(
        lines,
        max(wall - baseline, 1e-9),
        wall,
        cpu,
        rss,
        ips,
        len(alerts),
        scenarios=Counter(scenario for scenario, _, _ in alerts),
    )


# --- reports ------------------------------------------------------------------------------------


def expected_ips(truth: dict[str, Any], scenarios: set[str]) -> tuple[set[str], set[str]]:
    """(source IPs that must alert given the loaded ``scenarios``, IPs that may or may not)."""
    must: set[str] = set()
    maybe: set[str] = set()
    for cat in truth.values():
        maybe.update(cat["truncated"])
        if cat["alerts"] and scenarios.intersection(cat["scenarios"]):
            must.update(cat["ips"])
    return must, maybe


def ip_diff(label_a: str, a: set[str], label_b: str, b: set[str], limit: int = 8) -> list[str]:
    out = []
    for name, only in ((label_a, a - b), (label_b, b - a)):
        if only:
            shown = ", ".join(sorted(only)[:limit]) + (" …" if len(only) > limit else "")
            out.append(f"only {name} ({len(only)}): {shown}")
    return out


def describe(tag: str, run: Run) -> str:
    load = f", load {run.load:.1f} s" if run.load else ""
    return (
        f"{tag}: {run.lines:,} lines in {run.seconds:.1f} s = {run.rate:,.0f} lines/s "
        f"(wall {run.wall:.1f} s{load}, cpu {run.cpu:.1f} s), peak RSS {run.rss_kb / 1024:.0f} MiB, "
        f"{run.alerts:,} alerts from {len(run.ips):,} IPs"
    )


def head(src: Path, dest: Path, lines: int) -> int:
    n = 0
    with src.open("rb") as fin, dest.open("wb") as fout:
        for line in fin:
            if n == lines:
                break
            fout.write(line)
            n += 1
    return n


def profile_report(path: Path, top: int = 18) -> str:
    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


# --- driver ---------------------------------------------------------------------------------------


def ensure_logs(logs: Path, lines: int) -> None:
    if all(
        (logs / ds.log).exists() and (logs / (Path(ds.log).stem + ".truth.json")).exists() for ds in DATASETS
    ):
        with (logs / DATASETS[0].log).open("rb") as f:
            if sum(1 for _ in f) >= lines:
                return
    cmd = [sys.executable, str(ROOT / "bench" / "gen_logs.py"), "--lines", str(lines), "--out", str(logs)]
    subprocess.run(cmd, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--hub", type=Path, default=ROOT.parent / "shared" / "hub", help="hub (default ../shared/hub)"
    )
    ap.add_argument(
        "--logs",
        type=Path,
        default=ROOT / "bench" / "out" / "replay",
        help="log directory, generated if needed (default bench/out/replay)",
    )
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines per generated log (default 1000000)")
    ap.add_argument(
        "--crowdsec-lines",
        type=int,
        default=100_000,
        help="lines replayed by both engines for the comparison",
    )
    ap.add_argument("--only", choices=[d.name for d in DATASETS], help="run one dataset")
    ap.add_argument("--no-crowdsec", action="store_true", help="skip CrowdSec and the comparison runs")
    ap.add_argument("--profile", action="store_true", help="also profile crowdwatch on the nginx log")
    ap.add_argument("--profile-lines", type=int, default=50_000)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--type", help=argparse.SUPPRESS)
    ap.add_argument("--collections", help=argparse.SUPPRESS)
    ap.add_argument("--parsers", help=argparse.SUPPRESS)
    ap.add_argument("--postoverflows", help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    ensure_logs(args.logs, args.lines)
    peer = not args.no_crowdsec and Path(CROWDSEC).exists()
    if not args.no_crowdsec and not peer:
        print(f"{CROWDSEC} not found: skipping the CrowdSec comparison")
    rows: list[str] = []
    lapi = FakeLapi() if peer else None
    with tempfile.TemporaryDirectory(prefix="cw-bench-replay-") as tmpdir:
        tmp = Path(tmpdir)
        for ds in DATASETS:
            if args.only and ds.name != args.only:
                continue
            log = args.logs / ds.log
            truth = json.loads((args.logs / (Path(ds.log).stem + ".truth.json")).read_text())
            print(f"== {ds.name}: {log} (collections {', '.join(ds.collections)})")
            full = crowdwatch_run(args.hub, ds, log, parsers=BASE_PARSERS, postoverflows=POSTOVERFLOWS)
            print("  " + describe("crowdwatch, HEAD items, whole log", full))
            must, maybe = expected_ips(truth, full.loaded)
            missed, unexpected = must - full.ips, full.ips - must - maybe
            print(
                f"  ground truth: {len(must):,} IPs must alert ({len(maybe)} cut short by the line limit): "
                f"{len(missed)} missed, {len(unexpected)} unexpected"
            )
            for line in ip_diff("expected", missed, "alerted", unexpected):
                print("    " + line)
            row = [
                ds.name,
                f"{full.lines:,}",
                f"{full.rate:,.0f}",
                f"{full.rss_kb / 1024:.0f}",
                f"{full.alerts:,}",
            ]
            row.append(
                f"{len(full.ips & must):,}/{len(must):,}" + (f" (+{len(unexpected)})" if unexpected else "")
            )
            if peer and lapi is not None:
                row += compare(args, tmp, ds, log, lapi)
            rows.append("| " + " | ".join(row) + " |")
        if args.profile and (not args.only or args.only == "nginx"):
            ds = DATASETS[0]
            sample = tmp / "profile.log"
            head(args.logs / ds.log, sample, args.profile_lines)
            prof = tmp / "nginx.prof"
            run = crowdwatch_run(
                args.hub, ds, sample, parsers=BASE_PARSERS, postoverflows=POSTOVERFLOWS, profile=prof
            )
            print(
                f"== profile: crowdwatch on {run.lines:,} nginx lines ({run.rate:,.0f} lines/s under cProfile)"
            )
            print(profile_report(prof))
    head_row = ["log", "lines", "crowdwatch lines/s", "RSS MiB", "alerts", "truth IPs alerted"]
    if peer:
        head_row += [
            "compared lines",
            "crowdwatch lines/s",
            "CrowdSec lines/s (net)",
            "speed ×",
            "RSS MiB cw / cs",
            "alerted IPs cw / cs / same",
        ]
    print()
    print("| " + " | ".join(head_row) + " |")
    print("|" + "---|" * len(head_row))
    print("\n".join(rows))


def compare(args: argparse.Namespace, tmp: Path, ds: Dataset, log: Path, lapi: FakeLapi) -> list[str]:
    """CrowdSec and crowdwatch on the same first lines with the same item files; table cells."""
    sample = tmp / f"head-{ds.log}"
    n = head(log, sample, args.crowdsec_lines)
    with sample.open() as f:
        first = f.readline().rstrip("\n")
    setup = crowdsec_setup(tmp / f"cs-{ds.name}", args.hub, ds, lapi.port, first)
    rewrites = ", ".join(f"{k} ×{v}" for k, v in sorted(setup.rewrites.items()))
    print(f"  CrowdSec 1.4.6 item copies: {rewrites or 'no rewrite'}")
    for item, reason in setup.excluded:
        print(f"  left out on both sides (CrowdSec 1.4.6 refuses it): {item}: {reason}")
    one = tmp / f"one-{ds.log}"
    one.write_text(first + "\n")
    _, baseline, *_ = crowdsec_exec(setup, one, ds.type)
    cs = crowdsec_run(setup, lapi, ds, sample, n, baseline)
    print("  " + describe(f"CrowdSec 1.4.6, first {n:,} lines (start-up+shut-down {baseline:.1f} s)", cs))
    cw = crowdwatch_run(setup.root, ds, sample, everything=True)
    print("  " + describe(f"crowdwatch, same files, first {n:,} lines", cw))
    speed, rss = cw.rate / cs.rate, cw.rss_kb / cs.rss_kb
    print(f"  ratios crowdwatch/CrowdSec: speed {speed:.1f}×, peak RSS {rss:.2f}")
    diffs = ip_diff("crowdwatch", cw.ips, "CrowdSec", cs.ips)
    print(
        f"  alerted IPs: crowdwatch {len(cw.ips):,}, CrowdSec {len(cs.ips):,}, "
        + ("same set" if not diffs else "")
    )
    for line in diffs:
        print("    " + line)
    per = sorted(set(cw.scenarios) | set(cs.scenarios))
    changed = [f"{s} {cw.scenarios[s]}/{cs.scenarios[s]}" for s in per if cw.scenarios[s] != cs.scenarios[s]]
    if changed:
        print("  alerts per scenario that differ (crowdwatch/CrowdSec): " + "; ".join(changed))
    same = len(cw.ips & cs.ips)
    return [
        f"{n:,}",
        f"{cw.rate:,.0f}",
        f"{cs.rate:,.0f}",
        f"{speed:.1f}",
        f"{cw.rss_kb / 1024:.0f} / {cs.rss_kb / 1024:.0f}",
        f"{len(cw.ips):,} / {len(cs.ips):,} / {same:,}",
    ]


if __name__ == "__main__":
    main()
