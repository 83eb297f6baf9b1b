"""``crowdwatch replay``: forensic detection on cold log files, no server.

Lines go through the whole detection pipeline (parsers → scenarios → postoverflows) in
replay (time-machine) mode, files one after the other in the order given: the same files
always give the same alerts. Without ``--file`` the sample attack logs bundled with
crowdwatch are replayed. Output: the alerts (a table, or LAPI-shaped JSON with ``-o json``)
and a summary of what happened to the lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from crowdwatch.acquisition.file import AcquisitionError, expand_globs
from crowdwatch.acquisition.replay import ProgressHook, Source, SourceStats, replay
from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.config import ConfigError, load_config
from crowdwatch.engine import DetectionEngine
from crowdwatch.event import Alert, Event
from crowdwatch.hub.index import HubError
from crowdwatch.hub.loadout import bundled_content_dir, open_engine
from crowdwatch.simulation import from_config
from crowdwatch.yamlutil import YamlError

# bundled sample logs: (file under content/samples, acquisition label type)
SAMPLES = (("nginx-access.log", "nginx"), ("auth.log", "syslog"))
_PROGRESS_MIN_BYTES = 4 << 20  # show a progress bar for files at least this big
_PIPE_WIDTH = 120  # output width when stdout is not a terminal (Rich would use 80)
_TYPE_HINT = "e.g. nginx or apache2 for web server logs, syslog for auth.log/sshd"


def _names(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value is not None else None


def replay_cmd(
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            help="Log file or glob to replay; repeatable (default: the bundled samples).",
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            "-t",
            help="Label type of the files (e.g. nginx, syslog): once for all, or once per --file.",
        ),
    ] = None,
    hub: Annotated[
        Path | None,
        typer.Option("--hub", help="Hub/content directory (default: crowdwatch's bundled content)."),
    ] = None,
    collections: Annotated[
        str | None, typer.Option("--collections", help="Comma-separated collections to load.")
    ] = None,
    parsers: Annotated[str | None, typer.Option("--parsers", help="Comma-separated parsers to load.")] = None,
    scenarios: Annotated[
        str | None, typer.Option("--scenarios", help="Comma-separated scenarios to load.")
    ] = None,
    postoverflows: Annotated[
        str | None, typer.Option("--postoverflows", help="Comma-separated postoverflows to load.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data files directory (default: <hub>/data).")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
    max_rows: Annotated[int, typer.Option("--max-rows", help="Alerts shown in the table (0: all).")] = 50,
) -> None:
    """Replay log files through parsers, scenarios and postoverflows; show the alerts.

    With no item option every parser, scenario and postoverflow of the hub is loaded.
    """
    if output not in ("human", "json"):
        raise CliError(f"unknown output format {output!r}: use human or json")
    if max_rows < 0:
        raise CliError("--max-rows must be 0 or more")
    sources = _sources(files or [], types or [])
    try:
        cfg = load_config(context.STATE.config_dir)
        simulation = from_config(cfg)
    except (ConfigError, YamlError) as exc:
        raise CliError(str(exc)) from None
    try:
        engine = open_engine(
            hub,
            _names(parsers),
            _names(scenarios),
            _names(postoverflows),
            _names(collections),
            data_dir=data_dir,
            patterns_dir=cfg.paths.pattern_dir,
            simulation=simulation,
        )
    except HubError as exc:
        raise CliError(f"{exc} (hint: check --hub and the item options)") from None
    except YamlError as exc:
        raise CliError(f"{exc} (hint: fix this item or leave it out with the item options)") from None

    # alerts are streamed out as JSON, or the first --max-rows kept for the table
    shown: list[Alert] = []
    count = 0
    out = sys.stdout.buffer
    if output == "json":
        out.write(b'{\n  "alerts": [')

    def collect(evt: Event) -> None:
        nonlocal count
        ovf = evt.Overflow
        for alert in ovf.APIAlerts or ([ovf.Alert] if ovf.Alert is not None else []):
            if output == "json":
                out.write((b",\n" if count else b"\n") + orjson.dumps(alert.to_dict()))
            elif max_rows == 0 or count < max_rows:
                shown.append(alert)
            count += 1

    start = time.perf_counter()
    with _ProgressBar() as bar:
        try:
            stats = replay(
                engine,
                sources,
                collect,
                max_line_bytes=cfg.crowdwatch.max_line_bytes,
                progress=bar.hook,
                expire=engine.scenarios.expire_replay if engine.scenarios is not None else None,
            )
        except AcquisitionError as exc:
            raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - start
    summary = _summary(engine, stats, elapsed)
    if output == "json":
        tail = {"summary": summary, "sources": [s.to_dict() for s in stats]}
        out.write(b"\n  ],\n  " + orjson.dumps(tail)[1:-1] + b"\n}\n")
    else:
        _print_human(shown, count, stats, summary)
    unparsed = [s for s in stats if s.read.lines and not s.parsed]
    if unparsed:
        names = ", ".join(f"{s.path} (type {s.type!r})" for s in unparsed)
        raise CliError(f"no line of {names} was parsed: wrong --type? ({_TYPE_HINT})")


def _sources(files: Sequence[str], types: Sequence[str]) -> list[Source]:
    if not files:
        if types:
            raise CliError("--type needs --file (the bundled samples have their own types)")
        samples = bundled_content_dir() / "samples"
        return [Source(samples / name, {"type": t}) for name, t in SAMPLES]
    if not types:
        raise CliError(f"--file needs --type (the acquisition label: {_TYPE_HINT})")
    if len(types) not in (1, len(files)):
        raise CliError(
            f"give --type once for all files or once per --file ({len(files)} files, {len(types)} types)"
        )
    out: list[Source] = []
    seen: set[Path] = set()
    for i, pattern in enumerate(files):
        label = types[0] if len(types) == 1 else types[i]
        if not label.strip():
            raise CliError("--type must not be empty")
        try:
            paths = expand_globs([pattern])
        except AcquisitionError as exc:
            raise CliError(f"log file {exc}") from None
        out.extend(Source(p, {"type": label}) for p in paths if p not in seen)
        seen.update(paths)
    return out


def _summary(engine: DetectionEngine, sources: list[SourceStats], elapsed: float) -> dict[str, Any]:
    st = engine.stats
    scen = engine.scenarios.stats.values() if engine.scenarios is not None else ()
    read = sum(s.lines_read for s in sources)
    return {
        "lines_read": read,
        "parsed": st.parsed,
        "unparsed": st.unparsed,
        "whitelisted": st.whitelisted,
        "too_long": sum(s.read.too_long for s in sources),
        "poured": sum(s.poured for s in scen),
        "buckets": sum(s.instantiated for s in scen),
        "overflows": st.overflows,
        "postoverflow_whitelisted": st.postoverflow_whitelisted,
        "alerts": st.alerts,
        "errors": st.pour_errors + engine.parsers.errors,
        "seconds": round(elapsed, 3),
        "lines_per_second": round(read / elapsed) if elapsed > 0 else None,
    }


class _ProgressBar:
    """Per-file progress bars (Rich, on stderr, only on a terminal and for big files)."""

    def __init__(self) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )

    def __enter__(self) -> _ProgressBar:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def hook(self, src: Source) -> ProgressHook | None:
        if self._progress.disable or src.path.suffix == ".gz":
            return None
        try:
            size = src.path.stat().st_size
        except OSError:
            return None
        if size < _PROGRESS_MIN_BYTES:
            return None
        task = self._progress.add_task(escape(src.path.name), total=size)
        return lambda done: self._progress.update(task, completed=done)


def _source_text(alert: Alert) -> tuple[str, str]:
    """(source, country/AS) cells of an alert."""
    src = alert.Source
    if src is None:
        return "", ""
    who = src.Value or src.IP
    if src.Scope and src.Scope != "Ip":
        who = f"{src.Scope}:{who}"
    asn = f"AS{src.AsNumber}" if src.AsNumber and src.AsNumber != "0" else ""
    where = " ".join(p for p in (src.Cn, asn, src.AsName) if p)
    return who, where


def _span(alert: Alert) -> str:
    """``start → stop`` to the second, the date written once when both are on the same day."""
    start, stop = alert.StartAt.replace("T", " ")[:19], alert.StopAt.replace("T", " ")[:19]
    if start[:10] == stop[:10]:
        stop = stop[11:]
    return f"{start} → {stop}"


def _print_human(shown: list[Alert], count: int, stats: list[SourceStats], summary: dict[str, Any]) -> None:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
    if shown:
        cells = [
            (_span(a), a.Scenario + (" (simulated)" if a.Simulated else ""), *_source_text(a)) for a in shown
        ]
        geo = any(c[3] for c in cells)
        table = Table(title=f"Alerts ({count})", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("time span (UTC)", no_wrap=True)
        table.add_column("scenario", overflow="fold")
        table.add_column("source", no_wrap=True)
        if geo:
            table.add_column("country/AS")
        table.add_column("events", justify="right", no_wrap=True)
        for (span, scenario, who, where), a in zip(cells, shown, strict=True):
            row = [escape(span), escape(scenario), escape(who)] + ([escape(where)] if geo else [])
            table.add_row(*row, str(a.EventsCount))
        console.print(table)
    else:
        console.print("No alerts.")
    if count > len(shown):
        console.print(f"… {count - len(shown)} more alerts (--max-rows 0 shows all, -o json for details)")

    files = Table(title="Files", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("file", "type", "lines", "parsed", "alerts"):
        files.add_column(col, justify="left" if col in ("file", "type") else "right")
    for s in stats:
        files.add_row(
            escape(Path(s.path).name), escape(s.type), str(s.lines_read), str(s.parsed), str(s.alerts)
        )
    console.print(files)
    rate = summary["lines_per_second"]
    console.print(
        f"{summary['lines_read']} lines read: {summary['parsed']} parsed, {summary['unparsed']} unparsed, "
        f"{summary['whitelisted']} whitelisted in {summary['seconds']:.2f} s"
        + (f" ({rate} lines/s)" if rate else "")
    )
    console.print(
        f"{summary['poured']} pours into {summary['buckets']} buckets: {summary['overflows']} overflows, "
        f"{summary['postoverflow_whitelisted']} whitelisted by postoverflows, {summary['alerts']} alerts"
    )
    err = context.err_console()
    for s in stats:
        if s.read.error:
            err.print(f"[yellow]warning:[/] {escape(s.read.error)}")
        if s.read.too_long:
            err.print(
                f"[yellow]warning:[/] {s.read.too_long} over-long lines of {escape(s.path)} were skipped"
            )
    if summary["errors"]:
        err.print(f"[yellow]warning:[/] {summary['errors']} events failed in the pipeline and were skipped")


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)
