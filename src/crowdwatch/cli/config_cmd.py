"""``crowdwatch config``: show the effective configuration, validate a configuration file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.config import ConfigError, find_locations, load_config, parse_config_file

config_app = typer.Typer(help="Show or check the configuration (config.yaml).", no_args_is_help=True)


@config_app.command("show")
def show_cmd(
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
) -> None:
    """Print the effective configuration (defaults filled in) and every resolved path."""
    if output not in ("human", "json"):
        raise CliError(f"unknown output format {output!r}: use human or json")
    try:
        cfg = load_config(context.STATE.config_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    doc = cfg.to_dict()
    if output == "json":
        sys.stdout.buffer.write(
            orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
        )
        return
    console = Console(highlight=False)
    console.print(f"configuration file: {escape(str(cfg.paths.config_file))}")
    for section, values in doc.items():
        table = Table(title=section, title_justify="left", show_header=False)
        table.add_column("key", style="cyan")
        table.add_column("value", overflow="fold")
        for key, value in _flatten(values):
            table.add_row(escape(key), escape("" if value is None else str(value)))
        console.print(table)


@config_app.command("validate")
def validate_cmd(
    file: Annotated[
        Path | None,
        typer.Argument(help="Configuration file to check (default: config.yaml of the config directory)."),
    ] = None,
) -> None:
    """Check a configuration file; print the first problem as file:line:col and exit 2."""
    path = file if file is not None else find_locations(context.STATE.config_dir).config_dir / "config.yaml"
    if not path.is_file():
        raise CliError(f"{path}: no such configuration file")
    try:
        parse_config_file(path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    Console(highlight=False).print(f"{escape(str(path))}: OK")


def _flatten(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(values, dict):
        return [(prefix, values)]
    out: list[tuple[str, Any]] = []
    for k, v in values.items():
        out.extend(_flatten(v, f"{prefix}.{k}" if prefix else k))
    return out


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
