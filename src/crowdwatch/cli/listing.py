"""Output of admin listings: a Rich table, JSON, or CSV (``-o human|json|raw``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import typer

from crowdwatch.cli.context import CliError

FORMATS = ("human", "json", "raw")


def check_format(output: str) -> None:
    if output not in FORMATS:
        raise CliError(f"unknown output format {output!r} (expected one of: {', '.join(FORMATS)})")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✔️" if value else "🚫"
    return str(value)


def emit(output: str, doc: Any, headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
    """Print ``doc`` as JSON, or ``rows`` as CSV (raw) or a Rich table (human)."""
    check_format(output)
    if output == "json":
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    if output == "raw":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([h.lower().replace(" ", "_") for h in headers])
        writer.writerows([["" if v is None else str(v) for v in row] for row in rows])
        typer.echo(buf.getvalue(), nl=False)
        return
    if not rows:
        typer.echo(empty)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    for h in headers:
        table.add_column(h)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    Console(width=200).print(table)


def emit_object(output: str, doc: dict[str, Any]) -> None:
    """One object (``inspect``): JSON, or ``key: value`` lines for humans and raw."""
    check_format(output)
    if output == "json":
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    for key, value in doc.items():
        typer.echo(f"{key}: {'' if value is None else value}")
