"""``crowdwatch hubtest``: replay hub functional tests and check their asserts (HUB.md §7).

The engine and Rich are imported inside the commands: ``hubtest replay`` runs once per test
under the hub test runner, so its start-up time counts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crowdwatch.cli.context import CliError

if TYPE_CHECKING:
    from datetime import datetime

    from crowdwatch.hub.hubtest.runner import SectionResult, TestOutcome

_STATUS_STYLE = {"pass": "green", "fail": "red", "error": "red"}

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
    from crowdwatch.hub.hubtest.replay import default_now, parse_now
    from crowdwatch.hub.index import HubError

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
    from crowdwatch.hub.hubtest.replay import Replay, dumps_document, replay
    from crowdwatch.hub.index import HubError

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
    """Replay each test and evaluate its parser.assert and scenario.assert lines."""
    import orjson

    from crowdwatch.hub.hubtest.runner import run_tests
    from crowdwatch.hub.loadout import bundled_content_dir

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


def _cell(section: SectionResult) -> str:
    return f"{section.passed}/{section.total}" if section.checked else "-"


def _print_human(outcomes: list[TestOutcome], verbose: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="hub tests")
    table.add_column("test")
    table.add_column("result")
    table.add_column("parser asserts", justify="right")
    table.add_column("scenario asserts", justify="right")
    for o in outcomes:
        verdict = f"[{_STATUS_STYLE[o.status]}]{o.status}[/]"
        table.add_row(escape(o.name), verdict, _cell(o.parser), _cell(o.scenario))
    console.print(table)
    for o in outcomes:
        if o.error:
            console.print(f"[red]{escape(o.name)}[/]: {escape(o.error)}")
        if verbose:
            for kind, section in (("parser", o.parser), ("scenario", o.scenario)):
                for f in section.failures:
                    console.print(
                        f"[red]{escape(o.name)}[/] {kind}.assert:{f.line}: {f.status}: "
                        f"{escape(f.text)}  ({escape(f.detail)})"
                    )
    passed = sum(o.passed for o in outcomes)
    parts = [f"{passed}/{len(outcomes)} tests passed"]
    for kind in ("parser", "scenario"):
        sections = [getattr(o, kind) for o in outcomes if getattr(o, kind).checked]
        total = sum(s.total for s in sections)
        ok = sum(s.passed for s in sections)
        parts.append(f"{kind} asserts {ok}/{total} lines passed")
    console.print("; ".join(parts))


def register(app: typer.Typer) -> None:
    app.add_typer(hubtest_app, name="hubtest")
