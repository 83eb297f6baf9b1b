"""``crowdwatch metrics``: a running instance's Prometheus metrics as tables (like ``cscli metrics``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crowdwatch.cli import context
from crowdwatch.cli.context import CliError

if TYPE_CHECKING:
    from rich.console import Console

    from crowdwatch.metrics.scrape import Snapshot

FORMATS = ("human", "json")
DEFAULT_URL = "http://127.0.0.1:6060/metrics"


def default_url() -> str:
    """``prometheus.listen_addr:listen_port`` of the configuration (a wildcard address is
    reached on loopback), else :data:`DEFAULT_URL`."""
    from crowdwatch.config import ConfigError, load_config

    try:
        p = load_config(context.STATE.config_dir, create=False).prometheus
    except ConfigError:
        return DEFAULT_URL
    host = p.listen_addr
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{p.listen_port}/metrics"


def metrics_cmd(
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help=f"Metrics endpoint (default: from prometheus.* in the config, {DEFAULT_URL})."
        ),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
) -> None:
    """Show the metrics of a running agent/LAPI: acquisition, parsers, scenarios, alerts,
    decisions, LAPI routes and bouncers."""
    if output not in FORMATS:
        raise CliError(f"unknown output format {output!r} (expected one of: {', '.join(FORMATS)})")
    from crowdwatch.metrics.scrape import ScrapeError, scrape

    try:
        snap = scrape(url or default_url())
    except ScrapeError as exc:
        raise CliError(str(exc)) from None
    if output == "json":
        typer.echo(json.dumps(snap.to_dict(), indent=2))
        return
    from rich.console import Console

    render(snap, Console(width=160))


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _ago(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 120:
        return f"{v:.0f}s ago"
    if v < 7200:
        return f"{v / 60:.0f}m ago"
    return f"{v / 3600:.1f}h ago"


def _table(console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bool:
    if not rows:
        return False
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    console.print(table)
    return True


def render(snap: Snapshot, console: Console) -> None:
    """Print the non-empty tables of ``snap``."""
    shown = [
        _table(
            console,
            "Acquisition Metrics",
            ["Source", "Type", "Lines read", "Lines parsed", "Lines unparsed", "Lines poured", "Errors"],
            [
                [r["source"], r["type"], r["read"], r["parsed"], r["unparsed"], r["poured"], r["errors"]]
                for r in snap.acquisition
            ],
        ),
        _table(
            console,
            "Parser Metrics",
            ["Parser", "Stage", "Hits", "Parsed", "Unparsed"],
            [
                [
                    r["name"] if r["pipeline"] == "parsers" else f"{r['name']} (postoverflow)",
                    r["stage"],
                    r.get("hits", 0),
                    r.get("parsed", 0),
                    r.get("unparsed", 0),
                ]
                for r in snap.parsers
            ],
        ),
        _table(
            console,
            "Scenario Metrics",
            ["Scenario", "Current Count", "Overflows", "Instantiated", "Poured", "Expired", "Cancelled"],
            [
                [
                    r["name"],
                    r["current"],
                    r["overflowed"],
                    r["instantiated"],
                    r["poured"],
                    r["expired"],
                    r["cancelled"],
                ]
                for r in snap.scenarios
            ],
        ),
        _table(
            console,
            "Alert Metrics",
            ["Alerts", "Count"],
            [[k.replace("_", " "), v] for k, v in snap.alerts.items()],
        ),
        _table(
            console,
            "Local API Decisions",
            ["Reason", "Origin", "Action", "Count"],
            [[r["reason"], r["origin"], r["action"], r["count"]] for r in snap.decisions],
        ),
        _table(
            console,
            "Local API Metrics",
            ["Route", "Method", "Hits", "Errors", "Avg ms", "p50 ms", "p95 ms"],
            [
                [
                    r["route"],
                    r["method"],
                    r["requests"],
                    r["errors"],
                    _ms(r["avg_ms"]),
                    _ms(r["p50_ms"]),
                    _ms(r["p95_ms"]),
                ]
                for r in snap.routes
            ],
        ),
        _table(
            console,
            "Local API Bouncers Metrics",
            ["Bouncer", "Route", "Method", "Hits", "Last pull"],
            [
                [r["bouncer"], r["route"], r["method"], r["requests"], _ago(r["last_pull_seconds_ago"])]
                for r in snap.bouncers
            ],
        ),
    ]
    p = snap.process
    if p:
        parts = []
        if "resident_memory_bytes" in p:
            parts.append(f"memory {p['resident_memory_bytes'] / 2**20:.1f} MiB")
        if "cpu_seconds" in p:
            parts.append(f"CPU {p['cpu_seconds']:.1f}s")
        if "open_fds" in p:
            parts.append(f"{int(p['open_fds'])} open files")
        console.print("Process: " + ", ".join(parts))
    elif not any(shown):
        console.print("No metrics yet.")


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_cmd)
