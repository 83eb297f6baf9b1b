"""``crowdwatch explain``: show how each log line goes through the parser stages and scenarios.

The engine and Rich are imported inside the command (start-up time of the other commands).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crowdwatch.cli.context import CliError

if TYPE_CHECKING:
    from crowdwatch.engine import DetectionEngine
    from crowdwatch.hub.explain import LineExplanation

_VERDICT_STYLE = {"parsed": "green", "unparsed": "red", "whitelisted": "yellow", "error": "red"}
_TYPE_RE = re.compile(r"""(?:Labels\.type|Parsed\.program)\s*==\s*['"]([^'"]+)['"]""")


def explain_cmd(
    log_type: Annotated[
        str, typer.Option("--type", "-t", help="Log type (acquisition label `type`, e.g. nginx, syslog).")
    ],
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Log file to explain (one event per line).")
    ] = None,
    log: Annotated[str | None, typer.Option("--log", "-l", help="A single log line to explain.")] = None,
    hub: Annotated[
        Path | None,
        typer.Option("--hub", help="Hub/content directory (default: crowdwatch's bundled content)."),
    ] = None,
    parsers: Annotated[
        str | None, typer.Option("--parsers", help="Comma-separated parser names or paths (default: all).")
    ] = None,
    scenarios: Annotated[
        str | None,
        typer.Option(
            "--scenarios",
            help="Comma-separated scenario names or paths (default: all, unless --parsers or --collections is given).",
        ),
    ] = None,
    postoverflows: Annotated[
        str | None,
        typer.Option(
            "--postoverflows",
            help="Comma-separated postoverflow names or paths (default: all, unless --parsers or --collections is given).",
        ),
    ] = None,
    collections: Annotated[
        str | None,
        typer.Option(
            "--collections", help="Comma-separated collections (add their parsers, scenarios, ...)."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the fields each node set or changed.")
    ] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
) -> None:
    """Explain, line by line, which parser nodes ran, which succeeded, the verdict, the scenarios
    the event was poured into and the overflows it caused."""
    import orjson

    from crowdwatch.hub.explain import explain_lines
    from crowdwatch.hub.loadout import bundled_content_dir

    if (file is None) == (log is None):
        raise CliError("give exactly one of --file LOG or --log 'one line'")
    if output not in ("human", "json"):
        raise CliError(f"unknown output format {output!r}: use human or json")
    if file is not None and not file.is_file():
        raise CliError(f"log file {file} does not exist")
    hub_dir = hub if hub is not None else bundled_content_dir()
    names = _names(parsers)
    engine = _open_engine(hub_dir, names, _names(scenarios), _names(postoverflows), _names(collections))
    lines = list(_lines(file, log))
    results = explain_lines(engine, lines, {"type": log_type}, src=str(file) if file else "explain")
    if output == "json":
        blob = orjson.dumps(
            [r.to_dict(verbose) for r in results],
            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
            default=str,
        )
        sys.stdout.buffer.write(blob + b"\n")
    else:
        _print_human(results, verbose)
    if results and all(r.verdict == "unparsed" for r in results):
        _no_parser_hint(hub_dir, names, log_type)


def _names(csv: str | None) -> list[str] | None:
    return [p.strip() for p in csv.split(",") if p.strip()] if csv is not None else None


def _open_engine(
    hub_dir: Path,
    parsers: list[str] | None,
    scenarios: list[str] | None,
    postoverflows: list[str] | None,
    collections: list[str] | None,
) -> DetectionEngine:
    """All parsers unless named; all scenarios/postoverflows unless parsers or collections are named."""
    from crowdwatch.hub.index import Hub, HubError
    from crowdwatch.hub.loadout import open_engine
    from crowdwatch.parser import ParserLoadError
    from crowdwatch.scenarios import ScenarioLoadError
    from crowdwatch.yamlutil import YamlError

    try:
        if parsers is None and collections is None:
            hub = Hub(hub_dir)
            parsers = [i.name for i in hub.all_items("parsers")]
            if scenarios is None:
                scenarios = [i.name for i in hub.all_items("scenarios")]
            if postoverflows is None:
                postoverflows = [i.name for i in hub.all_items("postoverflows")]
        return open_engine(hub_dir, parsers, scenarios or [], postoverflows or [], collections)
    except HubError as exc:
        raise CliError(f"{exc} (hint: check --hub and the item names)") from None
    except (ParserLoadError, ScenarioLoadError, YamlError) as exc:
        raise CliError(f"{exc} (hint: fix or leave out this item with --parsers/--scenarios)") from None


def _lines(file: Path | None, log: str | None) -> Iterator[tuple[int, str]]:
    from crowdwatch.acquisition.file import AcquisitionError, read_lines

    if log is not None:
        yield 1, log
        return
    assert file is not None
    try:
        for line in read_lines(file):
            if not line.too_long:
                yield line.lineno, line.text
    except AcquisitionError as exc:
        raise CliError(str(exc)) from None


def _no_parser_hint(hub_dir: Path, names: list[str] | None, log_type: str) -> None:
    """When nothing parsed, say which types/programs the loaded parsers look for."""
    from rich.console import Console
    from rich.markup import escape

    from crowdwatch.hub.index import Hub, HubError

    try:
        hub = Hub(hub_dir)
        items = hub.all_parsers() if names is None else [hub.resolve("parsers", n) for n in names]
        known = sorted({m for i in items for m in _TYPE_RE.findall(i.path.read_text(errors="replace"))})
    except (HubError, OSError):
        known = []
    msg = f"no line was parsed: no parser accepted type '{log_type}'"
    if known:
        msg += f"; the loaded parsers match types/programs: {', '.join(known[:40])}"
    Console(stderr=True).print(f"[yellow]warning:[/] {escape(msg)}", highlight=False)


def _fmt(value: Any) -> str:
    return "∅" if value is None else repr(value) if not isinstance(value, str) else f'"{value}"'


def _print_human(results: list[LineExplanation], verbose: bool) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    for r in results:
        style = _VERDICT_STYLE[r.verdict]
        console.print(f"[bold]line {r.lineno}:[/] {escape(r.raw)}")
        group: tuple[int, str] | None = None
        for step in r.steps:
            if (step.overflow, step.stage) != group:
                group = (step.overflow, step.stage)
                of = f" [dim](postoverflow, {escape(step.scenario)})[/]" if step.overflow else ""
                console.print(f"  ├ {escape(step.stage)}{of}")
            mark = "[green]✓[/]" if step.success else "[red]✗[/]"
            console.print(f"  │  {mark} {escape(step.name)}")
            if verbose:
                for fname, keys in step.changes.items():
                    for key, (before, after) in keys.items():
                        label = f"{fname}.{key}" if key else fname
                        change = _fmt(after) if before is None else f"{_fmt(before)} → {_fmt(after)}"
                        console.print(f"  │      [cyan]{escape(label)}[/] = {escape(change)}")
        if r.pours or r.overflows:
            console.print("  ├ scenarios")
        for p in r.pours:
            console.print(f"  │  → {escape(p.scenario)}  [dim]bucket {escape(p.bucket_key[:16])}[/]")
        for o in r.overflows:
            what = "whitelisted overflow" if o.whitelisted else "overflow"
            via = f" (reprocessed ×{o.reprocess_depth})" if o.reprocess_depth else ""
            srcs = ", ".join(o.sources) or "no source"
            console.print(
                f"  │  [bold magenta]⚡ {what}[/] {escape(o.scenario)}{via}: {escape(srcs)}, {o.events_count} events"
            )
        verdict = r.verdict + (f" ({r.whitelist_reason})" if r.whitelist_reason else "")
        if r.error:
            verdict += f": {r.error}"
        console.print(f"  └ [{style}]{escape(verdict)}[/]")


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_cmd)
