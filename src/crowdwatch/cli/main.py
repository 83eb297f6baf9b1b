"""Entry point of the `crowdwatch` command.

Each command group lives in its own module exposing ``register(app)``; this module only
wires global options (``--config-dir``) and error handling.
"""

from __future__ import annotations

import sys

import typer

from crowdwatch import __version__
from crowdwatch.cli import context

app = typer.Typer(
    name="crowdwatch",
    help="crowdwatch: detect attacks in logs, decide, enforce (CrowdSec-compatible).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crowdwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config_dir: str = typer.Option(
        None,
        "--config-dir",
        envvar="CROWDWATCH_CONFIG_DIR",
        help="Keep all configuration and state under this directory (created with defaults on first use).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    context.STATE.config_dir = config_dir


def _register_all(argv: list[str] | None = None) -> None:
    """Register the command groups (only the one ``argv`` invokes, when it names one)."""
    from crowdwatch.cli import commands

    commands.register(app, commands.command_name(argv) if argv is not None else None)


def main() -> None:
    _register_all(sys.argv[1:])
    try:
        app()
    except context.CliError as exc:
        context.err_console().print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
