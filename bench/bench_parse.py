#!/usr/bin/env python3
"""Parse benchmark: crowdwatch versus CrowdSec 1.4.6 on the same hub parsers and logs.

For each generated log (``bench/gen_logs.py``: nginx access log, sshd auth.log) this runs the
hub's ``crowdsecurity/syslog-logs`` + ``nginx-logs``/``sshd-logs`` + ``dateparse-enrich``:

* crowdwatch, in a child process (``--child``), reporting load and parse times;
* ``/usr/bin/crowdsec`` (if installed) with a throwaway config directory holding exactly the same
  parser files and the hub's pattern files, ``-dsn file://… -type … -no-api`` (parse only, no
  scenarios). CrowdSec 1.4.6 insists on logging in to a LAPI even then, so a tiny fake LAPI
  answers on 127.0.0.1. Its startup/shutdown overhead is measured on a one-line file and
  subtracted for the "net" rate.

Peak RSS is per run (``os.wait4`` on each child). Then both tools parse the first ``--sample``
lines again (CrowdSec with ``-dump-data``) and every Parsed/Meta field is compared. Ends with a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchutil import FakeLapi, measured

ROOT = Path(__file__).resolve().parent.parent
CROWDSEC = "/usr/bin/crowdsec"


@dataclass(frozen=True)
class Dataset:
    log: str
    type: str
    parsers: tuple[str, ...]


DATASETS = (
    Dataset(
        "nginx-access.log",
        "nginx",
        ("crowdsecurity/syslog-logs", "crowdsecurity/nginx-logs", "crowdsecurity/dateparse-enrich"),
    ),
    Dataset(
        "auth.log",
        "syslog",
        ("crowdsecurity/syslog-logs", "crowdsecurity/sshd-logs", "crowdsecurity/dateparse-enrich"),
    ),
)


@dataclass
class Run:
    wall: float  # seconds, whole process
    net: float  # seconds spent parsing (crowdwatch: measured inside; crowdsec: wall - startup)
    rss_kb: int
    lines: int
    parsed: int | None = None


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return (wall seconds, peak RSS KiB of that child alone, stdout)."""
    code, wall, _, rss, out, err = measured(cmd, env)
    if code != 0:
        raise RuntimeError(f"{cmd[0]} exited with {code}: {err.strip()[-500:]}")
    return wall, rss, out


# --- crowdwatch (child process) --------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    from crowdwatch.acquisition.file import read_lines
    from crowdwatch.event import TIMEMACHINE, Event, Line
    from crowdwatch.hub.loadout import open_pipeline

    t0 = time.perf_counter()
    pipe = open_pipeline(Path(args.hub), args.parsers.split(","))
    t1 = time.perf_counter()
    labels = {"type": args.type}
    src = str(args.child)
    lines = parsed = 0
    dump: dict[str, Any] = {}
    for raw in read_lines(args.child):
        evt = Event(Line(raw.text, src, labels, "file"), expect_mode=TIMEMACHINE)
        ok = pipe.process(evt)
        lines += 1
        if ok and not evt.Whitelisted:
            parsed += 1
            if args.dump:
                dump.setdefault(raw.text, {"Parsed": dict(evt.Parsed), "Meta": dict(evt.Meta)})
    t2 = time.perf_counter()
    if args.dump:
        Path(args.dump).write_text(json.dumps(dump))
    print(json.dumps({"load": t1 - t0, "parse": t2 - t1, "lines": lines, "parsed": parsed}))


def crowdwatch_run(hub: Path, ds: Dataset, log: Path, dump: Path | None = None) -> Run:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(log),
        "--type",
        ds.type,
        "--hub",
        str(hub),
        "--parsers",
        ",".join(ds.parsers),
    ]
    if dump is not None:
        cmd += ["--dump", str(dump)]
    wall, rss, out = run_measured(cmd)
    r = json.loads(out)
    return Run(wall, r["parse"], rss, r["lines"], r["parsed"])


# --- CrowdSec ------------------------------------------------------------------------------


def crowdsec_config(tmp: Path, hub: Path, ds: Dataset, lapi_port: int) -> Path:
    """A throwaway CrowdSec config dir with exactly ``ds.parsers`` installed (copied from the hub)."""
    index = json.loads((hub / ".index.json").read_text())
    for name in ds.parsers:
        item = index["parsers"][name]
        dest = tmp / "parsers" / item["stage"]
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(hub / item["path"], dest / Path(item["path"]).name)
    shutil.copytree(hub / "patterns", tmp / "patterns")
    for d in ("data", "hub"):
        (tmp / d).mkdir()
    (tmp / "hub" / ".index.json").write_text(
        json.dumps({t: {} for t in ("parsers", "scenarios", "postoverflows", "collections")})
    )
    (tmp / "simulation.yaml").write_text("simulation: off\n")
    (tmp / "acquis.yaml").write_text("")
    (tmp / "lapi.yaml").write_text(f"url: http://127.0.0.1:{lapi_port}/\nlogin: bench\npassword: bench\n")
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""common: {{daemonize: false, log_media: stdout, log_level: error, working_dir: .}}
config_paths: {{config_dir: {tmp}/, data_dir: {tmp}/data/, simulation_path: {tmp}/simulation.yaml,
  hub_dir: {tmp}/hub/, index_path: {tmp}/hub/.index.json}}
crowdsec_service: {{acquisition_path: {tmp}/acquis.yaml, parser_routines: 1}}
db_config: {{type: sqlite, db_path: {tmp}/data/crowdsec.db}}
api: {{client: {{credentials_path: {tmp}/lapi.yaml}}}}
prometheus: {{enabled: false}}
"""
    )
    return cfg


def crowdsec_cmd(cfg: Path, log: Path, ds: Dataset, dump: Path | None = None) -> list[str]:
    cmd = [CROWDSEC, "-c", str(cfg), "-dsn", f"file://{log}", "-type", ds.type, "-no-api"]
    return cmd + (["-dump-data", str(dump)] if dump is not None else [])


def crowdsec_run(cfg: Path, ds: Dataset, log: Path, baseline: float, lines: int) -> Run:
    env = {**os.environ, "TZ": "UTC"}
    wall, rss, _ = run_measured(crowdsec_cmd(cfg, log, ds), env=env)
    return Run(wall, max(wall - baseline, 1e-9), rss, lines)


def crowdsec_dump(cfg: Path, ds: Dataset, log: Path, out: Path) -> dict[str, Any]:
    """Parsed/Meta of every line CrowdSec parsed (present in the last stage with success)."""
    import yaml

    out.mkdir()
    run_measured(crowdsec_cmd(cfg, log, ds, out), env={**os.environ, "TZ": "UTC"})
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load((out / "parser-dump.yaml").read_text(), Loader=loader)
    last = sorted(k for k in doc if k != "success")[-1]
    result: dict[str, Any] = {}
    for entries in doc[last].values():
        for e in entries:
            if e.get("success"):
                evt = e["evt"]
                result.setdefault(
                    evt["Line"]["Raw"], {"Parsed": evt.get("Parsed") or {}, "Meta": evt.get("Meta") or {}}
                )
    return result


def compare(sample: Path, ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(lines compared, lines whose parse outcome and every Parsed/Meta value match, differences)."""
    lines = [ln for ln in sample.read_text().splitlines() if ln]
    same = 0
    diffs: list[str] = []
    for ln in lines:
        a, b = ours.get(ln), theirs.get(ln)
        if a is None or b is None:
            if a is b:
                same += 1
            else:
                diffs.append(f"parsed by {'crowdwatch' if a else 'crowdsec'} only: {ln[:100]}")
            continue
        bad = [
            f"{part}.{k}: crowdwatch={a[part].get(k)!r} crowdsec={b[part].get(k)!r}"
            for part in ("Parsed", "Meta")
            for k in sorted(set(a[part]) | set(b[part]))
            if a[part].get(k, "") != b[part].get(k, "")
        ]
        if bad:
            diffs.append(f"{ln[:80]}: " + "; ".join(bad))
        else:
            same += 1
    return len(lines), same, diffs


# --- driver ----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--hub",
        type=Path,
        default=ROOT.parent / "shared" / "hub",
        help="hub directory (default ../shared/hub)",
    )
    ap.add_argument(
        "--logs", type=Path, default=ROOT / "bench" / "out", help="log directory (generated if missing)"
    )
    ap.add_argument("--lines", type=int, default=200_000, help="lines per generated log (default 200000)")
    ap.add_argument("--sample", type=int, default=300, help="lines compared field by field (default 300)")
    ap.add_argument("--no-crowdsec", action="store_true", help="skip the CrowdSec runs")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--type", help=argparse.SUPPRESS)
    ap.add_argument("--parsers", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    if not all((args.logs / ds.log).exists() for ds in DATASETS):
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "gen_logs.py"),
                "--lines",
                str(args.lines),
                "--out",
                str(args.logs),
            ],
            check=True,
        )
    peer = not args.no_crowdsec and Path(CROWDSEC).exists()
    if not args.no_crowdsec and not peer:
        print(f"{CROWDSEC} not found: skipping the CrowdSec comparison")
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmpdir:
        tmp = Path(tmpdir)
        lapi_port = FakeLapi().port if peer else 0
        for ds in DATASETS:
            log = args.logs / ds.log
            sample = tmp / f"sample-{ds.log}"
            with log.open() as src:
                sample.write_text("".join(line for _, line in zip(range(args.sample), src)))
            cw = crowdwatch_run(args.hub, ds, log)
            print(
                f"[{ds.log}] crowdwatch: {cw.lines} lines, {cw.parsed} parsed, parse {cw.net:.2f} s "
                f"({cw.lines / cw.net:,.0f} lines/s), wall {cw.wall:.2f} s, peak RSS {cw.rss_kb / 1024:.0f} MiB"
            )
            cw_dump = tmp / f"cw-{ds.log}.json"
            crowdwatch_run(args.hub, ds, sample, dump=cw_dump)
            row = [ds.log, f"{cw.lines:,}", f"{cw.lines / cw.net:,.0f}", f"{cw.rss_kb / 1024:.0f}"]
            if peer:
                cfg = crowdsec_config(tmp / f"cs-{ds.type}", args.hub, ds, lapi_port)
                one = tmp / f"one-{ds.log}"
                one.write_text(sample.read_text().splitlines()[0] + "\n")
                baseline, _, _ = run_measured(crowdsec_cmd(cfg, one, ds), env={**os.environ, "TZ": "UTC"})
                cs = crowdsec_run(cfg, ds, log, baseline, cw.lines)
                print(
                    f"[{ds.log}] crowdsec 1.4.6: wall {cs.wall:.2f} s (startup+shutdown {baseline:.2f} s), "
                    f"net {cs.lines / cs.net:,.0f} lines/s, peak RSS {cs.rss_kb / 1024:.0f} MiB"
                )
                theirs = crowdsec_dump(cfg, ds, sample, tmp / f"dump-{ds.log}")
                n, same, diffs = compare(sample, json.loads(cw_dump.read_text()), theirs)
                print(f"[{ds.log}] field comparison on {n} lines: {same} identical, {len(diffs)} different")
                for d in diffs[:5]:
                    print(f"    {d}")
                row += [
                    f"{cs.lines / cs.net:,.0f}",
                    f"{cs.rss_kb / 1024:.0f}",
                    f"{(cw.lines / cw.net) / (cs.lines / cs.net):.2f}",
                    f"{cw.rss_kb / cs.rss_kb:.2f}",
                    f"{same}/{n}",
                ]
            rows.append("| " + " | ".join(row) + " |")
    head = ["log", "lines", "crowdwatch lines/s", "crowdwatch RSS MiB"]
    if peer:
        head += [
            "crowdsec lines/s (net)",
            "crowdsec RSS MiB",
            "speed ratio cw/cs",
            "RSS ratio cw/cs",
            "fields identical",
        ]
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
