"""``crowdwatch replay``: run log files through the parser pipeline in replay (time-machine) mode.

Without ``--file`` it replays the sample attack logs bundled with crowdwatch through the
bundled parsers. The work is split so later stages (scenarios, alerts) can be added to
:func:`replay_sources` without touching the CLI layer: sources → events → pipeline → sinks.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from crowdwatch.acquisition.file import AcquisitionError, ReadStats, read_lines
from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.config import ConfigError, load_config
from crowdwatch.event import TIMEMACHINE, Event, Line
from crowdwatch.hub.index import HubError
from crowdwatch.hub.loadout import bundled_content_dir, open_pipeline
from crowdwatch.parser import ParserLoadError, ParserPipeline
from crowdwatch.yamlutil import YamlError

# bundled sample logs: (file under content/samples, acquisition label type)
SAMPLES = (("nginx-access.log", "nginx"), ("auth.log", "syslog"))
_PROGRESS_MIN_BYTES = 4 << 20  # show a progress bar for files at least this big
_PROGRESS_EVERY = 2048  # lines between progress updates


@dataclass(frozen=True)
class Source:
    """One file to replay with its acquisition labels."""

    path: Path
    labels: dict[str, str]


@dataclass
class SourceStats:
    """Outcome counters for one source."""

    path: str
    type: str
    read: ReadStats = field(default_factory=ReadStats)
    parsed: int = 0
    unparsed: int = 0
    whitelisted: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "type": self.type,
            "lines_read": self.read.lines + self.read.too_long,
            "parsed": self.parsed,
            "unparsed": self.unparsed,
            "whitelisted": self.whitelisted,
            "too_long": self.read.too_long,
            "empty_skipped": self.read.empty,
            "errors": self.errors,
            "read_error": self.read.error or None,
        }


EventSink = Callable[[Event, int], None]
ProgressHook = Callable[[int], None]


def replay_sources(
    pipe: ParserPipeline,
    sources: Iterable[Source],
    on_parsed: EventSink,
    *,
    max_line_bytes: int,
    progress: Callable[[Source], ProgressHook | None] | None = None,
) -> list[SourceStats]:
    """Feed every line of ``sources`` (file order) to ``pipe``; parsed events go to ``on_parsed``."""
    results: list[SourceStats] = []
    for src in sources:
        st = SourceStats(str(src.path), src.labels.get("type", ""))
        results.append(st)
        hook = progress(src) if progress is not None else None
        src_name = str(src.path)
        labels = src.labels
        process = pipe.process
        for n, raw in enumerate(read_lines(src.path, max_line_bytes, st.read), 1):
            if hook is not None and n % _PROGRESS_EVERY == 0:
                hook(st.read.bytes)
            if raw.too_long:
                continue
            evt = Event(Line(raw.text, src_name, labels, "file", datetime.now(UTC)), expect_mode=TIMEMACHINE)
            try:
                ok = process(evt)
            except Exception:  # per-event problems never stop a replay
                st.errors += 1
                continue
            if evt.Whitelisted:
                st.whitelisted += 1
            elif ok:
                st.parsed += 1
                on_parsed(evt, raw.lineno)
            else:
                st.unparsed += 1
        if hook is not None:
            hook(st.read.bytes)
    return results


# --- CLI --------------------------------------------------------------------------------


def replay_cmd(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Log file to replay (default: the bundled samples).")
    ] = None,
    log_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Label type of --file (e.g. nginx, syslog).")
    ] = None,
    hub: Annotated[
        Path | None,
        typer.Option("--hub", help="Hub/content directory (default: crowdwatch's bundled content)."),
    ] = None,
    parsers: Annotated[
        str | None, typer.Option("--parsers", help="Comma-separated parser names or paths (default: all).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data files directory (default: <hub>/data).")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="Parsed events shown in the table (0: all).")
    ] = 30,
) -> None:
    """Replay log files through the parsers and show what was parsed."""
    if output not in ("human", "json"):
        raise CliError(f"unknown output format {output!r}: use human or json")
    if max_rows < 0:
        raise CliError("--max-rows must be 0 or more")
    sources = _sources(file, log_type)
    try:
        cfg = load_config(context.STATE.config_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    names = [p.strip() for p in parsers.split(",") if p.strip()] if parsers else None
    try:
        pipe = open_pipeline(hub, names, data_dir=data_dir, patterns_dir=cfg.paths.pattern_dir)
    except HubError as exc:
        raise CliError(f"{exc} (hint: check --hub and --parsers)") from None
    except (ParserLoadError, YamlError) as exc:
        raise CliError(f"{exc} (hint: fix or leave out this item with --parsers)") from None

    rows: list[dict[str, Any]] = []
    keep_all = output == "json" or max_rows == 0
    shown = 0

    def collect(evt: Event, lineno: int) -> None:
        nonlocal shown
        if keep_all or shown < max_rows:
            rows.append(_row(evt, lineno))
        shown += 1
        sources_seen[evt.Meta.get("source_ip", "")] += 1

    sources_seen: Counter[str] = Counter()
    start = time.perf_counter()
    with _ProgressBar() as make_hook:
        try:
            stats = replay_sources(
                pipe, sources, collect, max_line_bytes=cfg.crowdwatch.max_line_bytes, progress=make_hook
            )
        except AcquisitionError as exc:
            raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - start
    summary = _summary(stats, elapsed)
    if output == "json":
        doc = {"summary": summary, "sources": [s.to_dict() for s in stats], "events": rows}
        sys.stdout.buffer.write(
            orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
        )
        return
    _print_human(rows, shown, stats, summary, sources_seen)


def _sources(file: Path | None, log_type: str | None) -> list[Source]:
    if file is None:
        if log_type is not None:
            raise CliError("--type needs --file (the bundled samples have their own types)")
        samples = bundled_content_dir() / "samples"
        return [Source(samples / name, {"type": t}) for name, t in SAMPLES]
    if not log_type:
        raise CliError("--file needs --type (the acquisition label, e.g. nginx or syslog)")
    if not file.is_file():
        raise CliError(f"log file {file} does not exist")
    return [Source(file, {"type": log_type})]


def _row(evt: Event, lineno: int) -> dict[str, Any]:
    return {
        "file": evt.Line.Src,
        "line": lineno,
        "time": evt.MarshaledTime or evt.Meta.get("timestamp", ""),
        "meta": dict(evt.Meta),
        "parsed": dict(evt.Parsed),
    }


def _summary(stats: list[SourceStats], elapsed: float) -> dict[str, Any]:
    read = sum(s.read.lines + s.read.too_long for s in stats)
    return {
        "lines_read": read,
        "parsed": sum(s.parsed for s in stats),
        "unparsed": sum(s.unparsed for s in stats),
        "whitelisted": sum(s.whitelisted for s in stats),
        "too_long": sum(s.read.too_long for s in stats),
        "errors": sum(s.errors for s in stats),
        "seconds": round(elapsed, 3),
        "lines_per_second": round(read / elapsed) if elapsed > 0 else None,
    }


class _ProgressBar:
    """Context manager yielding a per-source progress hook factory (Rich, on stderr, TTY only)."""

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

    def __enter__(self) -> Callable[[Source], ProgressHook | None]:
        self._progress.__enter__()
        return self._hook

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def _hook(self, src: Source) -> ProgressHook | None:
        if self._progress.disable:
            return None
        try:
            size = src.path.stat().st_size
        except OSError:
            return None
        if size < _PROGRESS_MIN_BYTES or src.path.suffix == ".gz":
            return None
        task = self._progress.add_task(escape(src.path.name), total=size)
        return lambda done: self._progress.update(task, completed=done)


def _key_fields(meta: dict[str, str]) -> str:
    if meta.get("service") == "http":
        parts = [meta.get("http_verb", ""), meta.get("http_path", ""), meta.get("http_status", "")]
        return " ".join(p for p in parts if p)
    if meta.get("target_user"):
        return f"user={meta['target_user']}"
    return ""


def _print_human(
    rows: list[dict[str, Any]],
    shown: int,
    stats: list[SourceStats],
    summary: dict[str, Any],
    sources_seen: Counter[str],
) -> None:
    console = Console(highlight=False)
    table = Table(title="Parsed events", title_justify="left")
    table.add_column("time", no_wrap=True)
    table.add_column("source_ip", no_wrap=True)
    for col in ("log_type", "service", "details"):
        table.add_column(col, overflow="fold")
    table.add_column("line", justify="right", no_wrap=True)
    for r in rows:
        meta = r["meta"]
        table.add_row(
            escape(r["time"]),
            escape(meta.get("source_ip", "")),
            escape(meta.get("log_type", "")),
            escape(meta.get("service", "")),
            escape(_key_fields(meta)),
            str(r["line"]),
        )
    if rows:
        console.print(table)
    if shown > len(rows):
        console.print(
            f"… {shown - len(rows)} more parsed events (--max-rows 0 shows all, -o json for details)"
        )

    top = Table(title="Top sources (parsed events)", title_justify="left")
    top.add_column("source_ip")
    top.add_column("events", justify="right")
    for ip, n in sources_seen.most_common(5):
        top.add_row(escape(ip or "(none)"), str(n))
    if sources_seen:
        console.print(top)

    summ = Table(title="Summary", title_justify="left")
    for col in ("file", "type", "read", "parsed", "unparsed", "whitelisted", "too long"):
        summ.add_column(col, justify="left" if col in ("file", "type") else "right")
    for s in stats:
        summ.add_row(
            escape(Path(s.path).name),
            escape(s.type),
            str(s.read.lines + s.read.too_long),
            str(s.parsed),
            str(s.unparsed),
            str(s.whitelisted),
            str(s.read.too_long),
        )
    console.print(summ)
    rate = summary["lines_per_second"]
    console.print(
        f"{summary['lines_read']} lines read, {summary['parsed']} parsed, {summary['unparsed']} unparsed, "
        f"{summary['whitelisted']} whitelisted in {summary['seconds']:.2f} s"
        + (f" ({rate} lines/s)" if rate else "")
    )
    for s in stats:
        if s.read.error:
            context.err_console().print(f"[yellow]warning:[/] {escape(s.read.error)}")
        if s.errors:
            context.err_console().print(
                f"[yellow]warning:[/] {s.errors} lines of {escape(s.path)} failed in the parsers"
            )


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)
