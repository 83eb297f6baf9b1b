"""``crowdwatch hubtest``: replay hub functional tests and check their asserts (HUB.md §7)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from crowdwatch.cli.context import CliError
from crowdwatch.hub.hubtest.replay import Replay, default_now, dumps_document, parse_now, replay
from crowdwatch.hub.hubtest.runner import TestOutcome, run_tests
from crowdwatch.hub.index import HubError
from crowdwatch.hub.loadout import bundled_content_dir

_STATUS_STYLE = {"pass": "green", "fail": "red", "error": "red", "incomplete": "yellow"}

hubtest_app = typer.Typer(
    name="hubtest",
    help="Replay CrowdSec hub functional tests (.tests/<name>/) and check their asserts.",
    no_args_is_help=True,
)


def _dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise CliError(f"{what} {path} is not a directory")
    return path.resolve()


def _now(text: str | None) -> datetime:
    try:
        return parse_now(text) if text else default_now()
    except HubError as exc:
        raise CliError(f"{exc} (--now or $CROWDWATCH_HUBTEST_NOW)") from None


@hubtest_app.command("replay")
def replay_cmd(
    test: Annotated[Path, typer.Option("--test", help="The test directory (holds config.yaml).")],
    hub: Annotated[Path, typer.Option("--hub", help="Hub root (items + .index.json).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON document here (default: stdout).")
    ] = None,
    tests_root: Annotated[
        Path | None, typer.Option("--tests-root", help="Directory holding all tests (for ./.tests/… paths).")
    ] = None,
    patterns: Annotated[
        Path | None, typer.Option("--patterns", help="Grok patterns directory (default: <hub>/patterns).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Data files directory (default: <hub>/data).")
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now", help="Replay clock, RFC 3339 (default: $CROWDWATCH_HUBTEST_NOW or 2026-08-22T00:00:00Z)."
        ),
    ] = None,
) -> None:
    """Replay one test and write the crowdsec-hubtest-results/v1 JSON document."""
    spec = Replay(
        test_dir=_dir(test, "test directory"),
        hub_dir=_dir(hub, "hub"),
        tests_root=tests_root.resolve() if tests_root else None,
        patterns_dir=patterns.resolve() if patterns else None,
        data_dir=data.resolve() if data else None,
        now=_now(now),
    )
    try:
        doc = replay(spec)
    except HubError as exc:
        raise CliError(str(exc)) from None
    blob = dumps_document(doc)
    if out is None:
        sys.stdout.buffer.write(blob + b"\n")
        return
    try:
        out.write_bytes(blob)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None


@hubtest_app.command("run")
def run_cmd(
    tests: Annotated[list[Path], typer.Argument(help="Test directories.")],
    hub: Annotated[
        Path | None, typer.Option("--hub", help="Hub root (default: crowdwatch's bundled content).")
    ] = None,
    tests_root: Annotated[
        Path | None, typer.Option("--tests-root", help="Directory holding all tests (for ./.tests/… paths).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel test processes (0: one per CPU).")] = 0,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every failing assert line.")] = False,
    now: Annotated[
        str | None, typer.Option("--now", help="Replay clock, RFC 3339 (default: 2026-08-22T00:00:00Z).")
    ] = None,
) -> None:
    """Replay each test and evaluate its parser.assert lines with crowdwatch's expression engine."""
    if output not in ("human", "json"):
        raise CliError(f"unknown output format {output!r}: use human or json")
    hub_dir = _dir(hub, "hub") if hub else bundled_content_dir()
    test_dirs = [_dir(t, "test directory") for t in tests]
    for t in test_dirs:
        if not (t / "config.yaml").is_file():
            raise CliError(f"{t} is not a hub test: config.yaml is missing")
    outcomes = run_tests(
        test_dirs,
        hub_dir,
        tests_root=tests_root.resolve() if tests_root else None,
        now=_now(now),
        jobs=jobs,
    )
    if output == "json":
        sys.stdout.buffer.write(
            orjson.dumps([o.to_dict() for o in outcomes], option=orjson.OPT_INDENT_2) + b"\n"
        )
    else:
        _print_human(outcomes, verbose)
    if any(o.status in ("fail", "error") for o in outcomes):
        raise typer.Exit(1)


def _print_human(outcomes: list[TestOutcome], verbose: bool) -> None:
    console = Console()
    table = Table(title="hub tests")
    table.add_column("test")
    table.add_column("result")
    table.add_column("parser asserts", justify="right")
    table.add_column("scenario asserts", justify="right")
    for o in outcomes:
        verdict = f"[{_STATUS_STYLE[o.status]}]{o.status}[/]"
        p = o.parser
        parser_cell = "ignored" if not p.checked else f"{p.passed}/{p.total}"
        scen_cell = f"{o.scenario_lines} not evaluated" if o.scenario_lines else "-"
        table.add_row(o.name, verdict, parser_cell, scen_cell)
    console.print(table)
    for o in outcomes:
        if o.error:
            console.print(f"[red]{o.name}[/]: {o.error}", markup=True, highlight=False)
        if verbose:
            for f in o.parser.failures:
                console.print(
                    f"[red]{o.name}[/]:{f.line}: {f.status}: {f.text}  ({f.detail})", highlight=False
                )
    passed = sum(o.passed for o in outcomes)
    incomplete = sum(o.status == "incomplete" for o in outcomes)
    lines = sum(o.parser.total for o in outcomes if o.parser.checked)
    lines_ok = sum(o.parser.passed for o in outcomes if o.parser.checked)
    scen = sum(o.scenario_lines for o in outcomes)
    console.print(
        f"{passed}/{len(outcomes)} tests passed ({incomplete} incomplete); parser asserts {lines_ok}/{lines} lines passed"
        + (
            f"; {scen} scenario assert lines not evaluated (scenarios come with the next engine issue)"
            if scen
            else ""
        )
    )


def register(app: typer.Typer) -> None:
    app.add_typer(hubtest_app, name="hubtest")
